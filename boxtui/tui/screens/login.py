"""First run and every run after: sign up, log in (password or e-mail code), or unlock.

Sign-up takes an optional e-mail code: servers run with ``signup_requires_code``
refuse an account without one, and the form then says how to get it. The screen asks
the server how codes travel (``/server-info``): it says when sign-up needs no code,
and on a server without a mailer (the host's local server) where codes are written
and who can read them, rather than leaving anyone waiting for an e-mail.

The network steps run in exclusive async workers; opening the key store (Argon2id)
runs in a thread worker so the screen stays responsive. Failures become
notifications and the form stays filled in.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual import events, on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.compose import compose
from textual.containers import Center, Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Button, Input, Label, Static, TabbedContent, TabPane

from boxtui.messenger.errors import NotLoggedIn
from boxtui.messenger.profile import SavedSession

from ..messages import SessionStarted
from ..safe_text import clean_name, one_line
from ..widgets.footer import BoxFooter
from .feedback import LOGIN_DOING, notify_error
from .modal import SHORT_HEIGHT, SLIM_WIDTH, fit_to_terminal, set_compact_unmounted

if TYPE_CHECKING:
    from boxtui.core.wire import SecretStorage
    from boxtui.messenger.code_delivery import CodeDelivery
    from boxtui.messenger.messenger import Messenger

MIN_PASSWORD = 8


class _AuthScreen(Screen):
    """What the login and unlock screens share: a busy state and the unlock step.

    Given no messenger, the screen uses the app's, which the app builds once the
    screen is painted (the first frame waits for neither HTTP nor crypto code)."""

    BINDINGS = [Binding("ctrl+q", "app.quit", "Quit", id="login.quit")]

    def __init__(self, messenger: Messenger | None = None) -> None:
        super().__init__()
        self._messenger = messenger
        #: (short, slim): the terminal the form was laid out for (see :meth:`compose`).
        self._fitted: tuple[bool, bool] | None = None
        self._busy = False

    def compose(self) -> ComposeResult:
        """The form, laid out for the terminal's size before it is mounted: classes and
        compact fields set afterwards would restyle every widget once more (~25 ms of
        the first frame)."""
        size = self.app.size
        self._fitted = (size.height < SHORT_HEIGHT, size.width < SLIM_WIDTH)
        self.set_class(self._fitted[0], "-short")
        self.set_class(self._fitted[1], "-slim")
        yield from self._fitted_to_terminal(self.compose_form())
        yield BoxFooter()

    def _fitted_to_terminal(self, widgets: ComposeResult) -> ComposeResult:
        """``widgets``, their fields compact on a short terminal, their buttons disabled while busy."""
        short = bool(self._fitted and self._fitted[0])
        for widget in widgets:
            if isinstance(widget, (Button, Input)) and short:
                set_compact_unmounted(widget)
            if isinstance(widget, Button) and self._busy:
                widget.disabled = True
            yield widget

    def compose_form(self) -> ComposeResult:
        """The screen's widgets but the footer."""
        yield from ()

    @property
    def messenger(self) -> Messenger:
        return self._messenger if self._messenger is not None else self.app.messenger  # type: ignore[attr-defined]

    async def ready_messenger(self) -> Messenger:
        """The messenger, its modules imported off the event loop when they are not yet."""
        if self._messenger is not None:
            return self._messenger
        return await self.app.ready_messenger()  # type: ignore[attr-defined]

    @property
    def server_url(self) -> str:
        if self._messenger is not None:
            return self._messenger.client.base_url
        return self.app.server_url.rstrip("/")  # type: ignore[attr-defined]

    def _on_screen_resume(self, event: events.ScreenResume) -> None:
        # Textual restyles a screen's every widget each time it comes on top; the first
        # time they were styled an instant ago, as they mounted (~20 ms of the first
        # frame). Screen's own handler runs next (Textual calls each class's in turn).
        if not self._resumed:
            self._resumed = True
            event.refresh_styles = False

    _resumed = False

    def on_resize(self, event: events.Resize) -> None:
        if (event.size.height < SHORT_HEIGHT, event.size.width < SLIM_WIDTH) != self._fitted:
            fit_to_terminal(self, event.size)
            self._fitted = (event.size.height < SHORT_HEIGHT, event.size.width < SLIM_WIDTH)

    def set_busy(self, busy: bool, status: str = "") -> None:
        self._busy = busy
        for button in self.query(Button):
            button.disabled = busy
        self.query_one("#auth-status", Static).update(status)

    def fail(self, exc: BaseException) -> None:
        self.set_busy(False)
        notify_error(self, LOGIN_DOING, exc)

    def start_session(self, messenger: Messenger) -> None:
        self.set_busy(False)
        self.app.post_message(SessionStarted(messenger))

    def unlock(self, messenger: Messenger, password: str, backup: SecretStorage | None = None) -> None:
        """Open the key store (Argon2id, in a thread), then sync the keys and go on."""
        self.set_busy(True, "Opening your key store…")
        self._unlock_in_thread(messenger, password, backup)

    @work(thread=True, exclusive=True, group="unlock")
    def _unlock_in_thread(self, messenger: Messenger, password: str, backup: SecretStorage | None) -> None:
        try:
            messenger.unlock_keystore(password, backup)
        except Exception as exc:  # noqa: BLE001 - becomes a notification
            self.app.call_from_thread(self.fail, exc)
            return
        self.app.call_from_thread(self._sync_keys, messenger)

    @work(exclusive=True, group="login")
    async def _sync_keys(self, messenger: Messenger) -> None:
        self.set_busy(True, "Syncing your keys…")
        try:
            await messenger.sync_keys()
        except Exception as exc:  # noqa: BLE001
            self.fail(exc)
            return
        self.start_session(messenger)


