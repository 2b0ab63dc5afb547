"""Turning failures into readable notifications: the app never crashes on a refusal.

:func:`describe_error` writes one sentence for any error the layers below raise;
:func:`reported` wraps a worker so a failure becomes an error notification (and an
expired session sends the user back to the login screen).
"""

from __future__ import annotations

import functools
import inspect
import sys
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from textual.dom import DOMNode

from boxtui.messenger.errors import MessengerError
from boxtui.messenger.profile import ProfileError

from ..messages import SessionEnded

if TYPE_CHECKING:
    from boxtui.client.errors import APIStatusError

F = TypeVar("F", bound=Callable[..., Any])

_STATUS_TEXT = {
    "bad_request": "the server refused the request",
    "unauthorized": "your session is no longer valid: log in again",
    "forbidden": "you are not allowed to do that",
    "not_found": "not found",
    "conflict": "that conflicts with the current state",
    "gone": "that was deleted",
    "precondition_failed": "someone changed it meanwhile: try again",
    "request_entity_too_large": "too large for the server",
    "unsupported_media_type": "the server does not accept that kind of data",
    "too_many_requests": "too many attempts: wait a few minutes and try again",
}


def describe_error(exc: BaseException) -> str:
    """One sentence for a user; server texts are included as plain text, never markup."""
    # Imported here: the login screen paints before the client and the crypto are loaded.
    from boxtui.client.errors import APIConnectionError, APIResponseError, APIStatusError
    from boxtui.crypto import CryptoError, WrongPassphrase

    if isinstance(exc, APIConnectionError):
        return f"cannot reach the server ({exc})" if str(exc) else "cannot reach the server"
    if isinstance(exc, APIStatusError):
        return _describe_status(exc)
    if isinstance(exc, APIResponseError):
        return f"the server answered something unexpected: {exc}"
    if isinstance(exc, WrongPassphrase):
        return "wrong password for the key store"
    if isinstance(exc, (CryptoError, MessengerError, ProfileError)) or _is_store_error(exc):
        return str(exc) or type(exc).__name__
    if isinstance(exc, OSError):
        where = f": {exc.filename}" if exc.filename else ""
        return f"{exc.strerror or exc}{where}"
    return f"unexpected error: {type(exc).__name__}: {exc}"


def _is_store_error(exc: BaseException) -> bool:
    """A local store error (disk full, damaged file…): its message is written for users."""
    errors = sys.modules.get("boxtui.store.errors")  # not loaded: no store was opened
    return errors is not None and isinstance(exc, errors.StoreError)


def _describe_status(exc: APIStatusError) -> str:
    details = exc.details
    if exc.status == 401:
        return exc.desc or _STATUS_TEXT["unauthorized"]
    if exc.status == 429:
        return _STATUS_TEXT["too_many_requests"]
    if details.get("acr") == "forbidden":
        return "that needs a login with your password (you logged in with an e-mail code)"
    if details.get("quota") == "forbidden":
        return "your storage quota is full"
    if details.get("lifecycle") == "conflict":
        return "the box is closed: nothing can be posted"
    if details.get("reason") == "not_member":
        return "you are not a member of that box (join it with its invitation link)"
    if details.get("reason") == "no_access":
        return "you have no access to that box"
    base = _STATUS_TEXT.get(exc.code, f"the server answered {exc.status}")
    if exc.desc and exc.desc.lower() not in base:
        base = f"{base}: {exc.desc}"
    if exc.status == 400 and details:
        base += " (" + ", ".join(f"{k} {v}" for k, v in details.items()) + ")"
    return base


def session_expired(exc: BaseException) -> bool:
    errors = sys.modules.get("boxtui.client.errors")  # not loaded: no answer from a server yet
    return errors is not None and isinstance(exc, errors.APIStatusError) and exc.status == 401


def call_on_app_thread(node: DOMNode, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
    """Run ``fn`` on the app's thread: directly there, through ``call_from_thread`` elsewhere."""
    app = node.app
    if threading.get_ident() == app._thread_id:
        fn(*args, **kwargs)
    else:
        app.call_from_thread(fn, *args, **kwargs)


def notify_error(node: DOMNode, doing: str, exc: BaseException) -> None:
    """Show ``exc`` as an error notification; safe from the app thread or a worker thread."""
    app = node.app
    message = f"{doing}: {describe_error(exc)}" if doing else describe_error(exc)

    def show() -> None:
        app.notify(message, title="Error", severity="error", markup=False, timeout=8)
        app.bell()
        if session_expired(exc) and doing != LOGIN_DOING:
            app.post_message(SessionEnded(describe_error(exc)))

    call_on_app_thread(node, show)


#: The ``doing`` of login attempts: a 401 there is a wrong password, not an expired session.
LOGIN_DOING = "Login failed"


def reported(doing: str) -> Callable[[F], F]:
    """Decorate a worker method: any exception becomes a notification "doing: why"."""

    def decorate(method: F) -> F:
        if inspect.iscoroutinefunction(method):

            @functools.wraps(method)
            async def run_async(self: DOMNode, *args: Any, **kwargs: Any) -> Any:
                try:
                    return await method(self, *args, **kwargs)
                except Exception as exc:  # noqa: BLE001 - the boundary where errors become messages
                    notify_error(self, doing, exc)
                    return None

            return run_async  # type: ignore[return-value]

        @functools.wraps(method)
        def run_sync(self: DOMNode, *args: Any, **kwargs: Any) -> Any:
            try:
                return method(self, *args, **kwargs)
            except Exception as exc:  # noqa: BLE001
                notify_error(self, doing, exc)
                return None

        return run_sync  # type: ignore[return-value]

    return decorate
