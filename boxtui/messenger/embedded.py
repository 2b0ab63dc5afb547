"""The host's local server: one ``boxtui serve`` that every profile and every Unix user finds.

With no server configured, the app and the CLI use the boxtui server answering at the
default address, ``127.0.0.1:8642`` (``$BOXTUI_LOCAL_SERVER`` moves it: tests do), or
start one there, detached from the terminal, with its data in this Unix user's data
dir (``~/.local/share/boxtui/server``). A server counts only when ``GET /server-info``
says ``"service": "boxtui"``.

When another program holds the default port, the server goes to the first free port
of the next :data:`FALLBACK_PORTS`, and this user's ``local-server.json`` remembers it
(with the pid and data dir): it restarts there, so sessions and links stay valid.
Everyone else finds it by looking at the default port, then at that range.

Two clients starting it at once: one user's clients take a lock file; two users race
for the port itself, and the one whose server cannot bind uses the winner's.

The server belongs to the Unix user who started it (its data is in their folder):
only they can stop or restart it. A client whose session is on a local server that
is not running and not its user's does not start an empty one in its place: it says
whose it is and how to get it back.
"""

from __future__ import annotations

import contextlib
import fcntl
import http.client
import ipaddress
import json
import os
import pwd
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import platformdirs

from .errors import LocalServerError
from .profile import Profile, SavedSession, write_private_file

__all__ = [
    "ADDRESS_ENV",
    "DEFAULT_ADDRESS",
    "FALLBACK_PORTS",
    "LocalServer",
    "LocalServerFacts",
    "LocalServerStatus",
    "LocalServerURL",
    "choose_server",
    "ensure_local_server",
    "local_server_facts",
    "local_server_status",
    "server_info",
    "stop_local_server",
]

DEFAULT_ADDRESS = "127.0.0.1:8642"
#: ``host:port`` (or ``http://host:port``) of the host's local server, instead of the default.
ADDRESS_ENV = "BOXTUI_LOCAL_SERVER"
#: Ports tried after the default one when another program holds it.
FALLBACK_PORTS = 20
START_TIMEOUT_SECONDS = 60.0
#: How long a port held by a server still starting (another user's) is given to answer.
RACE_WAIT_SECONDS = 5.0
_SECRET_ENV = ("BOXTUI_PASSWORD",)


@dataclass(frozen=True)
class LocalServer:
    """Where the host's local server is looked for, and where this user keeps one.

    ``home`` holds ``local-server.json`` (url, pid, data dir of the server this user
    started), ``local-server.log``, the start lock and ``server/`` (the data).
    """

    host: str
    port: int
    home: Path
    #: A throwaway server (:meth:`private`): only the one it started counts, never another
    #: boxtui server on a neighbouring port (a test's, a benchmark's), and no fallback ports.
    only_own: bool = False

    @classmethod
    def default(cls) -> LocalServer:
        """The default address (or ``$BOXTUI_LOCAL_SERVER``) and this user's data dir."""
        host, port = parse_address(os.environ.get(ADDRESS_ENV) or DEFAULT_ADDRESS)
        return cls(host, port, Path(platformdirs.user_data_dir("boxtui")))

    @classmethod
    def private(cls, home: Path) -> LocalServer:
        """A throwaway server on a free loopback port with every file under ``home``
        (scripts and benchmarks that must not touch the host's server)."""
        return cls("127.0.0.1", _free_port(), Path(home), only_own=True)

    @property
    def url(self) -> str:
        return _url(self.host, self.port)

    @property
    def data_dir(self) -> Path:
        return self.home / "server"

    @property
    def state_path(self) -> Path:
        return self.home / "local-server.json"

    @property
    def log_path(self) -> Path:
        return self.home / "local-server.log"

    @property
    def outbox_dir(self) -> Path:
        return self.data_dir / "outbox"

    def candidate_urls(self) -> list[str]:
        """The default address, then the fallback ports (a private server: its own port)."""
        if self.only_own:
            return [_url(self.host, self.port)]
        return [_url(self.host, port) for port in range(self.port, min(self.port + 1 + FALLBACK_PORTS, 65536))]

    def is_local_url(self, url: str) -> bool:
        """Whether ``url`` is where this host's local server lives or may live."""
        url = url.rstrip("/")
        state = _read_state(self)
        return url in self.candidate_urls() or (state is not None and url == state.url)