class LoginScreen(_AuthScreen):
    """Sign up, log in with a password, or log in with a code sent by e-mail."""

    DEFAULT_CSS = """
    LoginScreen #code-hint { color: $text-muted; height: auto; margin-bottom: 1; }
    """
    #: Straight to the e-mail field (Textual's default, the first focusable widget, is the
    #: tab bar: focused, then blurred for the field, restyling it twice).
    AUTO_FOCUS = "#login-email"

    def __init__(self, messenger: Messenger) -> None:
        super().__init__(messenger)
        #: How the server delivers codes (None until it said, or if it does not).
        self.delivery: CodeDelivery | None = None

    def compose_form(self) -> ComposeResult:
        with Center(id="auth-box"):
            yield Label("boxtui", id="auth-title")
            yield Static(Text(f"Server: {self.server_url}"), id="auth-server")
            with TabbedContent(id="auth-tabs"):
                with TabPane("Log in", id="tab-password"):
                    yield Input(placeholder="E-mail", id="login-email")
                    yield Input(placeholder="Password", password=True, id="login-password")
                    yield Button("Log in", variant="primary", id="login-submit")
                # The other tabs are filled once the first frame is painted (see on_mount).
                yield TabPane("E-mail code", id="tab-code")
                yield TabPane("Sign up", id="tab-signup")
            yield Static("", id="auth-status", markup=False)

    def _code_tab(self) -> ComposeResult:
        yield Static("", id="code-hint", markup=False)
        yield Input(placeholder="E-mail", id="code-email")
        yield Button("Send me a code", id="code-request")
        yield Input(placeholder="6-digit code", max_length=6, id="code-code")
        yield Input(placeholder="Key store password", password=True, id="code-password")
        yield Button("Log in", variant="primary", id="code-submit")

    def _signup_tab(self) -> ComposeResult:
        yield Input(placeholder="Your name", id="signup-name")
        yield Input(placeholder="E-mail", id="signup-email")
        yield Input(placeholder="Password (8 characters or more)", password=True, id="signup-password")
        yield Input(placeholder="Password again", password=True, id="signup-confirm")
        with Horizontal(id="signup-code-row"):
            yield Input(placeholder="E-mail code", max_length=6, id="signup-code")
            yield Button("Send code", id="signup-code-request")
            yield Button("Create account", variant="primary", id="signup-submit")

    def on_mount(self) -> None:
        self.query("#login-email").focus()  # a no-op when the screen is already being torn down
        # Once the first frame is painted, after what the app itself waits for (through
        # the app's queue, behind its own after-refresh calls), and as a message of its own.
        self.app.call_after_refresh(self.call_later, self._fill_other_tabs)

    async def _fill_other_tabs(self) -> None:
        """Mount the hidden tabs' fields (~60 ms that the first frame does not wait for),
        then ask the server how its codes travel."""
        if not self.is_attached:
            return
        for pane_id, fields in (("#tab-code", self._code_tab()), ("#tab-signup", self._signup_tab())):
            pane = self.query_one(pane_id, TabPane)
            await pane.mount_all(compose(pane, self._fitted_to_terminal(fields)))
        self.load_code_delivery()

    @work(exclusive=True, group="server-info")
    async def load_code_delivery(self) -> None:
        """Ask the server how its codes travel, and say it on the form."""
        delivery = await self._code_delivery()
        if delivery is None:
            return
        self.query_one("#code-hint", Static).update(delivery.where())
        self.query_one("#signup-code", Input).placeholder = (
            "E-mail code (required)" if delivery.signup_needs_code else "No code needed"
        )
        if not delivery.emailed and delivery.owner and not delivery.mine:
            self.query_one("#auth-server", Static).update(
                Text(f"Server: {self.server_url} (this host's local server, run by {delivery.owner})")
            )

    async def _code_delivery(self) -> CodeDelivery | None:
        if self.delivery is None:
            try:
                client = (await self.ready_messenger()).client
                from boxtui.messenger.code_delivery import code_delivery  # imported by now, off the loop

                self.delivery = await code_delivery(client)
            except Exception:  # noqa: BLE001 - an unreachable server is reported when the user acts
                return None
        return self.delivery

    def _value(self, widget_id: str) -> str:
        return self.query_one(f"#{widget_id}", Input).value

    def _complain(self, text: str) -> None:
        self.notify(text, severity="warning", markup=False)

    # --- password -----------------------------------------------------------------

    @on(Input.Submitted, "#login-email")
    def _email_done(self) -> None:
        self.query_one("#login-password", Input).focus()

    @on(Input.Submitted, "#login-password")
    @on(Button.Pressed, "#login-submit")
    def _login_password(self) -> None:
        email, password = self._value("login-email").strip(), self._value("login-password")
        if not email or not password:
            self._complain("Enter your e-mail and password.")
            return
        self.set_busy(True, "Logging in…")
        self.login_password(email, password)

    @work(exclusive=True, group="login")
    async def login_password(self, email: str, password: str) -> None:
        # The messenger opens (or restores) the key store in a thread itself.
        try:
            messenger = await self.ready_messenger()
            await messenger.login_password(email, password)
        except Exception as exc:  # noqa: BLE001
            self.fail(exc)
            return
        self.start_session(messenger)

    # --- e-mail code --------------------------------------------------------------

    @on(Input.Submitted, "#code-email")
    @on(Button.Pressed, "#code-request")
    def _request_login_code(self) -> None:
        self._send_code("code-email", "code-code")

    def _send_code(self, email_id: str, code_id: str) -> None:
        """Have a code e-mailed to the address in ``email_id``; then ``code_id`` takes it."""
        email = self._value(email_id).strip()
        if not email:
            self._complain("Enter your e-mail first.")
            self.query_one(f"#{email_id}", Input).focus()
            return
        self.set_busy(True, "Sending a code…")
        self.request_code(email, code_id)

    @work(exclusive=True, group="login")
    async def request_code(self, email: str, code_id: str) -> None:
        try:
            await (await self.ready_messenger()).request_code(email)
        except Exception as exc:  # noqa: BLE001
            self.fail(exc)
            return
        delivery = await self._code_delivery()
        sent = delivery.sent(email) if delivery else f"A code was sent to {email}; it is valid for 10 minutes."
        self.set_busy(False, sent)
        self.notify(sent, markup=False, timeout=15)
        self.query_one(f"#{code_id}", Input).focus()

    @on(Input.Submitted, "#code-code")
    def _code_done(self) -> None:
        self.query_one("#code-password", Input).focus()

    @on(Input.Submitted, "#code-password")
    @on(Button.Pressed, "#code-submit")
    def _login_code(self) -> None:
        email, code, password = self._value("code-email").strip(), self._value("code-code").strip(), self._value("code-password")
        if not email or not code:
            self._complain("Enter your e-mail and the code you received.")
            return
        if not password:
            self._complain("Enter the password that protects your key store on this device.")
            return
        self.set_busy(True, "Logging in…")
        self.login_code(email, code, password)

    @work(exclusive=True, group="login")
    async def login_code(self, email: str, code: str, password: str) -> None:
        try:
            messenger = await self.ready_messenger()
            await messenger.login_code(email, code)
        except Exception as exc:  # noqa: BLE001
            self.fail(exc)
            return
        self.unlock(messenger, password)

    # --- sign up ------------------------------------------------------------------

    @on(Input.Submitted, "#signup-name, #signup-email, #signup-password")
    def _next_field(self) -> None:
        self.focus_next()

    @on(Button.Pressed, "#signup-code-request")
    def _request_signup_code(self) -> None:
        self._send_code("signup-email", "signup-code")

    @on(Input.Submitted, "#signup-code")
    def _code_entered(self) -> None:
        """Enter in the code field: sign up with the code, or (still empty) send one."""
        if self._value("signup-code").strip():
            self._signup()
        else:
            self._request_signup_code()

    @on(Input.Submitted, "#signup-confirm")
    @on(Button.Pressed, "#signup-submit")
    def _signup(self) -> None:
        name = self._value("signup-name").strip()
        email = self._value("signup-email").strip()
        password, confirm = self._value("signup-password"), self._value("signup-confirm")
        code = self._value("signup-code").strip() or None
        if not name or not email:
            self._complain("Enter your name and e-mail.")
        elif len(password) < MIN_PASSWORD:
            self._complain(f"The password needs at least {MIN_PASSWORD} characters.")
        elif password != confirm:
            self._complain("The two passwords differ.")
        else:
            self.set_busy(True, "Creating your account…")
            self.signup(email, password, name, code)

    @work(exclusive=True, group="login")
    async def signup(self, email: str, password: str, name: str, code: str | None) -> None:
        # Messenger.signup would build a new messenger; this one carries the app's
        # client and key store settings, so sign up and log in on it.
        try:
            messenger = await self.ready_messenger()
            await messenger.client.auth.signup(email, password, name, code)
            self.set_busy(True, "Logging in…")
            await messenger.login_password(email, password)
        except Exception as exc:  # noqa: BLE001
            from boxtui.client.errors import BadRequest, Unauthorized

            if isinstance(exc, BadRequest) and exc.details.get("code") == "required":
                self._ask_for_code("This server asks for a code sent to your e-mail: press Send code, then type it here.")
            elif isinstance(exc, Unauthorized) and code is not None:  # the account was not made
                self._ask_for_code("That code is wrong or has expired: press Send code for a new one.")
            else:
                self.fail(exc)
            return
        self.start_session(messenger)

    def _ask_for_code(self, why: str) -> None:
        """Sign-up needs a (new) e-mail code: say why, and go to its field."""
        self.set_busy(False)
        self.notify(why, title="E-mail code needed", severity="warning", markup=False, timeout=10)
        self.query_one("#signup-code", Input).focus()


