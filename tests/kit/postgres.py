"""A real PostgreSQL server for tests and benchmarks (Debian's `postgresql` package), started the way a careful admin
would run one: its own data directory (initdb), an unprivileged user (initdb and postgres refuse root), SCRAM
passwords on TCP, a loopback port, a unix socket in the data directory's parent, synchronous commit on (the default
modemd's durability relies on).

    with PostgresServer() as pg:            # started and stopped; pg.url has no password, pg.password_file has it
        psycopg.connect(pg.url, password=pg.password)
"""

from __future__ import annotations

import glob
import os
import pwd
import secrets
import shutil
import subprocess
import tempfile
from pathlib import Path

from .processes import free_port

SERVICE_USER = "postgres"       # made by Debian's postgresql package; the server runs as this user when we are root
ROLE = "modemd"                 # the role and the database the tests use


def postgres_bin() -> Path | None:
    """The newest installed server's bin directory (/usr/lib/postgresql/<major>/bin), or None."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]))
    return Path(found[-1]).parent if found else None


def unavailable() -> str | None:
    """Why no server can be started here, or None."""
    if postgres_bin() is None:
        return "PostgreSQL is not installed (apt-get install postgresql; scripts/test does it as root)"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam(SERVICE_USER)
        except KeyError:
            return f"user {SERVICE_USER} is missing (Debian's postgresql package makes it)"
    return None


class PostgresServer:
    def __init__(self, *, port: int | None = None):
        self.bin = postgres_bin()
        self.port = port or free_port()
        # Not under pytest's tmp_path: its root is 0700 and root's, and the server runs as another user.
        self.base = Path(tempfile.mkdtemp(prefix="modemd-pg-"))
        self.data = self.base / "data"
        self.password = secrets.token_urlsafe(24)
        self.password_file = self.base / "password"
        self.log = self.base / "server.log"
        self.url = f"postgresql://{ROLE}@127.0.0.1:{self.port}/{ROLE}"

    def __enter__(self) -> "PostgresServer":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self) -> None:
        self.password_file.write_text(self.password + "\n")
        self._hand_over(self.base, self.password_file)
        self._run("initdb", "-D", str(self.data), "-U", ROLE, "--auth-local=trust", "--auth-host=scram-sha-256",
                  f"--pwfile={self.password_file}", "-E", "UTF8", "--no-instructions")
        self.password_file.chmod(0o600)
        self._start_server()
        self._run("createdb", "-h", str(self.base), "-p", str(self.port), "-U", ROLE, ROLE)

    def stop(self, mode: str = "fast") -> None:
        """Stop the server (mode: smart, fast or immediate, as pg_ctl -m) and remove its files."""
        if self.data.exists():
            self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop", check=False)
        shutil.rmtree(self.base, ignore_errors=True)

    def restart(self, mode: str = "fast") -> None:
        """Stop and start the same server (its data kept): clients see their connections break."""
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")
        self._start_server()

    def _start_server(self) -> None:
        # -l always: a server started without it writes to pg_ctl's stdout, our pipe, which then never closes.
        options = f"-c listen_addresses=127.0.0.1 -c port={self.port} -c unix_socket_directories={self.base}"
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", options, "-w", "start")

    def _run(self, program: str, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        command = [str(self.bin / program), *args]
        if os.geteuid() == 0:
            command = ["runuser", "-u", SERVICE_USER, "--", *command]
        result = subprocess.run(command, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=120)
        if check and result.returncode != 0:
            log = self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""
            raise RuntimeError(f"{program} failed ({result.returncode}): {result.stderr.strip()}\n{log}")
        return result

    @staticmethod
    def _hand_over(*paths: Path) -> None:
        """As root, the server's user must own its directory and read the password file."""
        if os.geteuid() != 0:
            return
        user = pwd.getpwnam(SERVICE_USER)
        for path in paths:
            os.chown(path, user.pw_uid, user.pw_gid)
