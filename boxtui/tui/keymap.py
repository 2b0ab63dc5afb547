"""Binding ids, user overrides from ``config.toml`` and the table the help screen shows.

Every binding of the app carries an ``id`` so a user can remap it in the ``[keymap]``
section of the profile's config (``"composer.send" = "ctrl+s"``); the app hands the
overrides to :meth:`textual.app.App.set_keymap`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from textual.binding import Binding, BindingType
from textual.dom import DOMNode


@dataclass(frozen=True)
class BindingRow:
    """One line of the help screen: where a binding lives, its id, keys and verb."""

    section: str
    binding_id: str
    keys: str
    description: str


def bindings_of(owner: type[DOMNode]) -> list[Binding]:
    """The bindings a widget, screen or app class declares (including inherited ones)."""
    found: list[Binding] = []
    seen: set[str] = set()
    for base in owner.__mro__:
        for item in base.__dict__.get("BINDINGS", []):
            binding = _as_binding(item)
            key = f"{binding.key}:{binding.action}"  # a subclass's binding hides its base's
            if key not in seen:
                seen.add(key)
                found.append(binding)
    return found


def _as_binding(item: BindingType) -> Binding:
    if isinstance(item, Binding):
        return item
    key, action, *rest = item
    return Binding(key, action, rest[0] if rest else "")


def find_binding(owners: Iterable[type[DOMNode]], binding_id: str, keymap: Mapping[str, str]) -> Binding | None:
    """The binding with ``binding_id`` among ``owners``, with the user's override applied."""
    for owner in owners:
        for binding in bindings_of(owner):
            if binding.id == binding_id:
                return binding.with_key(keymap[binding_id]) if binding_id in keymap else binding
    return None


def known_binding_ids(owners: Iterable[type[DOMNode]]) -> set[str]:
    return {b.id for owner in owners for b in bindings_of(owner) if b.id}


def clean_overrides(overrides: Mapping[str, str], known: set[str]) -> tuple[dict[str, str], list[str]]:
    """Split user overrides into usable ones and ids that no binding carries."""
    usable = {k: v.strip() for k, v in overrides.items() if k in known and v.strip()}
    unknown = sorted(k for k in overrides if k not in known)
    return usable, unknown


def binding_rows(
    sections: Iterable[tuple[str, type[DOMNode]]],
    keymap: Mapping[str, str],
    key_display: Callable[[Binding], str],
) -> list[BindingRow]:
    """Rows for every binding of ``sections``, with the user's overrides applied.

    ``key_display`` is :meth:`textual.app.App.get_key_display`, so keys read as in the footer.
    """
    rows: list[BindingRow] = []
    for section, owner in sections:
        for binding in bindings_of(owner):
            if not binding.description and not binding.id:
                continue
            if binding.id and binding.id in keymap:
                binding = binding.with_key(keymap[binding.id], key_display=None)
            shown = ", ".join(key_display(binding.with_key(key.strip())) for key in binding.key.split(","))
            rows.append(BindingRow(section, binding.id or "", shown, binding.description or binding.action))
    return rows
