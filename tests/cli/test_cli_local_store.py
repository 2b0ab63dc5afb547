"""The CLI on the local store, against a real ``boxtui serve`` process that is stopped,
restarted and frozen: read verbs answer from the store (no password once unlocked),
the store file holds no plaintext, a message written while the server is down arrives
exactly once when it is back, and so does one whose sender was killed (-9) mid-send."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import threading

import pytest

from tests.server.helpers import free_port, serve_process

from .conftest import clean_env

pytestmark = pytest.mark.e2e


def _events(user, box: str) -> list[str]:
    out = user.ok("events", box, "--sync")
    return [line.split("\t")[3] for line in out.splitlines()]


def test_offline_reads_search_and_queue_then_exactly_once(tmp_path, profiles):
    data = tmp_path / "server-data"
    port = free_port()
    ada = profiles("ada")
    with serve_process(data, port=port) as url:
        ada.ok("signup", "--server", url, "--email", "ada@example.org", "--name", "Ada")
        ada.ok("create-box", "Field notes")
        ada.ok("send", "Field notes", "the river is high today")
        unlocked = ada.run("unlock", "--minutes", "5")
        assert unlocked.code == 0, unlocked.err
        # unlocked: no password needed, answered from the store
        boxes = ada.run("boxes", password=False)
        assert boxes.code == 0, boxes.err
        assert "Field notes" in boxes.out and "the river is high today" in boxes.out
        # the store on disk: private, and no plaintext anywhere in it
        store_files = [p for p in (ada.home / "store").rglob("*") if p.is_file()]
        assert store_files
        for path in store_files:
            assert path.stat().st_mode & 0o777 == 0o600
            assert b"river" not in path.read_bytes() and b"Field notes" not in path.read_bytes()
        assert (ada.home / "agent.sock").stat().st_mode & 0o777 == 0o600
        for folder in [ada.home / "store", *(p for p in (ada.home / "store").rglob("*") if p.is_dir())]:
            assert folder.stat().st_mode & 0o777 == 0o700, folder
    # the server is down now
    found = ada.run("search", "river", password=False)
    assert found.code == 0, found.err
    assert "Field notes" in found.out and "[river]" in found.out
    events = ada.run("events", "Field notes", password=False)
    assert "the river is high today" in events.out
    queued = ada.run("send", "Field notes", "written while the server was down")
    assert queued.code == 0 and queued.out == "", queued.err
    assert "queued" in queued.err
    with serve_process(data, port=port):
        assert ada.run("sync").code == 0
        texts = _events(ada, "Field notes")
        assert texts.count("written while the server was down") == 1
        assert texts[-2:] == ["the river is high today", "written while the server was down"]
        ada.run("sync")
        assert _events(ada, "Field notes").count("written while the server was down") == 1
        assert ada.run("lock", password=False).code == 0
        locked = ada.run("boxes", password=False)
        assert locked.code == 1 and "password" in locked.err  # no key kept any more


class AnswerEater:
    """A TCP proxy in front of the server that, once armed, lets a request to create an
    event through to the server but never passes its answer back (and says so)."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.armed = False
        self.eaten = threading.Event()
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
            state = {"eat": False}
            threading.Thread(target=self._pipe, args=(client, upstream, state, True), daemon=True).start()
            threading.Thread(target=self._pipe, args=(upstream, client, state, False), daemon=True).start()

    def _pipe(self, source: socket.socket, dest: socket.socket, state: dict, outgoing: bool) -> None:
        try:
            while data := source.recv(65536):
                if outgoing and self.armed and b"POST /boxes/" in data and b"/events " in data:
                    state["eat"] = True
                if not outgoing and state["eat"]:
                    self.eaten.set()  # the server answered; the answer goes nowhere
                    continue
                dest.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, dest):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self.server.close()


def test_kill_9_between_send_and_answer_sends_once(tmp_path, profiles):
    data = tmp_path / "server-data"
    ada = profiles("ada")
    with serve_process(data) as url:
        proxy = AnswerEater(int(url.rsplit(":", 1)[1]))
        via_proxy = f"http://127.0.0.1:{proxy.port}"
        try:
            ada.ok("signup", "--server", via_proxy, "--email", "ada@example.org", "--name", "Ada")
            ada.ok("create-box", "Once")
            ada.ok("sync")
            proxy.armed = True
            env = clean_env(BOXTUI_HOME=str(ada.home), BOXTUI_PASSWORD=ada.password)
            sender = subprocess.Popen(
                [sys.executable, "-m", "boxtui", "send", "Once", "sent exactly once"],
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
            )  # fmt: skip
            assert proxy.eaten.wait(60), "the send never reached the server"
            sender.kill()  # SIGKILL: the server committed the event, the sender never heard
            sender.wait()
            proxy.armed = False
            ada.ok("sync")  # the outbox sends it again, with the same Idempotency-Key
            assert _events(ada, "Once").count("sent exactly once") == 1
            ada.ok("sync")
            assert _events(ada, "Once").count("sent exactly once") == 1
        finally:
            proxy.close()