def parse_address(text: str) -> tuple[str, int]:
    """``host:port`` or ``http://host:port`` → (host, port); a loopback host only."""
    raw = text.strip().removeprefix("http://").rstrip("/")
    host, sep, port_text = raw.rpartition(":")
    host = host.strip("[]")
    problem = f"{ADDRESS_ENV}={text!r}: expected a loopback host:port such as {DEFAULT_ADDRESS}"
    if not sep or not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise LocalServerError(problem)
    if host != "localhost":
        try:
            if not ipaddress.ip_address(host).is_loopback:
                raise LocalServerError(problem)
        except ValueError:
            raise LocalServerError(problem) from None
    return host, int(port_text)


class LocalServerURL(str):
    """The local server's base URL, with what finding it involved.

    ``started``: this call started it. ``note``: something the user should hear (the
    default port was held by another program, the server moved). ``data_dir``: where
    its data is, when this user runs it (else None).
    """

    started: bool
    pid: int
    note: str
    data_dir: Path | None

    def __new__(cls, url: str, *, pid: int = 0, started: bool = False, note: str = "", data_dir: Path | None = None) -> LocalServerURL:
        value = super().__new__(cls, url)
        value.started, value.pid, value.note, value.data_dir = started, pid, note, data_dir
        return value

    def announcement(self) -> str:
        """What to tell the user (empty when the server was simply found running)."""
        lines = [self.note] if self.note else []
        if self.started:
            lines.append(f"Started the local server at {self} (data in {self.data_dir}); `boxtui server stop` stops it.")
        return "\n".join(lines)


# --- choosing a server ---------------------------------------------------------------


def choose_server(
    profile: Profile, override: str | None = None, *, start: bool = True, local: LocalServer | None = None
) -> str | None:
    """The server to talk to: ``override`` (``--server``), else the configured one, else
    the server of the saved session or of the last login, else the host's local server.

    A local server that is not running is started (when ``start``) — at the address
    the session knows, so it stays valid. ``start=False`` answers None instead.
    """
    for url in (override, profile.server_url):
        if url:
            return url.rstrip("/")
    local = local or LocalServer.default()
    known = profile.session.server_url if profile.session else profile.last_server_url
    if known and not local.is_local_url(known):
        return known
    if not start:
        if known:
            return known if _listening(known) and server_info(known) is not None else None
        return find_local_server(local)
    found = ensure_local_server(local, at=known)
    if known and found != known:
        _follow_move(profile, known, found)
    return found


def _follow_move(profile: Profile, old: str, new: str) -> None:
    """This user's server moved to another port: keep the profile's session on it."""
    session = profile.session
    if session is not None and session.server_url == old:
        profile.save_session(
            SavedSession(session.token, session.csrf_token, session.identity, str(new), session.acr, session.expires_at)
        )


def find_local_server(local: LocalServer | None = None) -> LocalServerURL | None:
    """The running local server (this user's first, then the default address and the
    fallback ports), or None."""
    local = local or LocalServer.default()
    state = _read_state(local)
    if local.only_own:  # a private one is only ever the server it started (its record, its process)
        order = [state.url] if state and _is_boxtui_process(state.pid) else []
    else:
        order = ([state.url] if state else []) + local.candidate_urls()
    seen: set[str] = set()
    for url in order:
        if url in seen:
            continue
        seen.add(url)
        if _listening(url) and server_info(url) is not None:
            return _found(url, state)
    return None


