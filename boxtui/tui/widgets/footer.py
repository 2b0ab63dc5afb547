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

It is one widget that draws its line itself, looking as Textual's footer does (a key
is clicked or hovered the same way, and shows its tooltip). Textual's footer is a
container of one widget per key, composed again at every change of focus or bindings:
mounting and styling ~20 keys cost ~20 ms of the first box opened, and ~30 ms of the
login screen's first frame. Here a change of keys is one repaint of one line.
"""

from __future__ import annotations

from typing import NamedTuple

from rich.cells import cell_len
from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding
from textual.screen import Screen
from textual.widget import Widget

__all__ = ["BoxFooter", "FOOTER_FIRST"]

#: Binding ids shown first, in this order, wherever they are in force: the box list
#: (the drawer on a narrow terminal), every key, and quit.
FOOTER_FIRST = ("main.filter", "app.help", "app.quit", "login.quit")
#: Below this width the keys go closer together (Textual's compact footer).
COMPACT_WIDTH = 60


class FooterKeyView(NamedTuple):
    """A key as the footer draws it, at columns ``start`` to ``end``."""

    binding: Binding
    key_display: str
    enabled: bool
    tooltip: str
    start: int
    end: int
    #: The command palette's key, drawn at the right edge.
    palette: bool = False

    @property
    def key(self) -> str:
        return self.binding.key

    @property
    def description(self) -> str:
        return self.binding.description


class BoxFooter(Widget, can_focus=False):
    """A footer that puts :data:`FOOTER_FIRST` first and never cuts a key in half."""

    ALLOW_SELECT = False
    COMPONENT_CLASSES = {
        "footer-key--key",
        "footer-key--description",
        "footer-key--hover",
        "footer--palette-border",
    }
    # The looks of Textual's Footer and FooterKey (textual/widgets/_footer.py).
    DEFAULT_CSS = """
    BoxFooter {
        color: $footer-foreground;
        background: $footer-background;
        dock: bottom;
        height: 1;
        text-wrap: nowrap;
        .footer-key--key {
            color: $footer-key-foreground;
            background: $footer-key-background;
            text-style: bold;
        }
        .footer-key--description {
            color: $footer-description-foreground;
            background: $footer-description-background;
        }
        .footer-key--hover {
            color: $footer-key-foreground;
            background: $block-hover-background;
        }
        .footer--palette-border {
            color: $foreground 20%;
        }
    }
    """

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        #: The keys drawn, and what they were drawn from (see :meth:`keys`).
        self._keys: list[FooterKeyView] = []
        self._keys_for: tuple | None = None
        #: Bumped at every change of the screen's bindings.
        self._generation = 0
        #: A look at the changed bindings is due (see :meth:`_bindings_changed`).
        self._checking = False
        self._hover: int | None = None
        #: The line drawn, and what it was drawn from (see :meth:`render`).
        self._line: tuple[tuple, Text] | None = None

    # --- what to show ---------------------------------------------------------------

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

    @property
    def compact(self) -> bool:
        """Keys closer together, below :data:`COMPACT_WIDTH` columns."""
        return self._width() < COMPACT_WIDTH

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
            width -= self._key_width(palette[0]) + 2  # its left border and right padding
        return width

    def _palette_binding(self) -> tuple[Binding, bool] | None:
        if not self.app.ENABLE_COMMAND_PALETTE:
            return None
        active = self.screen.active_bindings.get(self.app.COMMAND_PALETTE_BINDING)
        return (active.binding, active.enabled) if active is not None else None

    def keys(self) -> list[FooterKeyView]:
        """The keys drawn now, left to right, the palette's last (at the right edge)."""
        state = (self._generation, self._width(), self.app._keymap)
        if state != self._keys_for:
            self._keys_for = state
            self._keys = self._lay_out()
        return self._keys

    def _lay_out(self) -> list[FooterKeyView]:
        views: list[FooterKeyView] = []
        x = 0
        for binding, enabled, tooltip in self.shown_bindings():
            width = self._key_width(binding)
            views.append(FooterKeyView(binding, self.app.get_key_display(binding), enabled, tooltip, x, x + width))
            x += width
        palette = self._palette_binding()
        if palette is not None:
            binding, enabled = palette
            display = self.app.get_key_display(binding)
            # Textual's palette key: "▏key description", then one cell of padding (or margin).
            width = 1 + cell_len(display) + (1 + cell_len(binding.description) if binding.description else 0) + 1
            end = self._width()
            views.append(FooterKeyView(binding, display, enabled, binding.tooltip or binding.description, end - width, end, True))
        return views

    def text(self) -> str:
        """The keys as plain text: ``"f1 Help  ^q Quit  ^p palette"``."""
        return "  ".join(f"{key.key_display} {key.description}".strip() for key in self.keys())

    # --- bindings -------------------------------------------------------------------

    def on_mount(self) -> None:
        self.screen.bindings_updated_signal.subscribe(self, self._bindings_changed)

    def on_unmount(self) -> None:
        self.screen.bindings_updated_signal.unsubscribe(self)

    def _bindings_changed(self, screen: Screen) -> None:
        """The screen's bindings changed (at every move of the focus, among others): look
        again once this burst of changes is over, and repaint only if the keys differ."""
        self._generation += 1
        if screen is not self.screen or not self.is_attached or self._checking:
            return
        self._checking = True
        # After the frame under way, as Textual's footer does; and through the screen:
        # a message to the footer itself would repaint it (Textual repaints a widget
        # that goes idle with a repaint pending), a frame more.
        screen.call_after_refresh(self._check_keys)

    def _check_keys(self) -> None:
        self._checking = False
        if not self.is_attached:  # (its dialog closed meanwhile)
            return
        if self._line is None or tuple(self.keys()) != self._line[0][0]:
            self.refresh()

    # --- drawing --------------------------------------------------------------------

    def render(self) -> Text:
        """The line of keys, built again only when the keys, the width, the hovered key
        or the styles changed (the bindings change at every move of the focus)."""
        state = (tuple(self.keys()), self._hover, self._width())
        if self._line is None or self._line[0] != state:
            self._line = (state, self._keys_text())
        return self._line[1]

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._line = None

    def _keys_text(self) -> Text:
        keys = self.keys()
        width = self._width()
        base = self.rich_style
        key_style = self.get_component_rich_style("footer-key--key")
        description_style = self.get_component_rich_style("footer-key--description")
        hover_style = self.get_component_rich_style("footer-key--hover", partial=True)
        line = Text(no_wrap=True, end="")
        x = 0
        for index, view in enumerate(keys):
            if view.start > x:
                line.append(" " * (view.start - x), base)
            extra = Style(dim=True) if not view.enabled else Style()
            if index == self._hover:
                extra += hover_style
            if view.palette:  # always drawn compact, after a thin border
                line.append("▏", base + self.get_component_rich_style("footer--palette-border") + extra)
                self._append_key(line, view, key_style + extra, description_style + extra, compact=True)
                line.append(" ", base)
            else:
                self._append_key(line, view, key_style + extra, description_style + extra, compact=self.compact)
                if self.compact:
                    line.append(" ", base)
            x = view.end
        if x < width:
            line.append(" " * (width - x), base)
        return line

    @staticmethod
    def _append_key(line: Text, view: FooterKeyView, key_style: Style, description_style: Style, *, compact: bool) -> None:
        if not view.description:
            line.append(view.key_display, key_style)
        elif compact:
            line.append(view.key_display, key_style)
            line.append(" " + view.description, description_style)
        else:
            line.append(f" {view.key_display} ", key_style)
            line.append(f"{view.description} ", description_style)

    # --- mouse ----------------------------------------------------------------------

    def _key_at(self, x: int) -> int | None:
        for index, view in enumerate(self._keys):
            if view.start <= x < view.end:
                return index
        return None

    def on_mouse_move(self, event: events.MouseMove) -> None:
        self._set_hover(self._key_at(event.x))

    def on_leave(self, event: events.Leave) -> None:
        self._set_hover(None)

    def _set_hover(self, index: int | None) -> None:
        if index == self._hover:
            return
        self._hover = index
        self.tooltip = self._keys[index].tooltip or None if index is not None else None
        self.refresh()

    def on_mouse_down(self, event: events.MouseDown) -> None:
        index = self._key_at(event.x)
        if index is None:
            return
        view = self._keys[index]
        if view.enabled:
            self.app.simulate_key(view.key)
        else:
            self.app.bell()