def test_kill_9_during_sync_and_backfill_loses_and_doubles_nothing(tmp_path, profiles):
    """A sync and a backfill killed part-way (SIGKILL) leave a store that the next run
    completes: every event once, in order."""
    import asyncio

    from boxtui.client.client import BoxClient
    from boxtui.messenger.messenger import Messenger
    from boxtui.messenger.profile import Profile
    from tests.conftest import PASSWORD

    data = tmp_path / "server-data"
    ada = profiles("ada")
    with serve_process(data) as url:
        ada.ok("signup", "--server", url, "--email", "ada@example.org", "--name", "Ada")
        box_id = ada.ok("create-box", "History").strip()

        async def fill() -> int:
            async with BoxClient(url) as client:
                messenger = await Messenger.resume(client, Profile.load(ada.home), PASSWORD, use_store=False)
                for i in range(1200):
                    await messenger.send_text(box_id, f"event {i:04d}")
                return await messenger.count_events(box_id)

        total = asyncio.run(fill())
        env = clean_env(BOXTUI_HOME=str(ada.home), BOXTUI_PASSWORD=ada.password)
        for verb in (["sync"], ["backfill", "History"]):
            process = subprocess.Popen([sys.executable, "-m", "boxtui", *verb], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
            wal = None
            for _ in range(600):  # until it has written to the store: then kill it mid-way
                wal = next((ada.home / "store").glob("*/cache.db-wal"), None)
                if (wal is not None and wal.stat().st_size > 64 * 1024) or process.poll() is not None:
                    break
                threading.Event().wait(0.02)
            process.kill()
            process.wait()
        ada.ok("backfill", "History")  # the next run completes what was cut
        assert ada.run("unlock").code == 0
        try:
            texts = [line.split("\t")[3] for line in ada.run("events", "History", password=False).out.splitlines()]
        finally:
            ada.run("lock")
        messages = [t for t in texts if t.startswith("event ")]
        assert messages == [f"event {i:04d}" for i in range(1200)]
        assert len(texts) == total


def test_a_damaged_page_met_by_a_read_verb_is_set_aside_and_answered_by_the_server(tmp_path, profiles):
    """The cache's pages damaged past the first (it still opens; reading events finds it):
    the unlocked `events` says the cache was set aside (kept), answers from the server all
    the same, and answers from the store again once a sync has filled the new cache."""
    data = tmp_path / "server-data"
    ada = profiles("ada")
    with serve_process(data, port=free_port()) as url:
        ada.ok("signup", "--server", url, "--email", "ada@example.org", "--name", "Ada")
        ada.ok("create-box", "Ledger")
        for i in range(3):
            ada.ok("send", "Ledger", f"entry {i}")
        ada.ok("sync")
        before = _events(ada, "Ledger")
        assert ada.run("unlock", "--minutes", "5").code == 0
        try:
            _damaged_page_checks(ada, before)
        finally:
            ada.run("lock")  # the agent does not outlive the test


def _damaged_page_checks(ada, before) -> None:
    """The part of the test above run while the unlock agent is up."""
    (folder,) = (ada.home / "store").iterdir()
    cache = folder / "cache.db"
    raw = bytearray(cache.read_bytes())
    for offset in range(4096, len(raw), 4096):  # every page but the first (the schema)
        raw[offset + 200] ^= 0xFF
    cache.write_bytes(bytes(raw))
    for wal in folder.glob("cache.db-wal"):
        wal.unlink()
    info = ada.run("cache", "info")  # counting meets the damage too: set aside, said
    assert info.code == 0 and "set aside" in info.err, info.err
    assert list(folder.glob("cache.db.damaged-*"))
    for damaged in folder.glob("cache.db.damaged-*"):
        damaged.unlink()
    cache.write_bytes(bytes(raw))  # damaged again, for the read verb
    for wal in folder.glob("cache.db-wal"):
        wal.unlink()
    answered = ada.run("events", "Ledger", password=False)
    assert answered.code == 0, answered.err
    assert "was set aside" in answered.err
    assert [line.split("\t")[3] for line in answered.out.splitlines()] == before
    assert list(folder.glob("cache.db.damaged-*"))
    assert ada.run("sync", password=False).code == 0
    again = ada.run("events", "Ledger", password=False)
    assert again.code == 0 and "set aside" not in again.err
    assert [line.split("\t")[3] for line in again.out.splitlines()] == before
