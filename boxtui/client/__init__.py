"""Async Python client for a boxtui server (PROTOCOL.md), used by the TUI, the CLI and scripts.

::

    import asyncio
    from boxtui.client import BoxClient, Forbidden

    async def main() -> None:
        async with BoxClient("http://127.0.0.1:8642") as client:
            session = await client.auth.login("ada@example.org", password="correct horse battery")
            box = await client.boxes.create("Team", box_public_key_b64u)
            await client.events.post(box.id, "msg.text", {"encrypted": sealed_text})
            async for event in client.events.iterate(box.id):
                print(event.type, event.sender.display_name)
            try:
                await client.boxes.delete(box.id)
            except Forbidden as exc:
                print(exc)  # e.g. "403 forbidden: … (acr=forbidden, required_acr=2)"
            async with client.realtime(session.identity.id) as feed:
                async for message in feed:
                    print(message.type, message.object)

    asyncio.run(main())

Everything returns typed models from :mod:`boxtui.core.wire` (plus
:mod:`boxtui.client.models`); every failure is a :class:`BoxError` (see
:mod:`boxtui.client.errors`). The server never sees plaintext: contents are sealed
with :mod:`boxtui.crypto` before they reach this client.
"""

from boxtui.client import errors
from boxtui.client.client import BoxClient
from boxtui.client.errors import *  # noqa: F403 - the error tree is part of this package's API
from boxtui.client.models import EventLookupFailure, GetByIdsItem
from boxtui.client.realtime import RealtimeSubscription

__all__ = ["BoxClient", "RealtimeSubscription", "EventLookupFailure", "GetByIdsItem", *errors.__all__]
