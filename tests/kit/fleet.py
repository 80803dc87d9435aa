"""Several modemd hosts on one PostgreSQL, as an admin runs them: each host a `modemd run` process with its own
simulated modem (`modemd simulate`), its own state directory, [database] url and node in its config, the role's
password in a 0600 file, and the fleet's one OTP secret copied into each state directory. And TcpProxy: a TCP
relay the test can cut, to put one host on the far side of a network partition from the database.

    with PostgresServer() as pg, fleet(tmp_path, pg, "a", "b") as hosts:
        hosts["a"].daemon.call("POST", "/v1/otp", ...)
"""

from __future__ import annotations

import secrets
import socket
import threading
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from .processes import DaemonProcess, SimProcess, config_toml, free_port, write_config

FLEET_LEASE = 3.0       # seconds: the shortest the config allows, so a dead host's sends come back quickly


@dataclass
class Host:
    name: str
    daemon: DaemonProcess
    sim: SimProcess
    directory: Path


def host_config(directory: Path, *, url: str, password: str, node: str, link: str, lease: float = FLEET_LEASE,
                extra: str = "") -> Path:
    password_file = directory / "db-password"
    password_file.write_text(password + "\n")
    password_file.chmod(0o600)
    database = (f'[database]\nurl = "{url}"\nnode = "{node}"\npassword_file = "{password_file}"\n'
                f"lease = {lease}\n")
    modem = f'[[modems]]\nname = "sim-{node}"\nport = "{link}"\n'
    return write_config(directory, config_toml(token=None) + modem + database + extra)


def start_host(base: Path, pg, name: str, otp_secret: bytes, *, url: str | None = None, lease: float = FLEET_LEASE,
               network_delay: float = 0.0, extra: str = "", stack: ExitStack) -> Host:
    """One host, started and ready, stopped when `stack` closes."""
    directory = base / name
    directory.mkdir(parents=True, exist_ok=True)
    sim = stack.enter_context(SimProcess(directory, network_delay=network_delay))
    state = directory / "state"
    state.mkdir(mode=0o700, exist_ok=True)
    secret = state / "otp-secret"
    secret.write_bytes(otp_secret)
    secret.chmod(0o600)
    config = host_config(directory, url=url or pg.url, password=pg.password, node=name, link=sim.link, lease=lease,
                         extra=extra)
    daemon = DaemonProcess(directory, None, "--config", str(config), state=state)
    stack.callback(daemon.stop)
    daemon.wait_ready(30)
    return Host(name, daemon, sim, directory)


@contextmanager
def fleet(base: Path, pg, *names: str, **options) -> Iterator[dict[str, Host]]:
    """Hosts `names` on `pg`, sharing one OTP secret, each ready; all stopped at the end."""
    otp_secret = secrets.token_bytes(32)
    with ExitStack() as stack:
        yield {name: start_host(Path(base), pg, name, otp_secret, stack=stack, **options) for name in names}


class TcpProxy:
    """Relays 127.0.0.1:port to 127.0.0.1:target, connection by connection, on threads. cut(): every relayed
    connection is reset and new ones are refused until heal(): a partition, as the host sees it."""

    def __init__(self, target: int):
        self.target = target
        self.port = free_port()
        self._listener = socket.create_server(("127.0.0.1", self.port))
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._cut = False
        self._running = True
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url_of(self):
        return lambda url: url.replace(f":{self.target}/", f":{self.port}/")

    def _accept(self) -> None:
        while self._running:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            if self._cut:
                client.close()
                continue
            try:
                server = socket.create_connection(("127.0.0.1", self.target))
            except OSError:
                client.close()
                continue
            with self._lock:
                self._open |= {client, server}
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for s in (source, sink):
                self._close(s)

    def _close(self, s: socket.socket) -> None:
        with self._lock:
            self._open.discard(s)
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        s.close()

    def cut(self) -> None:
        self._cut = True
        with self._lock:
            sockets = list(self._open)
        for s in sockets:
            self._close(s)

    def heal(self) -> None:
        self._cut = False

    def close(self) -> None:
        self._running = False
        self.cut()
        self._listener.close()

    def __enter__(self) -> "TcpProxy":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