def ensure_local_server(
    local: LocalServer | None = None, *, at: str | None = None, timeout: float = START_TIMEOUT_SECONDS
) -> LocalServerURL:
    """The running local server, started when none answers.

    ``at``: the local address a session was made on. If nothing answers there, only
    its owner (this user, per ``local-server.json``) starts it again; anyone else gets
    a :class:`LocalServerError` saying whose it is. Without ``at``, the first boxtui
    server found is used, else this user's is started.
    """
    local = local or LocalServer.default()
    with _lock(local):
        state = _read_state(local)
        if at is not None:
            at = at.rstrip("/")
            if _listening(at) and server_info(at) is not None:
                return _found(at, state)
            if _owns(local, state, at):
                return _start(local, _port_of(at), timeout)
            moved = find_local_server(local)  # its owner restarted it on another port?
            if moved is None:
                raise LocalServerError(_not_yours(at, local))
            moved.note = f"The local server is no longer at {at}: it now answers at {moved}."
            return moved
        found = find_local_server(local)
        if found is not None:
            return found
        return _start(local, state.port if state else local.port, timeout)


def _owns(local: LocalServer, state: _State | None, url: str) -> bool:
    if state is not None:
        return state.url == url
    # No record (first run, or a lost file): the default address is ours if our data is there.
    return url == local.url and (local.data_dir / "boxtui.db").exists()


def _not_yours(url: str, local: LocalServer) -> str:
    return (
        f"the local server at {url}, where you logged in, is not running, and it is not yours "
        f"(it keeps its data in the folder of the Unix user who started it): ask them to run "
        f"`boxtui server start`; or run `boxtui server start` to start a new, empty server of "
        f"your own (data in {local.data_dir}), then log in there"
    )


def _found(url: str, state: _State | None) -> LocalServerURL:
    if state is not None and state.url == url and _is_boxtui_process(state.pid):
        return LocalServerURL(url, pid=state.pid, data_dir=state.data_dir)
    return LocalServerURL(url)


# --- starting ------------------------------------------------------------------------


class _PortTaken(Exception):
    pass


def _start(local: LocalServer, port: int, timeout: float) -> LocalServerURL:
    """Start this user's server on ``port``, else on the next free fallback port."""
    if local.only_own:
        return _start_private(local, port, timeout)
    ports = [port] + [p for p in range(local.port, local.port + 1 + FALLBACK_PORTS) if p != port and p < 65536]
    held: list[int] = []
    for candidate in ports:
        url = _url(local.host, candidate)
        if _listening(url):
            if _wait_for_boxtui(url, RACE_WAIT_SECONDS):
                return LocalServerURL(url, note=_held_note(local, held, url))
            held.append(candidate)
            continue
        try:
            started = _spawn(local, candidate, timeout)
        except _PortTaken:
            # Bound meanwhile: another user's server starting at the same moment, or another program.
            if _wait_for_boxtui(url, RACE_WAIT_SECONDS):
                return LocalServerURL(url, note=_held_note(local, held, url))
            held.append(candidate)
            continue
        return LocalServerURL(
            started, pid=started.pid, started=True, note=_held_note(local, held, url), data_dir=local.data_dir
        )
    raise LocalServerError(
        f"no free port for the local server: {local.host}:{ports[0]} and the {FALLBACK_PORTS} after "
        f"{local.port} are held by other programs; start one with `boxtui serve --port N` and pass --server"
    )


def _start_private(local: LocalServer, port: int, timeout: float) -> LocalServerURL:
    """A private server on ``port``, else on another free port: a port someone else took
    meanwhile is never used, even when a boxtui server answers there."""
    for _attempt in range(5):
        if not _listening(_url(local.host, port)):
            try:
                started = _spawn(local, port, timeout)
            except _PortTaken:
                pass
            else:
                return LocalServerURL(started, pid=started.pid, started=True, data_dir=local.data_dir)
        port = _free_port()
    raise LocalServerError(f"no free port for a private server on {local.host}")


def _held_note(local: LocalServer, held: list[int], url: str) -> str:
    if not held:
        return ""
    where = ", ".join(f"{local.host}:{port}" for port in held)
    return f"{where} {'is' if len(held) == 1 else 'are'} held by another program (not a boxtui server): the local server is at {url}."


