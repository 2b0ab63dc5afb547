"""The messenger layer shared by the TUI and the CLI.

* :mod:`~boxtui.messenger.messenger` — :class:`Messenger`: API client + key store + crypto.
* :mod:`~boxtui.messenger.models` — what it returns (``TimelineEntry``, ``BoxSummary``, …).
* :mod:`~boxtui.messenger.profile` — a user's files on this machine (config, session, keys).
* :mod:`~boxtui.messenger.embedded` — the local server started when none is configured.
* :mod:`~boxtui.messenger.errors` — ``MessengerError`` and friends.

Import the submodules directly: this package imports nothing, so the light ones
(profile, embedded) stay light.
"""
