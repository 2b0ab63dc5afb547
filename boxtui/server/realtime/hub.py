"""The realtime hub: who is connected, and fan-out of messages to them (PROTOCOL §9).

``await start_hub(settings)`` returns a :class:`Hub`. ``await hub.publish(identity_ids,
message)`` sends one envelope ``{"type", "object"}`` to every socket of those
identities. ``hub.connect(identity_id, session_id, limit=n)`` gives a :class:`Subscription` whose
queue the websocket route drains (:class:`TooManySockets` past ``n`` sockets of that
identity in this process); ``hub.disconnect(subscription)`` drops it.
``await hub.end_session(session_id)`` (on logout) sets ``ended`` on every socket of
that session, in every process; ``hub.session_ids()`` lists the sessions holding
sockets, so one query per interval re-checks them all (see ``realtime.router``).

One process needs nothing but itself (:class:`Hub`). With ``settings.redis_url`` the
hub is a :class:`RedisHub`: ``publish`` goes through one Redis pub/sub channel and
every process (this one included) delivers what it receives to its own sockets, so
several server processes behind a load balancer share events.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Iterable
from typing import Any

from boxtui.server.settings import ServerSettings

log = logging.getLogger("boxtui.server.realtime")

CHANNEL = "boxtui:realtime"
#: Messages a socket may fall behind by before the hub drops it (it then reconnects
#: and catches up with ``GET …/events?after=``).
QUEUE_SIZE = 1000


class TooManySockets(Exception):
    """The identity already holds as many sockets as this process allows."""


class Subscription:
    """One connected socket: its identity and session, the queue of messages for it,
    whether it overflowed, and whether its session ended."""

    def __init__(self, identity_id: str, session_id: str | None = None) -> None:
        self.identity_id = identity_id
        self.session_id = session_id
        self.queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(QUEUE_SIZE)
        self.overflowed = asyncio.Event()
        self.ended = asyncio.Event()

    def offer(self, message: dict[str, Any]) -> None:
        try:
            self.queue.put_nowait(message)
        except asyncio.QueueFull:
            self.overflowed.set()


class Hub:
    """In-process fan-out."""

    def __init__(self) -> None:
        self._subscriptions: dict[str, set[Subscription]] = {}

    def connect(self, identity_id: str, session_id: str | None = None, limit: int | None = None) -> Subscription:
        subs = self._subscriptions.setdefault(identity_id, set())
        if limit is not None and len(subs) >= limit:
            if not subs:
                del self._subscriptions[identity_id]
            raise TooManySockets(identity_id)
        subscription = Subscription(identity_id, session_id)
        subs.add(subscription)
        return subscription

    def disconnect(self, subscription: Subscription) -> None:
        subs = self._subscriptions.get(subscription.identity_id)
        if subs is not None:
            subs.discard(subscription)
            if not subs:
                del self._subscriptions[subscription.identity_id]

    def connected(self, identity_id: str) -> int:
        return len(self._subscriptions.get(identity_id, ()))

    def deliver(self, identity_ids: Iterable[str], message: dict[str, Any]) -> None:
        """Hand ``message`` to this process's sockets of ``identity_ids``."""
        for identity_id in set(identity_ids):
            for subscription in list(self._subscriptions.get(identity_id, ())):
                subscription.offer(message)

    async def publish(self, identity_ids: Iterable[str], message: dict[str, Any]) -> None:
        self.deliver(identity_ids, message)

    def session_ids(self) -> set[str]:
        """The sessions holding sockets in this process."""
        return {sub.session_id for subs in self._subscriptions.values() for sub in subs if sub.session_id}

    def end_sessions_locally(self, session_ids: Iterable[str]) -> None:
        """Mark every socket of ``session_ids`` in this process as ended."""
        ended = set(session_ids)
        for subs in list(self._subscriptions.values()):
            for subscription in list(subs):
                if subscription.session_id in ended:
                    subscription.ended.set()

    async def end_session(self, session_id: str) -> None:
        """A session was revoked: its sockets close, in every process."""
        self.end_sessions_locally([session_id])

    async def close(self) -> None:
        self._subscriptions.clear()


class RedisHub(Hub):
    """Fan-out through Redis pub/sub, for several server processes."""

    def __init__(self, url: str) -> None:
        super().__init__()
        import redis.asyncio as redis

        self._redis = redis.from_url(url)
        self._listener: asyncio.Task | None = None
        self._ready = asyncio.Event()

    async def start(self) -> None:
        try:
            await self._redis.ping()
        except Exception as exc:  # noqa: BLE001 - any failure: say which setting is wrong
            await self._redis.aclose()
            raise RuntimeError(f"cannot reach Redis at the configured redis_url: {exc}") from None
        self._listener = asyncio.create_task(self._listen(), name="boxtui-redis-hub")
        await asyncio.wait_for(self._ready.wait(), timeout=10)

    async def _listen(self) -> None:
        while True:
            pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(CHANNEL)
                self._ready.set()
                async for item in pubsub.listen():
                    if item.get("type") != "message":
                        continue
                    try:
                        payload = json.loads(item["data"])
                        if "end_session" in payload:
                            self.end_sessions_locally([payload["end_session"]])
                        else:
                            self.deliver(payload["to"], payload["message"])
                    except (ValueError, KeyError, TypeError):
                        log.warning("ignored a malformed realtime message from Redis")
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - keep listening through Redis outages
                log.warning("Redis pub/sub failed (%s); resubscribing in 1 s", exc)
                await asyncio.sleep(1)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()

    async def publish(self, identity_ids: Iterable[str], message: dict[str, Any]) -> None:
        payload = json.dumps({"to": sorted(set(identity_ids)), "message": message})
        try:
            await self._redis.publish(CHANNEL, payload)
        except Exception as exc:  # noqa: BLE001 - realtime is best effort; clients catch up
            log.warning("could not publish to Redis (%s); delivering locally only", exc)
            self.deliver(identity_ids, message)

    async def end_session(self, session_id: str) -> None:
        try:
            await self._redis.publish(CHANNEL, json.dumps({"end_session": session_id}))
        except Exception as exc:  # noqa: BLE001 - the periodic session check still closes them
            log.warning("could not publish a session end to Redis (%s); ending it locally only", exc)
            self.end_sessions_locally([session_id])

    async def close(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener
        await self._redis.aclose()
        await super().close()


async def start_hub(settings: ServerSettings) -> Hub:
    if settings.redis_url:
        hub = RedisHub(settings.redis_url)
        await hub.start()
        return hub
    return Hub()