def _spawn(local: LocalServer, port: int, timeout: float) -> LocalServerURL:
    url = _url(local.host, port)
    local.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)  # private: login codes land in its outbox
    env = {k: v for k, v in os.environ.items() if k not in _SECRET_ENV}
    command = [
        sys.executable, "-m", "boxtui", "serve",
        "--host", local.host, "--port", str(port),
        "--data-dir", str(local.data_dir),
        "--log-level", "warning",
    ]  # fmt: skip
    with open(local.log_path, "ab") as log:
        log_start = log.tell()
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=local.home,
            start_new_session=True,  # survives the terminal and this process
            close_fds=True,
        )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = _log_tail(local.log_path, log_start)
            if "address already in use" in tail.lower():
                raise _PortTaken
            raise LocalServerError(f"the local server stopped at start (log {local.log_path}): {tail}")
        if server_info(url) is not None:
            if not _listens(process.pid, url):
                # Another user's server bound the port first; ours is about to fail.
                _terminate(process.pid, 5.0)
                raise _PortTaken
            _write_state(local, _State(url, process.pid, local.data_dir))
            return LocalServerURL(url, pid=process.pid)
        time.sleep(0.1)
    process.terminate()
    raise LocalServerError(f"the local server did not answer within {timeout:.0f} s (log {local.log_path})")


def _wait_for_boxtui(url: str, seconds: float) -> bool:
    """Whether ``url`` answers as a boxtui server within ``seconds`` (one starting up counts)."""
    deadline = time.monotonic() + seconds
    while True:
        info, answered = _ask(url)
        if info is not None:
            return True
        if answered or time.monotonic() > deadline:
            return False  # an HTTP answer that is not boxtui's: another program
        time.sleep(0.2)


# --- who runs it ---------------------------------------------------------------------


@dataclass(frozen=True)
class LocalServerFacts:
    """Who runs a local server and where its data is: what a user needs to find a
    login code in its outbox (None where this host does not tell)."""

    url: str
    owner: str | None
    mine: bool
    data_dir: Path | None

    @property
    def outbox_dir(self) -> Path | None:
        return self.data_dir / "outbox" if self.data_dir else None


def local_server_facts(url: str, local: LocalServer | None = None) -> LocalServerFacts | None:
    """Facts about ``url`` when a ``boxtui serve`` on this host serves it (any loopback
    port), or when it is the host's local server address; else None."""
    local = local or LocalServer.default()
    url = url.rstrip("/")
    try:
        parse_address(url)
    except LocalServerError:
        return None  # not on loopback: another machine's server
    served = _serving_process(url)
    if served is not None:
        uid, data_dir = served
        return LocalServerFacts(url, _user_name(uid), uid == os.getuid(), data_dir)
    if not local.is_local_url(url):
        return None
    uid = _listener_uid(url)
    state = _read_state(local)
    data_dir = state.data_dir if state is not None and state.url == url and uid == os.getuid() else None
    return LocalServerFacts(url, _user_name(uid), uid == os.getuid(), data_dir)


def _serving_process(url: str) -> tuple[int, Path | None] | None:
    """(Unix user, ``--data-dir``) of the ``boxtui serve --port N`` process serving
    ``url``: command lines in ``/proc`` are readable by every user."""
    port = str(_port_of(url))
    try:
        procs = [p for p in Path("/proc").iterdir() if p.name.isdigit()]
    except OSError:
        return None
    for proc in procs:
        try:
            argv = [a.decode("utf-8", "replace") for a in (proc / "cmdline").read_bytes().split(b"\0")]
            uid = proc.stat().st_uid
        except OSError:
            continue
        if "serve" not in argv or _flag(argv, "--port") != port or not any("boxtui" in a for a in argv):
            continue
        data_dir = _flag(argv, "--data-dir")
        return uid, Path(data_dir) if data_dir and Path(data_dir).is_absolute() else None
    return None


