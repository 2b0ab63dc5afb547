"""The boxtui terminal app: ``BoxApp``, the ``make_app`` factory, and ``run_tui``.

``BoxApp`` takes its dependencies (a :class:`~boxtui.messenger.messenger.Messenger`
or the profile and server URL to build one); :func:`make_app` wires the real ones,
starting a local server when none is configured; :func:`run_tui` is what the bare
``boxtui`` command runs.
"""

from __future__ import annotations

import asyncio
import gc
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textual import constants, events, work
from textual.actions import SkipAction
from textual.app import App
from textual.binding import Binding
from textual.driver import Driver
from textual.widgets import Input

from boxtui.messenger.errors import LocalServerError
from boxtui.messenger.instance import AppLock
from boxtui.messenger.profile import Profile, ProfileError

from .commands import BoxCommands
from .keymap import binding_rows, clean_overrides, known_binding_ids
from .messages import SessionEnded, SessionStarted
from .safe_text import clean_paste, clean_text
from .screens.feedback import notify_error
from .screens.login import LoginScreen, UnlockScreen

if TYPE_CHECKING:
    from boxtui.messenger.messenger import Messenger

# The first frame (login or unlock screen) needs only Textual and the profile: the
# messenger, the HTTP client, pydantic, the crypto and the store are imported in a
# thread once it is painted (see ``BoxApp.ready_messenger``), while the password is typed.


def _import_session_modules() -> None:
    """What a session needs beyond the first frame: the main screen, the messenger
    (HTTP client, wire models, crypto, local store) and the login steps.

    Then, once per process, the ~110k objects made so far (modules, classes, pydantic
    schemas: they live as long as the app) are moved out of the garbage collector's
    sight with ``gc.freeze()``: between unlock and the painted box list the collector
    ran ~100 times, walking all of them, ~0.1-0.2 s in all; frozen, ~15 ms."""
    global _frozen
    import boxtui.messenger.code_delivery  # noqa: F401
    import boxtui.messenger.messenger  # noqa: F401
    import boxtui.tui.screens.main  # noqa: F401

    if not _frozen:
        _frozen = True
        gc.collect()
        gc.freeze()


_frozen = False

#: Said when another app holds the profile's lock (see ``boxtui.messenger.instance``).
SECOND_INSTANCE = (
    "boxtui is already open on this profile{holder}. Both work: each message goes out once, "
    "whichever app sends it, and each shows what the other sent."
)


__all__ = ["BoxApp", "make_app", "run_tui"]


