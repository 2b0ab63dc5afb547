"""Errors of the messenger layer: local problems, with messages fit for a user.

Server answers are not wrapped: they arrive as :mod:`boxtui.client` errors.
"""

from __future__ import annotations

__all__ = ["MessengerError", "LocalServerError", "NoBoxKey", "NotLoggedIn", "KeyStoreLocked"]


class MessengerError(Exception):
    """Something this device cannot do (no key for a box, a bad link, …)."""


class LocalServerError(MessengerError):
    """The embedded local server could not be started."""


class NotLoggedIn(MessengerError):
    """No session in the profile, or the saved one is no longer valid."""


class KeyStoreLocked(MessengerError):
    """An operation needs the key store, and it is not open."""


class NoBoxKey(MessengerError):
    """This device does not hold the secret key of a box."""
