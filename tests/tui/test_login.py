"""Sign up, log in (password, e-mail code), resume a saved session; failures are notifications."""

from __future__ import annotations

import asyncio

import pytest

from boxtui.client.client import BoxClient
from boxtui.client.errors import Unauthorized
from boxtui.messenger.messenger import Messenger
from boxtui.messenger.profile import Profile
from boxtui.server.mailer import latest_code
from boxtui.tui.app import BoxApp
from boxtui.tui.screens.login import LoginScreen, UnlockScreen
from boxtui.tui.screens.main import MainScreen
from tests.conftest import asgi_transport, make_settings, running_server
from tests.messenger.conftest import BASE_URL, CHEAP_KDF

from .conftest import (
    PASSWORD,
    SIZE,
    notifications,
    screen_text,
    type_text,
    wait_for_notification,
    wait_for_text,
    wait_until,
)


async def test_sign_up_then_the_boxes_screen(device) -> None:
    app = BoxApp(device("ada"))
    async with app.run_test(size=SIZE) as pilot:
        assert isinstance(app.screen, LoginScreen)
        assert "Server: http://127.0.0.1" in screen_text(app)
        await pilot.click("#auth-tabs Tab#--content-tab-tab-signup")
        await wait_until(pilot, lambda: app.screen.query_one("#signup-name").display and app.screen.query_one("#signup-name").region, what="the sign-up form")
        app.screen.query_one("#signup-name").focus()
        for value in ("Ada Lovelace", "ada@example.org", PASSWORD, PASSWORD):  # Enter goes to the next field
            await type_text(pilot, value)
            await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, MainScreen), what="the main screen")
        await wait_for_notification(pilot, "Welcome, Ada Lovelace.")
        assert "No box open" in screen_text(app)
        assert "^n  create a box" in screen_text(app) and "^p  every command" in screen_text(app)


async def test_password_login_wrong_then_right(user, device) -> None:
    await user("bob", home="bob-laptop")
    app = BoxApp(device("bob-desktop"))
    async with app.run_test(size=SIZE) as pilot:
        await type_text(pilot, "bob@example.org")
        await pilot.press("enter")
        await type_text(pilot, "not the password")
        await pilot.press("enter")
        message = await wait_for_notification(pilot, "Login failed")
        assert message == "Login failed: wrong e-mail or credentials"
        assert isinstance(app.screen, LoginScreen)
        password = app.screen.query_one("#login-password")
        password.value = ""
        password.focus()
        await type_text(pilot, PASSWORD)
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, MainScreen), what="the main screen")
        await wait_for_notification(pilot, "Welcome, Bob.")


async def test_too_many_failures_are_explained(user, device) -> None:
    await user("eve")
    app = BoxApp(device("eve-2"))
    async with app.run_test(size=SIZE) as pilot:
        app.screen.query_one("#login-email").value = "eve@example.org"
        app.screen.query_one("#login-password").value = "wrong password"
        password = app.screen.query_one("#login-password")
        for attempt in range(12):  # ten failures are 401, the eleventh is still checked, the twelfth is 429 (§10.14)
            # Enter in the password field: after a few failures the stacked toasts cover
            # the Log in button, and a click there lands on a toast.
            password.focus()
            await pilot.press("enter")
            await wait_until(pilot, lambda: len(notifications(app)) > attempt, what=f"answer {attempt + 1}")
        assert notifications(app)[-1] == "Login failed: too many attempts: wait a few minutes and try again"


async def test_unreachable_server_is_a_notification(tmp_path) -> None:
    from boxtui.messenger.profile import Profile

    app = BoxApp(profile=Profile.load(tmp_path / "home"), server_url="http://127.0.0.1:9")
    async with app.run_test(size=SIZE) as pilot:
        app.screen.query_one("#login-email").value = "ada@example.org"
        app.screen.query_one("#login-password").value = PASSWORD
        await pilot.click("#login-submit")
        message = await wait_for_notification(pilot, "Login failed")
        assert message.startswith("Login failed: cannot reach the server")
        assert isinstance(app.screen, LoginScreen)


async def test_code_login_asks_for_the_key_store_password(user, device, sqlite_settings) -> None:
    await user("cleo")
    app = BoxApp(device("cleo-phone"))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.click("#auth-tabs Tab#--content-tab-tab-code")
        await wait_until(pilot, lambda: app.screen.query_one("#code-email").region, what="the code form")
        app.screen.query_one("#code-email").focus()
        await type_text(pilot, "cleo@example.org")
        await pilot.press("enter")
        await wait_until(pilot, lambda: "The code for cleo@example.org was written" in screen_text(app), what="the code sent")
        code = latest_code(sqlite_settings.outbox_dir, "cleo@example.org")
        await type_text(pilot, code)
        await pilot.press("enter")
        await type_text(pilot, PASSWORD)
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, MainScreen), what="the main screen")
        assert app.messenger.acr == 1