class BoxApp(App[int]):
    """End-to-end encrypted boxes in the terminal."""

    TITLE = "boxtui"
    CSS_PATH = "app.tcss"
    COMMANDS = App.COMMANDS | {BoxCommands}
    BINDINGS = [
        Binding("ctrl+q", "quit", "Quit", priority=True, id="app.quit"),
        Binding("f1", "help", "Help", id="app.help"),
        # Tab moves the focus before the keys typed after it are delivered (see move_focus).
        Binding("tab", "move_focus(True)", show=False, priority=True),
        Binding("shift+tab", "move_focus(False)", show=False, priority=True),
    ]

    def __init__(
        self,
        messenger: Messenger | None = None,
        *,
        profile: Profile | None = None,
        server_url: str | None = None,
        server_note: str = "",
    ) -> None:
        super().__init__()
        #: Close the client at exit only when this app made it.
        self._owns_client = messenger is None
        if messenger is None and (profile is None or not server_url):
            raise ValueError("BoxApp needs a messenger, or a profile and a server URL to build one")
        self._messenger = messenger
        self.profile = profile or messenger.profile
        self.server_url = server_url or messenger.client.base_url
        #: What finding the local server involved (started it, moved it), said once at start.
        self.server_note = server_note
        #: The import of the session's modules, in a thread, started after the first frame.
        self._warming: asyncio.Future[None] | None = None
        self._app_lock: AppLock | None = None
        #: The garbage collector is paused from mount to the first frame (see on_mount).
        self._gc_paused = False

    @property
    def messenger(self) -> Messenger:
        """The session's messenger. Given only a profile and a URL, the app builds it on
        first use; workers get it from :meth:`ready_messenger`, which imports off the loop."""
        if self._messenger is None:
            from boxtui.client.client import BoxClient
            from boxtui.messenger.messenger import Messenger

            self._messenger = Messenger(BoxClient(self.server_url), None, self.profile)
        return self._messenger

    @messenger.setter
    def messenger(self, messenger: Messenger) -> None:
        self._messenger = messenger

    def warm_up(self) -> None:
        """Start importing what the session needs, in a thread (once)."""
        self._resume_gc()
        if self._warming is None:
            self._warming = asyncio.get_running_loop().run_in_executor(None, _import_session_modules)

    async def ready_messenger(self) -> Messenger:
        """:attr:`messenger`, its modules imported in a thread rather than on the event loop."""
        if self._messenger is None:
            self.warm_up()
            assert self._warming is not None
            await self._warming
        return self.messenger

    def get_driver_class(self) -> type[Driver]:
        """Textual's driver, reading pastes whole on Linux and macOS (see ``terminal_input``)."""
        if constants.DRIVER is None and sys.platform != "win32":
            from .terminal_input import PasteSafeDriver

            return PasteSafeDriver
        return super().get_driver_class()

    def notify(self, message: str, *, title: str = "", **kwargs: Any) -> None:
        """Every toast goes through here: names, titles and server texts in it are
        untrusted, so control characters never reach the terminal."""
        super().notify(clean_text(message), title=clean_text(title, single_line=True), **kwargs)

    async def on_event(self, event: events.Event) -> None:
        if isinstance(event, events.Paste) and not event.is_forwarded:
            paste = self._paste_for_focus(event.text)
            if paste is None:
                return
            event = paste
        await super().on_event(event)

    def _paste_for_focus(self, text: str) -> events.Paste | None:
        """A terminal paste, cleaned for the focused text field; ``None`` (and a word
        about it) when no text field has focus: a paste never lands anywhere else."""
        from textual.widgets import TextArea  # (not needed before the first frame: ~7 ms)

        focused = self.focused
        if isinstance(focused, TextArea) and not focused.read_only:
            return events.Paste(clean_paste(text, multiline=True))
        if isinstance(focused, Input):
            return events.Paste(clean_paste(text, multiline=False))
        if text.strip():
            self.notify("Nothing was pasted: move to a text field first (tab).", severity="warning", timeout=4)
        return None

    # --- bindings -----------------------------------------------------------------

    @property
    def binding_sections(self) -> list[tuple[str, type]]:
        """Every class that declares bindings, as the help screen groups them."""
        from .screens.access import AccessManagerScreen
        from .screens.dialogs import Dialog, InvitationDialog
        from .screens.help import HelpScreen
        from .screens.main import MainScreen
        from .screens.members import MembersScreen
        from .screens.pager import MessagePager, PagerScreen
        from .screens.saved import SavedFilesPanel
        from .screens.settings import SettingsScreen
        from .widgets.box_list import BoxList
        from .widgets.composer import ComposerInput
        from .widgets.timeline import BoxTimeline

        return [
            ("App", type(self)),
            ("Main", MainScreen),
            ("Box list", BoxList),
            ("Composer", ComposerInput),
            ("Timeline", BoxTimeline),
            ("Message pager", PagerScreen),
            ("Pager text", MessagePager),
            ("Invitation", InvitationDialog),
            ("Access rules", AccessManagerScreen),
            ("Saved files", SavedFilesPanel),
            ("Members", MembersScreen),
            ("Settings", SettingsScreen),
            ("Dialogs", Dialog),
            ("Help", HelpScreen),
            ("Login", LoginScreen),
            ("Unlock", UnlockScreen),
        ]

    @property
    def known_binding_ids(self) -> set[str]:
        return known_binding_ids(owner for _, owner in self.binding_sections)

    def apply_config(self) -> None:
        """Theme and key overrides from the profile's config."""
        config = self.profile.config
        if config.theme:
            if config.theme in self.available_themes:
                self.theme = config.theme
            else:
                self.notify(f"Unknown theme {config.theme!r} in the config; using the default.", severity="warning", markup=False)
        if not config.keymap:
            return  # nothing to check: the screens' bindings are not needed for the first frame
        usable, unknown = clean_overrides(config.keymap, self.known_binding_ids)
        self.set_keymap(usable)
        if unknown:
            self.notify(f"No binding has the id: {', '.join(unknown)} (see f1).", title="Key overrides", severity="warning", markup=False)

    # --- lifecycle ----------------------------------------------------------------

    def on_mount(self) -> None:
        # Between mount and the first frame the screen's widgets set off ~30 rounds of
        # the cyclic garbage collector over objects that all live on (2-3 ms of CPU to
        # the login screen's frame): it waits until the frame is painted (see warm_up,
        # on_unmount).
        self._gc_paused = gc.isenabled()
        gc.disable()
        self.apply_config()
        self._app_lock = AppLock.acquire(self.profile.data_dir)
        if not self._app_lock.held:
            holder = f" (process {self._app_lock.holder})" if self._app_lock.holder else ""
            self.notify(SECOND_INSTANCE.format(holder=holder), title="Open twice", severity="warning", timeout=20)
        if self.server_note:
            self.notify(self.server_note, title="Local server", markup=False, timeout=15)
        session = self.profile.session
        given = self._messenger
        if given is not None and given.identity is not None and given.keystore is not None:
            from .screens.main import MainScreen

            self.push_screen(MainScreen(given))  # handed over logged in and unlocked
        elif session is not None and session.server_url == self.server_url.rstrip("/"):
            self.push_screen(UnlockScreen(given, session))
        else:
            self.push_screen(LoginScreen(given))
        self.call_after_refresh(self.warm_up)

    def _resume_gc(self) -> None:
        if self._gc_paused:
            self._gc_paused = False
            gc.enable()

    async def on_unmount(self) -> None:
        self._resume_gc()
        if self._app_lock is not None:
            self._app_lock.release()
        if self._owns_client and self._messenger is not None:
            await self._messenger.client.aclose()

    def on_session_started(self, message: SessionStarted) -> None:
        from .screens.main import MainScreen

        self.messenger = message.messenger
        name = self.messenger.identity.display_name if self.messenger.identity else ""
        self.switch_screen(MainScreen(self.messenger))
        self.notify(f"Welcome, {name}.", markup=False)

    def on_session_ended(self, message: SessionEnded) -> None:
        if isinstance(self.screen, LoginScreen):
            return
        while len(self.screen_stack) > 2:
            self.pop_screen()
        self.switch_screen(LoginScreen(self.messenger))
        if message.reason:
            self.notify(message.reason, title="Logged out", severity="warning", markup=False)

    # --- actions ------------------------------------------------------------------

    def action_move_focus(self, forward: bool) -> None:
        """Tab / shift+Tab where they move the focus, done as the key arrives.

        Textual hands a key to the focused widget first and moves the focus only when
        the key comes back up to the screen's binding; keys typed after Tab in the same
        read (typed ahead over a slow SSH link, or while the app was busy) have reached
        the old field by then: "Ada<Tab>ada@example.org" all landed in the name field.
        Where Tab means something else (a path field completes, a text area indents,
        a screen binds it) the key goes on its usual way."""
        key = "tab" if forward else "shift+tab"
        wanted = "focus_next" if forward else "focus_previous"
        for namespace, bindings in self.screen._modal_binding_chain:
            if namespace is self:
                break
            found = bindings.key_to_bindings.get(key)
            if found:
                if found[0].action.rpartition(".")[2] != wanted:
                    raise SkipAction()
                break
        from textual.widgets import TextArea

        focused = self.focused
        if isinstance(focused, TextArea) and forward and focused.tab_behavior == "indent":
            raise SkipAction()
        if forward:
            self.screen.focus_next()
        else:
            self.screen.focus_previous()

    def action_help(self) -> None:
        from .screens.help import HelpScreen

        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen(binding_rows(self.binding_sections, self._keymap, self.get_key_display)))

    def action_settings(self) -> None:
        from .screens.settings import SettingsScreen

        if not isinstance(self.screen, SettingsScreen):
            self.push_screen(SettingsScreen(self.profile, self.known_binding_ids, self.server_url))

    def action_logout(self) -> None:
        self.logout()

    @work(exclusive=True, group="logout")
    async def logout(self) -> None:
        try:
            await self.messenger.logout()
        except Exception as exc:  # noqa: BLE001 - the local session is forgotten anyway
            notify_error(self, "The server did not confirm the logout", exc)
        self.post_message(SessionEnded("You are logged out."))


def make_app(server_url: str | None = None, home: Path | None = None) -> BoxApp:
    """The app over the real profile and server: ``server_url``, else the configured
    one, else the saved session's (or the last login's), else the host's local server,
    found running or started (the same choice the CLI makes)."""
    from boxtui.messenger.embedded import LocalServerURL, choose_server

    profile = Profile.load(home)
    url = choose_server(profile, server_url)
    note = url.announcement() if isinstance(url, LocalServerURL) else ""
    return BoxApp(profile=profile, server_url=str(url), server_note=note)


def run_tui(server_url: str | None = None, home: Path | None = None) -> int:
    """Run the app in this terminal; the exit code for the ``boxtui`` command."""
    try:
        app = make_app(server_url, home)
    except (ProfileError, LocalServerError) as exc:
        print(f"boxtui: {exc}", file=sys.stderr)
        return 1
    app.run()
    return app.return_code or 0
