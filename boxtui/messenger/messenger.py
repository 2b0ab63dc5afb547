"""``Messenger``: the one place that joins the API client, the key store and the crypto.

The TUI and the CLI call only this (plus the client's realtime subscription). Every
method is async except the CPU-bound :meth:`Messenger.unlock_keystore` (Argon2id: run
it in a worker thread) and the cheap :meth:`Messenger.decrypt_event`.

Keys and their backup
    The key store is sealed with the account password (Argon2id). After a password
    login the store is opened, or restored from the server's secret storage when this
    device has none (a second machine gets every box key), merged with that backup,
    and the identity public key is published if the server does not know one of ours.
    Every change of box keys is backed up at once: the backup *is* the sealed key
    store file, uploaded with ``If-Match``; on a conflict the newer backup is merged
    first. The password is kept in memory for that merge only.

One-time code logins (ACR 1)
    The server serves boxes and events, not the key backup, saved files or access
    batches. The key store still needs its passphrase: :meth:`unlock_keystore` opens
    the local store, or creates one when this device has none (an identity without an
    account has no backup to restore). Such a store is not backed up until the next
    password login merges it.

Errors: server answers propagate as :mod:`boxtui.client.errors`; local problems are
:class:`~boxtui.messenger.errors.MessengerError` with a readable message. Nothing here
raises on a message it cannot decrypt: the entry carries the error instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import mimetypes
import os
from collections.abc import Sequence
from pathlib import Path

from boxtui.client.client import BoxClient
from boxtui.client.errors import APIConnectionError, Conflict, Forbidden, NotFound, PreconditionFailed, Unauthorized
from boxtui.client.streams import ProgressCallback
from boxtui.core.encoding import b64_decode_any, b64u_encode
from boxtui.core.wire import BoxView, EventView, Identity, IdentityView, SavedFile, SecretStorage, Session
from boxtui.crypto import (
    CryptoError,
    FileMetadata,
    InvalidInvitationLink,
    KeyStore,
    KeyStoreCorrupted,
    WrongPassphrase,
    combine_shares,
    decrypt_file,
    encrypt_file,
    generate_box_keypair,
    key_fingerprint,
    make_invitation_link,
    open_auto_invite,
    open_file_metadata,
    open_invitation_key_share,
    open_saved_metadata,
    open_text,
    open_with_password,
    parse_invitation_link,
    public_key_from_secret,
    seal_auto_invite,
    seal_file_metadata,
    seal_invitation_key_share,
    seal_saved_metadata,
    seal_text,
    share_hash,
    split_secret_key,
)
from boxtui.crypto.vault import MEMLIMIT, OPSLIMIT

from .downloads import write_new_file
from .email_import import parse_email
from .errors import KeyStoreLocked, MessengerError, NoBoxKey, NotLoggedIn
from .models import (
    CANNOT_DECRYPT,
    AccessChange,
    AccessRule,
    BatchResult,
    BoxSummary,
    SavedEntry,
    TimelineEntry,
)
from .profile import Profile, SavedSession
from .sync import LocalFirst, Queued

__all__ = ["Messenger", "Queued"]

_MESSAGE_TYPES = ("msg.text", "msg.file")
_SEALED_TYPES = frozenset({*_MESSAGE_TYPES, "msg.edit"})
_NO_CONTENT: dict = {}
_BACKUP_ATTEMPTS = 3


class Messenger(LocalFirst):
    """A logged-in user's view of boxtui; build it with :meth:`signup`, :meth:`resume`,
    or ``Messenger(client, None, profile)`` followed by a login.

    Once the key store is open, so is the account's local store (``use_store=False``
    turns it off): see :mod:`boxtui.messenger.sync`."""

    def __init__(
        self,
        client: BoxClient,
        keystore: KeyStore | None,
        profile: Profile,
        *,
        opslimit: int = OPSLIMIT,
        memlimit: int = MEMLIMIT,
        use_store: bool = True,
    ) -> None:
        self.client = client
        self.keystore = keystore
        self.profile = profile
        self.identity: Identity | None = None
        self.acr: int = 0
        #: Argon2id cost of a key store this messenger creates (tests lower it).
        self._opslimit = opslimit
        self._memlimit = memlimit
        self._password: str | None = None
        #: (version, plain key store) of the backup this device last matched.
        self._synced: tuple[int, bytes] | None = None
        #: The account's local store (cache + outbox), open once the key store is.
        self.local = None
        self.use_store = use_store
        #: False after the server could not be reached (the store answers meanwhile).
        self.online = True
        self._live: set[str] = set()
        self._delivered: dict[str, EventView] = {}
        self._refused: dict = {}
        #: sync_keys waits for the server (the app was unlocked with it unreachable).
        self._keys_pending = False

    def __repr__(self) -> str:
        who = self.identity.id if self.identity else None
        return f"Messenger(server={self.client.base_url!r}, identity={who!r}, acr={self.acr})"

    # === sessions ==================================================================

    @classmethod
    async def signup(
        cls,
        client: BoxClient,
        profile: Profile,
        email: str,
        password: str,
        display_name: str,
        code: str | None = None,
        **options: int,
    ) -> Messenger:
        """Create an account, log in with the password and create the key store.

        ``code``: a one-time code e-mailed by :meth:`request_code`, for servers that
        want signups to prove they own the e-mail."""
        await client.auth.signup(email, password, display_name, code)
        messenger = cls(client, None, profile, **options)
        await messenger.login_password(email, password)
        return messenger

    @classmethod
    async def resume(
        cls, client: BoxClient, profile: Profile, password: str | None = None, *, offline_ok: bool = False, **options: int
    ) -> Messenger:
        """Reuse the profile's saved session; with ``password`` also unlock the key store.

        Without a password the caller unlocks later (:meth:`unlock_keystore` in a
        thread, then :meth:`sync_keys`). :class:`NotLoggedIn` when there is no session
        for this server or it is no longer valid. With ``offline_ok`` an unreachable
        server is no error: the saved identity is used, :attr:`online` is False, and the
        local store answers until :meth:`sync` reaches the server.
        """
        saved = profile.session
        if saved is None or saved.server_url != client.base_url:
            raise NotLoggedIn("not logged in on this server")
        client.token = saved.token
        client.csrf_token = saved.csrf_token
        messenger = cls(client, None, profile, **options)
        try:
            info = await client.auth.session()
        except Unauthorized:
            profile.clear_session()
            raise NotLoggedIn("the saved session has expired") from None
        except APIConnectionError:
            if not offline_ok:
                raise
            messenger.identity = Identity.model_validate(saved.identity)
            messenger.acr = saved.acr
            messenger.online = False
            if password is not None:
                await asyncio.to_thread(messenger.unlock_keystore, password)
            return messenger
        messenger.identity = info.identity
        messenger.acr = info.acr
        if password is not None:
            backup = None
            if not KeyStore.exists(profile.keystore_path) and info.acr >= 2:
                backup = await client.keys.secret_storage_get()
            await asyncio.to_thread(messenger.unlock_keystore, password, backup)
            await messenger.sync_keys()
        return messenger

    async def login_password(self, email: str, password: str) -> Session:
        """Log in with the password (ACR 2): open or restore the key store, back it up."""
        session = await self.client.auth.login(email, password=password)
        self._adopt(session)
        backup = None
        if not KeyStore.exists(self.profile.keystore_path):
            backup = await self.client.keys.secret_storage_get()
        await asyncio.to_thread(self.unlock_keystore, password, backup)
        await self.sync_keys()
        return session

    async def request_code(self, email: str) -> None:
        """Have the server e-mail a one-time login code."""
        await self.client.auth.request_code(email)

    async def login_code(self, email: str, code: str) -> Session:
        """Log in with a one-time code (ACR 1). The key store stays locked: call
        :meth:`unlock_keystore` with its passphrase, then :meth:`sync_keys`."""
        session = await self.client.auth.login(email, code=code)
        self._adopt(session)
        return session

    async def logout(self) -> None:
        """Revoke the session and forget it; the key store stays on disk, sealed."""
        try:
            await self.client.auth.logout()
        finally:
            self.profile.clear_session()
            self.close_local()
            self.keystore = None
            self._password = None
            self.identity = None
            self.acr = 0

    def _adopt(self, session: Session) -> None:
        self.identity = session.identity
        self.acr = session.acr
        self.profile.save_session(
            SavedSession(
                token=session.access_token,
                csrf_token=session.csrf_token,
                identity=session.identity.model_dump(mode="json"),
                server_url=self.client.base_url,
                acr=session.acr,
                expires_at=session.expires_at,
            )
        )

    @property
    def identity_id(self) -> str:
        if self.identity is None:
            raise NotLoggedIn("not logged in")
        return self.identity.id

    # === the key store =============================================================

    def unlock_keystore(self, password: str, backup: SecretStorage | None = None) -> KeyStore:
        """Open this device's key store (slow: Argon2id; call it from a thread).

        Without a local store: restore it from ``backup`` (a ``SecretStorage``) when
        given, else create a new one. Raises ``WrongPassphrase`` when the password
        does not open it.
        """
        path = self.profile.keystore_path
        if KeyStore.exists(path):
            store = KeyStore.open(path, password)
        elif backup is not None:
            plain = _open_backup(backup.data, password)
            store = KeyStore.from_plain(path, password, plain, opslimit=self._opslimit, memlimit=self._memlimit)
            self._synced = (backup.version, plain)
        else:
            store = KeyStore.create(path, password, opslimit=self._opslimit, memlimit=self._memlimit)
        self.keystore = store
        self._password = password
        if self.use_store:
            self.open_local()
        return store

    def unlock_with_key(self, key) -> KeyStore:
        """Open the key store with a key derived earlier (an unlock agent's): no Argon2id.
        Merging a changed server backup still needs the password (:class:`KeyStoreLocked`)."""
        self.keystore = KeyStore.open_with_key(self.profile.keystore_path, key)
        if self.use_store:
            self.open_local()
        return self.keystore

    async def sync_keys(self) -> None:
        """After unlocking: merge and update the key backup (ACR 2), publish the
        identity public key, and take in pending crypto actions."""
        store = self._store()
        if self.use_store and self.local is None:
            await asyncio.to_thread(self.open_local)
        if not self.online and self.local is not None:
            # Started with the server down (resume with offline_ok): the store answers
            # meanwhile, and the first sync that reaches the server does this.
            self._keys_pending = True
            return
        if self.acr >= 2:
            await self._sync_backup()
        await self._publish_identity_key(store)
        await self.process_crypto_actions()
        self._keys_pending = False

    async def _publish_identity_key(self, store: KeyStore) -> None:
        me = await self.client.identities.me()
        published = me.public_key
        if published and store.identity_secret_key_for(_b64(published, "identity public key")) is not None:
            self.identity = me
            return
        if published and self.acr < 2:
            # A code login must not replace the key an account's other devices hold.
            self.identity = me
            return
        self.identity = await self.client.identities.update(me.id, public_key=b64u_encode(store.identity_public_key))

    async def _sync_backup(self) -> None:
        """Make the server's key backup hold everything this device knows (If-Match)."""
        store = self._store()
        for _ in range(_BACKUP_ATTEMPTS):
            remote = await self.client.keys.secret_storage_get()
            local_file = store.path.read_text(encoding="ascii")
            if remote is not None and remote.data != local_file:
                if self._synced is None or self._synced[0] != remote.version:
                    if self._password is None:
                        raise KeyStoreLocked("the key store is locked")
                    plain = await asyncio.to_thread(_open_backup, remote.data, self._password)
                    store.merge(plain)
                    self._synced = (remote.version, plain)
                if store.export_plain() == self._synced[1]:
                    return
                local_file = store.path.read_text(encoding="ascii")
            elif remote is not None:
                self._synced = (remote.version, store.export_plain())
                return
            try:
                version = await self.client.keys.secret_storage_put(local_file, remote.version if remote else None)
            except PreconditionFailed:
                continue
            self._synced = (version, store.export_plain())
            return
        raise MessengerError("could not back up the keys: the backup kept changing; try again")

    def _store(self) -> KeyStore:
        if self.keystore is None:
            raise KeyStoreLocked("the key store is locked: unlock it with your password")
        return self.keystore

    async def _remember_box_key(self, box_id: str, secret_key: bytes, invitation_share: bytes | None) -> None:
        store = self._store()
        before = store.export_plain()
        store.add_box_key(box_id, secret_key, invitation_share)
        if self.acr >= 2 and store.export_plain() != before:
            await self._sync_backup()

    def box_secret_key(self, box_id: str) -> bytes:
        """This device's secret key of a box, or :class:`NoBoxKey`."""
        key = self._store().box_secret_key(box_id)
        if key is None:
            raise NoBoxKey("this device has no key for this box (join it with an invitation link)")
        return key

    def box_public_key(self, box_id: str) -> bytes:
        return public_key_from_secret(self.box_secret_key(box_id))

    # === boxes =====================================================================

    async def list_boxes(self) -> list[BoxSummary]:
        """Joined boxes, most recent activity first, with a decrypted preview (stored as
        they come; from the store when the server cannot be reached)."""
        try:
            return await self._fetch_boxes()
        except APIConnectionError:
            if self.local is None:
                raise
            self.online = False
            return self.stored_boxes(include_left=False)

    async def create_box(self, title: str) -> BoxView:
        """A new box: fresh key pair, invitation link share, key stored and backed up."""
        pair = generate_box_keypair()
        invitation_share, server_share = split_secret_key(pair.secret_key)
        box = await self.client.boxes.create(
            title, b64u_encode(pair.public_key), _key_share(invitation_share, server_share, pair.public_key)
        )
        await self._remember_box_key(box.id, pair.secret_key, invitation_share)
        self._remember_boxes([BoxSummary(box=box, preview="", unread=0)], complete=False)
        return box

    async def get_box(self, box_id: str) -> BoxView:
        return await self.client.boxes.get(box_id)

    async def members(self, box_id: str) -> list[IdentityView]:
        return await self.client.boxes.members(box_id)

    async def accesses(self, box_id: str) -> list[AccessRule]:
        """The box's active access rules, newest first (admin, ACR 2)."""
        rules = []
        for event in await self.client.boxes.accesses(box_id):
            content = event.content or {}
            rules.append(
                AccessRule(
                    id=event.id,
                    restriction_type=str(content.get("restriction_type", "")),
                    value=str(content.get("value", "")),
                    auto_invite=bool(content.get("auto_invite", False)),
                )
            )
        return rules

    async def apply_access_batch(
        self, box_id: str, add: Sequence[AccessChange] = (), remove: Sequence[str] = ()
    ) -> BatchResult:
        """Add and remove access rules in one all-or-nothing batch.

        An auto-invite looks up the invitee's identity public key and seals the box
        key to it, so the invitee gets in without a link; someone without an account
        yet gets the rule alone (listed in ``not_invited``). Removing rules renews the
        invitation link afterwards, so a removed person's copy of it stops working.
        """
        if not add and not remove:
            raise MessengerError("nothing to change")
        events: list[dict] = []
        not_invited: list[str] = []
        for change in add:
            event: dict = {
                "type": "access.add",
                "content": {"restriction_type": change.restriction_type, "value": change.value},
            }
            extra = await self._auto_invite_extra(box_id, change) if change.auto_invite else None
            if extra is not None:
                event["content"]["auto_invite"] = True
                event["extra"] = extra
            elif change.auto_invite:
                not_invited.append(change.value)
            events.append(event)
        events.extend({"type": "access.rm", "referrer_id": rule_id} for rule_id in remove)
        result = await self.client.events.batch(box_id, events)
        if remove:
            try:
                await self._renew_invitation_share(box_id)
            except Exception as exc:  # noqa: BLE001 - said with what to do next
                raise MessengerError(
                    f"the access rules were changed, but the invitation link could not be renewed ({exc}): "
                    "renew it (boxtui invite BOX --rotate, or Rotate in the invitation dialog)"
                ) from exc
        return BatchResult(
            created=[e for e in result if e.type != "member.kick"],
            kicked=[e.sender for e in result if e.type == "member.kick"],
            not_invited=not_invited,
            link_rotated=bool(remove),
        )

    async def _auto_invite_extra(self, box_id: str, change: AccessChange) -> dict[str, str] | None:
        """The sealed box key for an auto-invitee, or None when they have no account yet."""
        if change.restriction_type != "identifier":
            raise MessengerError("only a person (e-mail address) can be auto-invited, not a whole domain")
        keys = await self.client.identities.pubkey(change.value)
        if not keys:
            return None
        invitee_key = keys[0]
        secret = self.box_secret_key(box_id)
        share = await self._invitation_share(box_id, secret)
        return {invitee_key: seal_auto_invite(share, secret, _b64(invitee_key, "invitee public key"))}

    async def set_lifecycle(self, box_id: str, closed: bool) -> EventView:
        return await self.client.events.post(box_id, "state.lifecycle", {"state": "closed" if closed else "open"})

    async def set_access_mode(self, box_id: str, public: bool) -> EventView:
        return await self.client.events.post(box_id, "state.access_mode", {"value": "public" if public else "limited"})

    async def leave(self, box_id: str) -> EventView:
        return await self.client.events.post(box_id, "member.leave")

    async def delete_box(self, box_id: str) -> None:
        await self.client.boxes.delete(box_id)

    async def ack(self, box_id: str) -> None:
        """Everything in the box is read (the server's unread count, and the stored one
        the app paints at the next start, go to 0)."""
        await self.client.boxes.ack(box_id)
        self._store_quietly(lambda: self.local.cache.update_box(box_id, unread=0))

    # === timeline ==================================================================

    async def timeline_page(
        self,
        box_id: str,
        *,
        before: str | None = None,
        after: str | None = None,
        tail: bool = False,
        limit: int = 100,
    ) -> list[TimelineEntry]:
        """One page of the box's events, oldest first, each decrypted (in a thread:
        a page of a few hundred messages is tens of milliseconds of NaCl) and stored;
        from the store when the server cannot be reached."""
        try:
            events = await self.client.events.list(box_id, before=before, after=after, tail=tail, limit=limit)
        except APIConnectionError:
            if self.local is None:
                raise
            self.online = False
            return self.stored_page(box_id, before=before, after=after, limit=limit)
        entries = await asyncio.to_thread(lambda: [self.decrypt_event(event) for event in events])
        self._remember_page(box_id, entries, before=before, after=after, tail=tail or (before is None and after is None))
        return entries

    async def all_events(self, box_id: str) -> list[TimelineEntry]:
        """Every event of the box, oldest first, decrypted."""
        return [self.decrypt_event(event) async for event in self.client.events.iterate(box_id)]

    def decrypt_event(self, event: EventView) -> TimelineEntry:
        """The event with its text or file metadata opened (sync, cheap); never raises.

        A raw ``msg.edit`` (realtime) gets the new text of the message it refers to.
        """
        kind = event.type
        if kind not in _SEALED_TYPES:
            return TimelineEntry(event)
        content = event.content or _NO_CONTENT
        if "deleted" in content:
            return TimelineEntry(event)
        keystore = self.keystore
        secret = keystore.box_secret_key(event.box_id) if keystore is not None else None
        if secret is None:
            return TimelineEntry(event, error="no key for this box" if keystore is not None else "key store locked")
        encrypted = content.get("new_encrypted" if kind == "msg.edit" else "encrypted")
        if not isinstance(encrypted, str):
            return TimelineEntry(event, error=CANNOT_DECRYPT)
        try:
            if kind != "msg.file":
                return TimelineEntry(event, open_text(encrypted, secret))
            return TimelineEntry(event, file=open_file_metadata(encrypted, secret))
        except CryptoError:
            return TimelineEntry(event, error=CANNOT_DECRYPT)

    async def count_events(self, box_id: str) -> int:
        return await self.client.events.count(box_id)

    async def get_event(self, event_id: str) -> TimelineEntry:
        if self.local is not None and (stored := self.local.cache.event(event_id)) is not None:
            if stored.text is not None or stored.file is not None:
                from .local import entry_of

                return entry_of(stored)
        return self.decrypt_event(await self.client.events.get(event_id))

    # === messages ==================================================================

    async def send_text(self, box_id: str, text: str, reply_to: str | None = None) -> EventView:
        """Seal the text, queue it in the outbox (durable), send the outbox in order.

        Returns the event; raises :class:`~boxtui.messenger.sync.Queued` when the server
        cannot be reached (the message goes out, once, with a later flush)."""
        public = self.box_public_key(box_id)
        content = {"encrypted": seal_text(text, public), "public_key": b64u_encode(public)}
        if self.local is None:
            return await self.client.events.post(box_id, "msg.text", content, referrer_id=reply_to)
        body = {"type": "msg.text", "content": content}
        if reply_to is not None:
            body["referrer_id"] = reply_to
        local_id = await asyncio.to_thread(self._queue, box_id, "text", body, text)
        return await self._send_now(local_id)

    async def edit_text(self, box_id: str, event_id: str, text: str) -> EventView:
        public = self.box_public_key(box_id)
        content = {"new_encrypted": seal_text(text, public), "new_public_key": b64u_encode(public)}
        return await self.client.events.post(box_id, "msg.edit", content, referrer_id=event_id)

    async def delete_message(self, box_id: str, event_id: str) -> EventView:
        return await self.client.events.post(box_id, "msg.delete", referrer_id=event_id)

    async def forward(self, event_id: str, box_ids: Sequence[str]) -> list[EventView]:
        """Copy a message into other boxes, re-encrypted for each (a file's blob is reused)."""
        if not box_ids:
            raise MessengerError("forward to which box?")
        entry = await self.get_event(event_id)
        if not entry.is_message or entry.deleted:
            raise MessengerError("only a message can be forwarded")
        if entry.error:
            raise MessengerError(f"cannot forward this message: {entry.error}")
        targets = []
        for box_id in box_ids:
            public = self.box_public_key(box_id)
            if entry.file is not None:
                encrypted = seal_file_metadata(entry.file, public)
            else:
                encrypted = seal_text(entry.text or "", public)
            targets.append({"box_id": box_id, "content": {"encrypted": encrypted, "public_key": b64u_encode(public)}})
        return await self.client.events.share(event_id, targets)

    async def import_email(self, box_id: str, path_or_bytes: str | os.PathLike | bytes) -> list[EventView]:
        """Post an ``.eml`` message, encrypted on this device: a ``msg.text`` with
        From, Subject and the body, then each attachment as a ``msg.file`` replying to it."""
        raw = path_or_bytes if isinstance(path_or_bytes, bytes) else _read_file(Path(path_or_bytes))
        parsed = parse_email(raw)
        text_event = await self.send_text(box_id, parsed.text)
        events = [text_event]
        for attachment in parsed.attachments:
            events.append(
                await self._upload_bytes(box_id, attachment.data, attachment.file_name, attachment.file_type, None, text_event.id)
            )
        return events

    # === files =====================================================================

    async def upload_file(
        self, box_id: str, path: str | os.PathLike, progress: ProgressCallback | None = None, reply_to: str | None = None
    ) -> EventView:
        """Encrypt a file on this device and post it to the box as a ``msg.file``."""
        path = Path(path)
        data = await asyncio.to_thread(_read_file, path)
        return await self._upload_bytes(box_id, data, path.name, _guess_type(path.name), progress, reply_to)

    async def _upload_bytes(
        self,
        box_id: str,
        data: bytes,
        name: str,
        file_type: str,
        progress: ProgressCallback | None,
        reply_to: str | None,
    ) -> EventView:
        public = self.box_public_key(box_id)
        blob, key = await asyncio.to_thread(encrypt_file, data)
        meta = FileMetadata(file_name=name, file_size=len(data), file_type=file_type, key=key)
        if self.local is None:
            return await self.client.files.upload(
                box_id,
                blob,
                msg_encrypted_content=seal_file_metadata(meta, public),
                msg_public_key=b64u_encode(public),
                referrer_id=reply_to,
                progress=progress,
            )
        body = {
            "msg_encrypted_content": seal_file_metadata(meta, public),
            "msg_public_key": b64u_encode(public),
            "file": meta.to_json(),
        }
        if reply_to is not None:
            body["referrer_id"] = reply_to
        local_id = await asyncio.to_thread(self._queue, box_id, "file", body, name, blob)
        self._upload_progress = progress
        try:
            return await self._send_now(local_id)
        finally:
            self._upload_progress = None

    async def download_file(
        self,
        event: EventView | str,
        dest: str | os.PathLike | None = None,
        progress: ProgressCallback | None = None,
    ) -> Path:
        """Download and decrypt a ``msg.file`` (an event or its id) into ``dest``.

        ``dest`` is a folder (default: the profile's downloads folder) or a file path;
        an existing file is never replaced: ``name (1).ext`` is picked instead.
        """
        entry = await self.get_event(event) if isinstance(event, str) else self.decrypt_event(event)
        meta = _file_of(entry)
        file_id = str((entry.event.content or {}).get("encrypted_file_id", ""))
        return await self._fetch_decrypt_write(file_id, meta, dest, progress)

    async def _fetch_decrypt_write(
        self, file_id: str, meta: FileMetadata, dest: str | os.PathLike | None, progress: ProgressCallback | None
    ) -> Path:
        blob = await self.client.files.download_bytes(file_id, progress)
        try:
            data = await asyncio.to_thread(decrypt_file, blob, meta.key)
        except CryptoError:
            raise MessengerError("the downloaded file cannot be decrypted: it was damaged or tampered with") from None
        if dest is None:
            dest = self.profile.downloads_dir
            dest.mkdir(parents=True, exist_ok=True)
        # A cancel during the write must not leave the file behind: wait for the thread, then remove it.
        writing = asyncio.ensure_future(asyncio.to_thread(write_new_file, Path(dest), meta.file_name, data))
        try:
            return await asyncio.shield(writing)
        except asyncio.CancelledError:
            with contextlib.suppress(Exception):
                (await writing).unlink()
            raise

    async def save_file(self, event: EventView | str) -> SavedFile:
        """Keep a box's file in the saved files, its metadata sealed with the vault key."""
        entry = await self.get_event(event) if isinstance(event, str) else self.decrypt_event(event)
        meta = _file_of(entry)
        vault_key = self._store().vault_key
        return await self.client.saved_files.create(
            encrypted_file_id=str((entry.event.content or {}).get("encrypted_file_id", "")),
            identity_id=self.identity_id,
            encrypted_metadata=seal_saved_metadata(meta, vault_key),
            key_fingerprint=key_fingerprint(vault_key),
        )

    async def list_saved(self) -> list[SavedEntry]:
        """Saved files, newest first, with their metadata opened where this device can
        (the listing is kept in the local store for ``boxtui saved ls``)."""
        entries = [self._open_saved(saved) async for saved in self.client.saved_files.iterate(self.identity_id)]
        if self.local is not None:
            import json

            from .reader import SAVED_META

            listing = [
                {
                    "id": e.saved.id,
                    "size": e.meta.file_size if e.meta else "?",
                    "name": e.meta.file_name if e.meta else f"[{e.error}]",
                    "created_at": e.saved.created_at,
                }
                for e in entries
            ]
            self._store_quietly(lambda: self.local.cache.set_meta(SAVED_META, json.dumps(listing)))
        return entries

    def _open_saved(self, saved: SavedFile) -> SavedEntry:
        key = self._store().vault_key_for(saved.key_fingerprint)
        if key is None:
            return SavedEntry(saved, None, "sealed with a vault key this device does not have")
        try:
            return SavedEntry(saved, open_saved_metadata(saved.encrypted_metadata, key))
        except CryptoError:
            return SavedEntry(saved, None, CANNOT_DECRYPT)

    async def count_saved(self) -> int:
        return await self.client.saved_files.count(self.identity_id)

    async def upload_saved(self, path: str | os.PathLike, progress: ProgressCallback | None = None) -> SavedFile:
        """Encrypt a local file straight into the saved files."""
        path = Path(path)
        data = await asyncio.to_thread(_read_file, path)
        blob, key = await asyncio.to_thread(encrypt_file, data)
        meta = FileMetadata(file_name=path.name, file_size=len(data), file_type=_guess_type(path.name), key=key)
        vault_key = self._store().vault_key
        return await self.client.saved_files.upload_direct(
            self.identity_id,
            blob,
            encrypted_metadata=seal_saved_metadata(meta, vault_key),
            key_fingerprint=key_fingerprint(vault_key),
            progress=progress,
        )

    async def download_saved(
        self, saved_id: str, dest: str | os.PathLike | None = None, progress: ProgressCallback | None = None
    ) -> Path:
        """Download and decrypt a saved file (same ``dest`` rules as :meth:`download_file`)."""
        async for saved in self.client.saved_files.iterate(self.identity_id):
            if saved.id == saved_id:
                entry = self._open_saved(saved)
                if entry.meta is None:
                    raise MessengerError(f"cannot open this saved file: {entry.error}")
                return await self._fetch_decrypt_write(saved.encrypted_file_id, entry.meta, dest, progress)
        raise MessengerError(f"no saved file {saved_id}")

    async def delete_saved(self, saved_id: str) -> None:
        await self.client.saved_files.delete(saved_id)

    # === invitations ===============================================================

    async def _invitation_share(self, box_id: str, secret: bytes) -> bytes:
        """The box's current link share: from the server (authoritative), else stored."""
        encrypted = await self.client.keys.encrypted_invitation_key_share(box_id)
        if encrypted is not None:
            try:
                share = open_invitation_key_share(encrypted, secret)
            except CryptoError:
                share = None
            if share is not None:
                await self._remember_box_key(box_id, secret, share)
                return share
        stored = self._store().box_invitation_share(box_id)
        if stored is None:
            raise MessengerError("this box has no invitation link yet: create one with rotate")
        return stored

    async def invitation_link(self, box_id: str) -> str:
        """The box's invitation link (``boxtui://…#share``)."""
        share = await self._invitation_share(box_id, self.box_secret_key(box_id))
        return make_invitation_link(self.client.base_url, box_id, share)

    async def rotate_invitation(self, box_id: str) -> str:
        """A new invitation link; every earlier link stops working (admin)."""
        return make_invitation_link(self.client.base_url, box_id, await self._renew_invitation_share(box_id))

    async def _renew_invitation_share(self, box_id: str) -> bytes:
        secret = self.box_secret_key(box_id)
        invitation_share, server_share = split_secret_key(secret)
        await self.client.events.post(
            box_id,
            "state.key_share",
            extra=_key_share(invitation_share, server_share, public_key_from_secret(secret)),
        )
        await self._remember_box_key(box_id, secret, invitation_share)
        return invitation_share

    async def join_link(self, link: str) -> BoxView:
        """Join a box from an invitation link and keep its key."""
        try:
            parsed = parse_invitation_link(link)
        except InvalidInvitationLink as exc:
            raise MessengerError(f"bad invitation link: {exc}") from None
        if parsed.server_url.rstrip("/") != self.client.base_url:
            raise MessengerError(f"this link is for the server {parsed.server_url}, not {self.client.base_url}")
        hash_ = share_hash(parsed.share)
        try:
            preview = await self.client.boxes.public(parsed.box_id, hash_)
        except (NotFound, Forbidden):
            raise MessengerError("this invitation link is no longer valid (it was renewed or the box is gone)") from None
        try:
            await self.client.events.post(parsed.box_id, "member.join")
        except Conflict:
            pass  # already a member: still take the key
        except Forbidden as exc:
            if exc.details.get("reason") != "no_access":
                raise
            me = self.identity.identifier_value if self.identity and self.identity.identifier_value else "your e-mail"
            raise MessengerError(
                f"“{preview.title}” is limited to the people its access rules name: ask "
                f"{preview.creator.display_name or 'its admin'} to add {me}, or to make the box public"
            ) from None
        server_share = await self.client.keys.key_share(hash_)
        secret = combine_shares(parsed.share, _b64(server_share.share, "server key share"))
        box = await self.client.boxes.get(parsed.box_id)
        if public_key_from_secret(secret) != _b64(box.public_key, "box public key"):
            raise MessengerError("the invitation link does not give this box's key (damaged link?)")
        await self._remember_box_key(box.id, secret, parsed.share)
        return box

    async def process_crypto_actions(self) -> list[str]:
        """Take in auto-invitations and renewed link shares; return the boxes concerned.

        An auto-invitation joins the box. An action this device cannot open (sealed to
        a key it does not hold) is left for another device.
        """
        store = self._store()
        done: list[str] = []
        for action in await self.client.keys.crypto_actions():
            try:
                if action.type == "invitation":
                    identity_key = store.identity_secret_key
                    if action.encryption_public_key:
                        identity_key = store.identity_secret_key_for(
                            _b64(action.encryption_public_key, "identity public key")
                        )
                    if identity_key is None:
                        continue
                    share, secret = open_auto_invite(action.encrypted, identity_key)
                    with contextlib.suppress(Conflict):
                        await self.client.events.post(action.box_id, "member.join")
                    box = await self.client.boxes.get(action.box_id)
                    if public_key_from_secret(secret) == _b64(box.public_key, "box public key"):
                        await self._remember_box_key(action.box_id, secret, share)
                        done.append(action.box_id)
                else:
                    secret = store.box_secret_key(action.box_id)
                    if secret is None:
                        continue
                    share = open_invitation_key_share(action.encrypted, secret)
                    await self._remember_box_key(action.box_id, secret, share)
                    done.append(action.box_id)
            except (CryptoError, MessengerError):
                continue  # not for this device's keys
            except (Forbidden, NotFound):
                pass  # the box is gone or no longer ours: drop the action
            await self.client.keys.delete_crypto_action(action.id)
        return done

    # === realtime ==================================================================

    def realtime(self, **options):
        """The client's realtime subscription for this identity."""
        return self.client.realtime(self.identity_id, **options)


# --- helpers ----------------------------------------------------------------------


def _key_share(invitation_share: bytes, server_share: bytes, box_public_key: bytes) -> dict[str, str]:
    return {
        "misakey_share": b64u_encode(server_share),
        "other_share_hash": share_hash(invitation_share),
        "encrypted_invitation_key_share": seal_invitation_key_share(invitation_share, box_public_key),
    }


def _b64(text: str, what: str) -> bytes:
    try:
        return b64_decode_any(text)
    except ValueError:
        raise MessengerError(f"the server sent a malformed {what}") from None


def _open_backup(data: str, password: str) -> bytes:
    try:
        return open_with_password(data, password)
    except WrongPassphrase:
        raise MessengerError(
            "the key backup on the server does not open with this password (sealed with an older one?)"
        ) from None
    except KeyStoreCorrupted as exc:
        raise MessengerError(f"the key backup on the server is damaged: {exc}") from None


def _file_of(entry: TimelineEntry) -> FileMetadata:
    if entry.event.type != "msg.file" or entry.deleted:
        raise MessengerError("this message is not a file")
    if entry.file is None:
        raise MessengerError(f"cannot open this file: {entry.error or CANNOT_DECRYPT}")
    return entry.file


def _read_file(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except IsADirectoryError:
        raise MessengerError(f"{path} is a folder, not a file") from None
    except OSError as exc:
        raise MessengerError(f"cannot read {path}: {exc.strerror or exc}") from None


def _guess_type(name: str) -> str:
    return mimetypes.guess_type(name)[0] or "application/octet-stream"