async def test_saved_session_resumes_with_the_password(user, device) -> None:
    ada = await user("ada")
    await ada.create_box("Garden")
    app = BoxApp(device("ada"))  # the same profile: session.json and the key store are there
    async with app.run_test(size=SIZE) as pilot:
        assert isinstance(app.screen, UnlockScreen)
        assert "Welcome back, Ada <ada@example.org>" in screen_text(app)
        await type_text(pilot, "wrong password")
        await pilot.press("enter")
        assert await wait_for_notification(pilot, "Login failed") == "Login failed: wrong password for the key store"
        app.screen.query_one("#unlock-password").value = PASSWORD
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, MainScreen), what="the main screen")
        await wait_until(pilot, lambda: "Garden" in screen_text(app), what="the box list")


async def test_expired_session_goes_back_to_the_login(user, device) -> None:
    ada = await user("ada")
    await ada.client.auth.logout()  # the token is revoked on the server; session.json stays
    ada.profile.save_session(ada.profile.session)
    app = BoxApp(device("ada"))
    async with app.run_test(size=SIZE) as pilot:
        assert isinstance(app.screen, UnlockScreen)
        await type_text(pilot, PASSWORD)
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, LoginScreen), what="the login screen")
        await wait_for_notification(pilot, "the saved session has expired")


async def test_other_account_forgets_the_saved_session(user, device) -> None:
    await user("ada")
    app = BoxApp(device("ada"))
    async with app.run_test(size=SIZE) as pilot:
        assert isinstance(app.screen, UnlockScreen)
        token = app.profile.session.token
        await pilot.click("#unlock-switch")
        await wait_until(pilot, lambda: isinstance(app.screen, LoginScreen), what="the login screen")
        assert notifications(app) == []
    assert app.profile.session is None
    other = device("ada-check")
    other.client.token = token
    with pytest.raises(Unauthorized):  # revoked on the server, not only forgotten here
        await other.client.auth.session()


# --- sign-up with an e-mail code ----------------------------------------------------


@pytest.fixture
async def strict(tmp_path):
    """A server run with ``signup_requires_code``: its settings and a fresh device on it."""
    settings = make_settings(tmp_path / "strict-data", signup_requires_code=True)
    async with running_server(settings) as server:
        client = BoxClient(BASE_URL, transport=asgi_transport(server))
        try:
            yield settings, Messenger(client, None, Profile.load(tmp_path / "strict-home"), **CHEAP_KDF)
        finally:
            await client.aclose()


async def open_signup(pilot, app: BoxApp) -> None:
    await pilot.click("#auth-tabs Tab#--content-tab-tab-signup")
    await wait_until(pilot, lambda: app.screen.query_one("#signup-name").region, what="the sign-up form")


async def fill_signup(pilot, app: BoxApp, name: str, email: str) -> None:
    """Type the form as a user does, Enter after each field (the last one submits)."""
    await open_signup(pilot, app)
    app.screen.query_one("#signup-name").focus()
    for value in (name, email, PASSWORD, PASSWORD):
        await type_text(pilot, value)
        await pilot.press("enter")


def focused_id(app: BoxApp) -> str | None:
    return app.focused.id if app.focused else None


async def test_strict_server_explains_the_code_then_signs_up_with_it(strict) -> None:
    settings, messenger = strict
    app = BoxApp(messenger)
    async with app.run_test(size=SIZE) as pilot:
        await fill_signup(pilot, app, "Ada [b]Lovelace[/b]", "ada@example.org")
        message = await wait_for_notification(pilot, "asks for a code")
        assert message == "This server asks for a code sent to your e-mail: press Send code, then type it here."
        await wait_until(pilot, lambda: focused_id(app) == "signup-code", what="the code field focused")
        assert isinstance(app.screen, LoginScreen)
        assert app.screen.query_one("#signup-name").value == "Ada [b]Lovelace[/b]"
        assert app.screen.query_one("#signup-email").value == "ada@example.org"
        assert app.screen.query_one("#signup-confirm").value == PASSWORD
        assert not app.screen.query_one("#signup-submit").disabled
        await pilot.click("#signup-code-request")
        await wait_for_notification(pilot, "The code for ada@example.org was written")
        await wait_until(pilot, lambda: focused_id(app) == "signup-code", what="the code field focused")
        await type_text(pilot, latest_code(settings.outbox_dir, "ada@example.org"))
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, MainScreen), what="the main screen")
        await wait_for_notification(pilot, "Welcome, Ada [b]Lovelace[/b].")  # markup shown as typed
    assert messenger.acr == 2