def _flag(argv: list[str], name: str) -> str | None:
    if name in argv and argv.index(name) + 1 < len(argv):
        return argv[argv.index(name) + 1]
    return None


# --- status and stop -----------------------------------------------------------------


@dataclass
class LocalServerStatus:
    """What ``boxtui server status`` shows."""

    url: str
    running: bool
    #: Unix user whose process listens there (None: unknown or not running).
    owner: str | None = None
    mine: bool = False
    pid: int = 0
    version: str = ""
    data_dir: Path | None = None
    log_path: Path | None = None
    notes: list[str] = field(default_factory=list)


def local_server_status(local: LocalServer | None = None) -> LocalServerStatus:
    """The running local server if any, else where this user's would start."""
    local = local or LocalServer.default()
    state = _read_state(local)
    found = find_local_server(local)
    if found is None:
        url = state.url if state else local.url
        status = LocalServerStatus(url, running=False, mine=state is not None)
        if state is not None:
            status.data_dir, status.log_path = state.data_dir, local.log_path
        if _listening(local.url):
            status.notes.append(f"{local.host}:{local.port} is held by another program (not a boxtui server)")
        return status
    info = server_info(found) or {}
    facts = local_server_facts(found, local)
    status = LocalServerStatus(
        found, running=True, owner=facts.owner if facts else None, mine=bool(facts and facts.mine) or found.pid > 0,
        pid=found.pid, version=str(info.get("version", "")), data_dir=found.data_dir or (facts.data_dir if facts else None),
        log_path=local.log_path if found.pid else None,
    )  # fmt: skip
    if info.get("login_codes") == "outbox":
        where = status.data_dir / "outbox" if status.data_dir else "the outbox/ of its data folder"
        status.notes.append(f"login codes are not e-mailed: they are written to {where}")
    if info.get("signup_requires_code") is False:
        status.notes.append("sign-up needs no code")
    return status


def stop_local_server(local: LocalServer | None = None, *, timeout: float = 10.0) -> bool:
    """Stop the running local server; True if one was running.

    The one this user started, else whichever runs when this user may stop it (its
    own, from another data dir; anyone's for root). :class:`LocalServerError` when it
    is another user's: only they can.
    """
    local = local or LocalServer.default()
    with _lock(local):
        state = _read_state(local)
        if state is not None and state.pid:
            # Keep url and data dir: the next start reuses the port, so links and sessions stay valid.
            _write_state(local, _State(state.url, 0, state.data_dir))
            if _is_boxtui_process(state.pid):
                _terminate(state.pid, timeout)
                return True
        running = find_local_server(local)
        if running is None:
            return False
        pid = _listener_pid(running)
        if pid is not None and _is_boxtui_process(pid):
            _terminate(pid, timeout)
            return True
        owner = _user_name(_listener_uid(running)) or "another Unix user"
        raise LocalServerError(f"the local server at {running} is run by {owner}, not by you: only they can stop it")


def _terminate(pid: int, timeout: float) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while _pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    if _pid_alive(pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


# --- probing -------------------------------------------------------------------------


def server_info(url: str, timeout: float = 2.0) -> dict | None:
    """``GET /server-info`` when ``url`` is a boxtui server, else None."""
    return _ask(url, timeout)[0]


def _ask(url: str, timeout: float = 2.0) -> tuple[dict | None, bool]:
    """(the server info or None, whether anything answered over HTTP at all)."""
    # The standard library, not httpx: this runs before the app's first frame, and an
    # httpx client would load its module and build a TLS context a local server never uses.
    parsed = urlsplit(url)
    kind = http.client.HTTPSConnection if parsed.scheme == "https" else http.client.HTTPConnection
    connection = kind(parsed.hostname or "", parsed.port, timeout=timeout)
    try:
        connection.request("GET", f"{parsed.path.rstrip('/')}/server-info")
        response = connection.getresponse()
        body = response.read()
    except (OSError, http.client.HTTPException, ValueError):
        return None, False
    finally:
        connection.close()
    try:
        data = json.loads(body) if response.status == 200 else None
    except ValueError:
        data = None
    return (data if isinstance(data, dict) and data.get("service") == "boxtui" else None), True


def _listening(url: str) -> bool:
    """Whether something accepts connections at ``url``'s host and port (fast on loopback)."""
    parsed = urlsplit(url)
    try:
        with socket.create_connection((parsed.hostname, parsed.port or 80), timeout=0.5):
            return True
    except OSError:
        return False


def _listener(url: str) -> tuple[int, str] | None:
    """(Unix user, socket inode) of what listens on ``url``'s port (Linux ``/proc/net/tcp``)."""
    port = _port_of(url)
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) > 9 and fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                return int(fields[7]), fields[9]
    return None


