"""`modemd copy-to-postgres`: one box's SQLite store copied into the PostgreSQL its config now names
(store/postgres/transfer.py), so a daemon that outgrew one box keeps its queue, its pending codes, its inbox and its
webhooks when it joins a fleet.

The admin stops modemd, adds [database] url (and password_file) to the config, runs this, and starts modemd again.
While it runs it holds the state directory's lock, as the daemon does: it refuses to run beside a daemon, and a
daemon cannot start during the copy.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path

from ..daemon.state_lock import StateDirBusy, StateLock

EXIT_OK, EXIT_FAILED, EXIT_TEMPFAIL, EXIT_CONFIG = 0, 1, 75, 78


def add_command(sub) -> None:
    p = sub.add_parser("copy-to-postgres", help="copy this box's SQLite store (queue, codes, inbox, webhooks) into "
                                                "the PostgreSQL of [database] url; stop modemd first")
    p.add_argument("--config", type=Path, metavar="FILE",
                   help="TOML config with [database] url (default /etc/modemd/modemd.toml if it exists)")
    p.add_argument("--state-dir", type=Path, help="the state directory the daemon ran with (its modemd.db)")
    p.add_argument("--from", dest="source", type=Path, metavar="FILE",
                   help="the SQLite file, if not modemd.db in the state directory")
    p.set_defaults(func=cmd_copy_to_postgres)


def cmd_copy_to_postgres(args: argparse.Namespace) -> int:
    from ..config.loader import ConfigError, load_config
    from ..config.paths import default_state_dir
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        return _fail(str(exc), EXIT_CONFIG)
    if config.database.url is None:
        return _fail("[database] url is not set in the config: name the PostgreSQL to copy into first "
                     "(docs/fleet.md)", EXIT_CONFIG)
    state_dir = args.state_dir or config.server.state_dir or default_state_dir()
    source = args.source or state_dir / "modemd.db"
    lock = StateLock(state_dir)
    try:
        if state_dir.is_dir():
            made = not lock.path.exists()
            lock.acquire()
            if made and os.geteuid() == 0:      # the daemon (user modemd) must still open the lock file it finds
                owner = state_dir.stat()
                os.chown(lock.path, owner.st_uid, owner.st_gid)
    except StateDirBusy as exc:
        return _fail(str(exc), EXIT_TEMPFAIL)
    try:
        return _copy(config.database, source)
    finally:
        lock.release()


def _copy(database, source: Path) -> int:
    from ..domain.errors import StorageError
    try:
        from ..daemon.store_copy import TransferError, copy_to_postgres
    except ImportError as exc:
        return _fail(f"PostgreSQL needs the driver modemd's `postgresql` extra installs: {exc}", EXIT_CONFIG)
    try:
        copied = asyncio.run(copy_to_postgres(database, source))
    except TransferError as exc:
        return _fail(str(exc), EXIT_FAILED)
    except StorageError as exc:
        return _fail(f"{exc}; nothing was written", EXIT_TEMPFAIL)
    rows = ", ".join(f"{n} {table}" for table, n in copied.rows.items() if n)
    print(f"copied {source} into {database.url} (node {database.node}): {rows or 'nothing (the store was empty)'}")
    print(f"{copied.queued} messages queued, {copied.pending_codes} codes pending, {copied.interrupted} sends "
          f"interrupted (taken back at the next start), {copied.webhook_backlog} webhook events to deliver")
    print("the SQLite file is unchanged; keep it until the fleet runs. Next: start modemd with this config")
    return EXIT_OK


def _fail(message: str, code: int) -> int:
    print(f"modemd copy-to-postgres: {message}", file=sys.stderr)
    return code