async def test_enter_in_the_empty_code_field_sends_a_code(strict) -> None:
    settings, messenger = strict
    app = BoxApp(messenger)
    async with app.run_test(size=SIZE) as pilot:
        await fill_signup(pilot, app, "Bob", "bob@example.org")
        await wait_until(pilot, lambda: focused_id(app) == "signup-code", what="the code field focused")
        await pilot.press("enter")  # still empty: a code is e-mailed
        await wait_for_notification(pilot, "The code for bob@example.org was written")
        code = latest_code(settings.outbox_dir, "bob@example.org")
        await type_text(pilot, "000000" if code != "000000" else "111111")  # a wrong code first
        await pilot.press("enter")
        message = await wait_for_notification(pilot, "That code")
        assert message == "That code is wrong or has expired: press Send code for a new one."
        assert isinstance(app.screen, LoginScreen) and app.screen.query_one("#signup-email").value == "bob@example.org"
        await wait_until(pilot, lambda: focused_id(app) == "signup-code", what="the code field focused")
        app.screen.query_one("#signup-code").value = code
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, MainScreen), what="the main screen")
        await wait_for_notification(pilot, "Welcome, Bob.")


async def test_send_code_needs_the_e_mail_first(strict) -> None:
    _, messenger = strict
    app = BoxApp(messenger)
    async with app.run_test(size=SIZE) as pilot:
        await open_signup(pilot, app)
        await pilot.click("#signup-code-request")
        assert await wait_for_notification(pilot, "e-mail first") == "Enter your e-mail first."
        await wait_until(pilot, lambda: focused_id(app) == "signup-email", what="the e-mail field focused")


async def test_default_server_checks_a_code_given_at_sign_up(device, sqlite_settings) -> None:
    app = BoxApp(device("cleo"))
    async with app.run_test(size=SIZE) as pilot:
        await open_signup(pilot, app)
        app.screen.query_one("#signup-email").value = "cleo@example.org"
        await pilot.click("#signup-code-request")
        await wait_for_notification(pilot, "The code for cleo@example.org was written")
        await type_text(pilot, latest_code(sqlite_settings.outbox_dir, "cleo@example.org"))
        for field, value in (("signup-name", "Cleo"), ("signup-password", PASSWORD), ("signup-confirm", PASSWORD)):
            app.screen.query_one(f"#{field}").value = value
        await pilot.click("#signup-submit")
        await wait_until(pilot, lambda: isinstance(app.screen, MainScreen), what="the main screen")
        await wait_for_notification(pilot, "Welcome, Cleo.")


async def test_the_form_says_sign_up_needs_no_code_and_where_codes_go(device) -> None:
    """The default server has no mailer: the app says where a code lands instead of
    leaving the user waiting for an e-mail."""
    app = BoxApp(device("dora"))
    async with app.run_test(size=SIZE) as pilot:
        await open_signup(pilot, app)
        code = app.screen.query_one("#signup-code")
        await wait_until(pilot, lambda: code.placeholder == "No code needed", what="the sign-up hint")
        await pilot.click("#auth-tabs Tab#--content-tab-tab-code")
        await wait_for_text(pilot, "This server sends no e-mail: codes are written to")
        app.screen.query_one("#code-email").value = "dora@example.org"
        await pilot.click("#code-request")
        message = await wait_for_notification(pilot, "The code for dora@example.org")
        assert "only the person who runs the server can read: ask them for it, or log in with your password" in message


@pytest.mark.e2e
async def test_on_the_hosts_local_server_the_form_names_its_outbox(tmp_path, local_server) -> None:
    from boxtui.messenger.embedded import ensure_local_server

    url = await asyncio.to_thread(ensure_local_server, local_server)
    app = BoxApp(profile=Profile.load(tmp_path / "eve"), server_url=url)
    outbox = local_server.data_dir / "outbox"
    async with app.run_test(size=SIZE) as pilot:
        await pilot.click("#auth-tabs Tab#--content-tab-tab-code")
        await wait_for_text(pilot, "This server sends no e-mail", timeout=30)  # a real server process: slow under load
        assert f"codes are written to {outbox}/" in app.screen.query_one("#code-hint").render().plain
        app.screen.query_one("#code-email").value = "eve@example.org"
        await pilot.click("#code-request")
        message = await wait_for_notification(pilot, "The code for eve@example.org", timeout=30)
        assert message == f"The code for eve@example.org was written to {outbox}/ (valid for 10 minutes)."
        assert latest_code(outbox, "eve@example.org")