def _listener_uid(url: str) -> int | None:
    found = _listener(url)
    return found[0] if found else None


def _listener_pid(url: str) -> int | None:
    """The process listening on ``url``'s port, among those this user may look into."""
    found = _listener(url)
    if found is None:
        return None
    wanted = f"socket:[{found[1]}]"
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit() and _holds(int(proc.name), wanted):
            return int(proc.name)
    return None


def _holds(pid: int, socket_link: str) -> bool:
    try:
        fds = list(Path(f"/proc/{pid}/fd").iterdir())
    except OSError:
        return False
    for fd in fds:
        with contextlib.suppress(OSError):
            if os.readlink(fd) == socket_link:
                return True
    return False


def _listens(pid: int, url: str) -> bool:
    """Whether process ``pid`` (ours) holds the listening socket of ``url``."""
    found = _listener(url)
    if found is None or not Path(f"/proc/{pid}/fd").is_dir():  # no /proc: alive a moment later will do
        time.sleep(0.5)
        return _pid_alive(pid)
    return _holds(pid, f"socket:[{found[1]}]")


def _user_name(uid: int | None) -> str | None:
    if uid is None:
        return None
    try:
        name = pwd.getpwuid(uid).pw_name
    except KeyError:
        name = f"uid {uid}"
    return f"{name} (you)" if uid == os.getuid() else name


def _is_boxtui_process(pid: int) -> bool:
    """Whether ``pid`` is alive and a ``boxtui serve`` (a recycled pid is not)."""
    if not _pid_alive(pid):
        return False
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return True  # no /proc here: trust the pid
    return b"boxtui" in command and b"serve" in command


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child of this very process counts as gone.
    with contextlib.suppress(ChildProcessError):
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done == pid:
            return False
    return True


# --- this user's record --------------------------------------------------------------


@dataclass(frozen=True)
class _State:
    url: str
    pid: int
    data_dir: Path

    @property
    def port(self) -> int:
        return _port_of(self.url)


def _write_state(local: LocalServer, state: _State) -> None:
    text = json.dumps({"url": state.url, "pid": state.pid, "data_dir": str(state.data_dir)})
    write_private_file(local.state_path, text)


def _read_state(local: LocalServer) -> _State | None:
    """This user's record, or None when missing or damaged (a damaged one is ignored)."""
    try:
        data = json.loads(local.state_path.read_text(encoding="utf-8"))
        url, pid = data["url"], data["pid"]
        if not isinstance(url, str) or not isinstance(pid, int):
            return None
        host, port = parse_address(url)
    except (OSError, ValueError, KeyError, TypeError, LocalServerError):
        return None
    return _State(_url(host, port), pid, Path(str(data.get("data_dir") or local.data_dir)))


def _url(host: str, port: int) -> str:
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def _port_of(url: str) -> int:
    return urlsplit(url).port or 80


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _log_tail(path: Path, start: int, limit: int = 400) -> str:
    try:
        with open(path, "rb") as file:
            file.seek(start)
            text = file.read().decode("utf-8", "replace").strip()
    except OSError:
        return ""
    return text[-limit:].replace("\n", " | ")


@contextlib.contextmanager
def _lock(local: LocalServer) -> Iterator[None]:
    local.home.mkdir(parents=True, exist_ok=True)
    with open(local.home / "local-server.lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