class UnlockScreen(_AuthScreen):
    """A saved session: only the password is needed to open the key store and go on."""

    BINDINGS = [Binding("ctrl+l", "switch_account", "Other account", id="unlock.switch_account")]

    def __init__(self, messenger: Messenger | None, session: SavedSession) -> None:
        super().__init__(messenger)
        self.email = str(session.identity.get("identifier_value", ""))
        self.display_name = str(session.identity.get("display_name", ""))

    def compose_form(self) -> ComposeResult:
        with Center(id="auth-box"):
            yield Label("boxtui", id="auth-title")
            yield Static(Text(f"Welcome back, {clean_name(self.display_name)} <{one_line(self.email)}>\nServer: {one_line(self.server_url)}"), id="auth-server")
            with Vertical(id="unlock-form"):
                yield Input(placeholder="Password", password=True, id="unlock-password")
                with Horizontal(classes="dialog-buttons"):
                    yield Button("Unlock", variant="primary", id="unlock-submit")
                    yield Button("Other account", id="unlock-switch")
            yield Static("", id="auth-status", markup=False)

    def on_mount(self) -> None:
        self.query_one("#unlock-password", Input).focus()

    @on(Input.Submitted, "#unlock-password")
    @on(Button.Pressed, "#unlock-submit")
    def _unlock(self) -> None:
        password = self.query_one("#unlock-password", Input).value
        if not password:
            return
        self.set_busy(True, "Checking the session…")
        self.resume(password)

    @work(exclusive=True, group="login")
    async def resume(self, password: str) -> None:
        from boxtui.crypto import KeyStore
        from boxtui.messenger.messenger import Messenger

        messenger = await self.ready_messenger()
        client, profile = messenger.client, messenger.profile
        try:
            # With this device's key store, an unreachable server is no error: the app
            # opens on the local store and syncs once the server answers.
            resumed = await Messenger.resume(client, profile, offline_ok=KeyStore.exists(profile.keystore_path))
            backup = None
            if not KeyStore.exists(profile.keystore_path) and resumed.acr >= 2:
                backup = await client.keys.secret_storage_get()
        except NotLoggedIn as exc:
            self.notify(str(exc), severity="warning", markup=False)
            self.app.switch_screen(LoginScreen(self.messenger))
            return
        except Exception as exc:  # noqa: BLE001
            self.fail(exc)
            return
        self.unlock(resumed, password, backup)

    @on(Button.Pressed, "#unlock-switch")
    def action_switch_account(self) -> None:
        self.revoke_saved_session()

    @work(exclusive=True, group="login")
    async def revoke_saved_session(self) -> None:
        """Log the saved session out on the server (when it still works) and forget it."""
        from boxtui.messenger.messenger import Messenger

        messenger = await self.ready_messenger()
        client, profile = messenger.client, messenger.profile
        try:
            await (await Messenger.resume(client, profile)).logout()
        except NotLoggedIn:
            pass  # expired or for another server: resume already forgot it
        except Exception as exc:  # noqa: BLE001 - forgotten here all the same
            profile.clear_session()
            notify_error(self, "The server did not confirm the logout", exc)
        self.app.switch_screen(LoginScreen(self.messenger))
