"""The footer: the keys in force, the ones that matter most first, and only whole keys.

Textual's footer lists the bindings in focus order and lets the row run off the right
edge, cut mid-word; at 80 columns that hid ``^q Quit`` and the box list. This one
orders the keys by :data:`FOOTER_FIRST` (the keys every screen needs: where the other
boxes are, every key, how to leave) and then as the focus chain has them (what the
focused widget does, then the screen), Escape last, and leaves out whole keys that do
not fit rather than cutting one. Every key left out is still in the command palette
(``ctrl+p``, always shown on the right) and the help screen (``f1``).

The choice follows posting and harlequin, which keep a few fixed keys in the footer
and put the rest in the palette, and nano and htop, where help and quit never move.
"""

from __future__ import annotations

from rich.cells import cell_len
from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Footer
from textual.widgets._footer import FooterKey

__all__ = ["BoxFooter", "FOOTER_FIRST"]

#: Binding ids shown first, in this order, wherever they are in force: the box list
#: (the drawer on a narrow terminal), every key, and quit.
FOOTER_FIRST = ("main.filter", "app.help", "app.quit", "login.quit")
#: Below this width the keys go closer together (Textual's compact footer).
COMPACT_WIDTH = 60


class BoxFooter(Footer):
    """A footer that puts :data:`FOOTER_FIRST` first and never cuts a key in half."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self._composed_width = 0
        #: What the keys now shown were composed from (see :meth:`recompose`).
        self._composed: tuple | None = None

    def shown_bindings(self) -> list[tuple[Binding, bool, str]]:
        """The bindings the footer shows at its width: ``(binding, enabled, tooltip)``."""
        active = self.screen.active_bindings
        seen: set[str] = set()
        rows: list[tuple[int, int, Binding, bool, str]] = []
        for position, (_, binding, enabled, tooltip) in enumerate(active.values()):
            if not binding.show or binding.action in seen:
                continue
            seen.add(binding.action)
            if binding.id in FOOTER_FIRST:
                rank = FOOTER_FIRST.index(binding.id)
            else:  # then what can be done here; the way out (Escape) last
                rank = len(FOOTER_FIRST) + (binding.key == "escape")
            rows.append((rank, position, binding, enabled, tooltip))
        rows.sort(key=lambda row: row[:2])
        room = self._room()
        shown: list[tuple[Binding, bool, str]] = []
        for _, _, binding, enabled, tooltip in rows:
            width = self._key_width(binding)
            if width > room:
                continue  # a shorter key further on may still fit
            room -= width
            shown.append((binding, enabled, tooltip))
        return shown

    def _key_width(self, binding: Binding) -> int:
        # A footer key draws " key " then "description " (FooterKey's paddings); a
        # compact one "key description" and a one-cell margin.
        return cell_len(self.app.get_key_display(binding)) + cell_len(binding.description) + (2 if self.compact else 3)

    def _width(self) -> int:
        return self.size.width or self.app.size.width

    def _room(self) -> int:
        width = self._width()
        palette = self._palette_binding()
        if palette is not None:
            width -= self._key_width(palette) + 2  # its left border and right padding
        return width

    def _palette_binding(self) -> Binding | None:
        if not (self.show_command_palette and self.app.ENABLE_COMMAND_PALETTE):
            return None
        active = self.screen.active_bindings.get(self.app.COMMAND_PALETTE_BINDING)
        return active.binding if active is not None else None

    def _signature(self) -> tuple:
        """Everything the composed keys depend on."""
        palette = self._palette_binding()
        active = self.screen.active_bindings.get(self.app.COMMAND_PALETTE_BINDING) if palette else None
        return (
            self._width(),
            tuple((b.key, self.app.get_key_display(b), b.description, b.action, on, tip) for b, on, tip in self.shown_bindings()),
            None if palette is None else (palette.key, palette.description, active is not None and active.enabled),
        )

    async def recompose(self) -> None:
        """Compose again only when the keys to show changed. Textual's footer composes
        anew at every change of focus or bindings (16 times between unlock and the box
        list), and each time restyles every key."""
        if self._bindings_ready and self.is_attached and self._composed == self._signature():
            return
        await super().recompose()

    def compose(self) -> ComposeResult:
        if not self._bindings_ready:
            return
        self._composed = self._signature()
        self._composed_width = self.size.width
        self.compact = self._width() < COMPACT_WIDTH
        for binding, enabled, tooltip in self.shown_bindings():
            yield FooterKey(
                binding.key,
                self.app.get_key_display(binding),
                binding.description,
                binding.action,
                disabled=not enabled,
                tooltip=tooltip,
            ).data_bind(compact=Footer.compact)
        palette = self._palette_binding()
        if palette is not None:
            active = self.screen.active_bindings[self.app.COMMAND_PALETTE_BINDING]
            yield FooterKey(
                palette.key,
                self.app.get_key_display(palette),
                palette.description,
                palette.action,
                classes="-command-palette",
                disabled=not active.enabled,
                tooltip=palette.tooltip or palette.description,
            )

    def on_resize(self, event: events.Resize) -> None:
        if self._bindings_ready and event.size.width != self._composed_width:
            self.call_after_refresh(self.recompose)
