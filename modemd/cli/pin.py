"""`modemd pin reset [MODEM]`: the admin's way to let modemd try a rejected SIM PIN again (see modem/pin_memory.py).

It only edits the record in the state directory; the running daemon reads it at its next bring-up of the modem,
which a restart starts (a SIM-locked modem waits for a human, it does not retry by itself).
Exit codes as in main.py: 0 ok (also when there was nothing to reset), 1 failed, 78 bad config.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from ..modem.pin_memory import FILE_NAME, PinMemory, PinMemoryUnreadable

EXIT_OK, EXIT_FAILED, EXIT_CONFIG = 0, 1, 78
# StateDirectory=modemd in systemd/modemd.service. An admin's shell has no $STATE_DIRECTORY, so without this the
# CLI would look in root's ~/.local/state and find nothing.
SYSTEM_STATE_DIR = Path("/var/lib/modemd")


def add_commands(sub) -> None:
    pin = sub.add_parser("pin", help="SIM PINs that modemd will not try again")
    commands = pin.add_subparsers(dest="pin_cmd", required=True, metavar="COMMAND")
    p = commands.add_parser("reset", help="forget rejected PINs, so the configured PIN is tried once more")
    p.add_argument("modem", nargs="?", help="only this modem's SIM (default: every modem's)")
    p.add_argument("--state-dir", type=Path, metavar="DIR", help="the daemon's state directory (default: as `run`)")
    p.add_argument("--config", type=Path, metavar="FILE", help="config file whose server.state_dir to use")
    p.set_defaults(func=cmd_pin_reset)


def state_dir_of(args: argparse.Namespace) -> Path:
    """--state-dir, else the config's server.state_dir, else the daemon's default. Raises ConfigError."""
    if args.state_dir:
        return args.state_dir
    from ..config.loader import load_config
    configured = load_config(args.config).server.state_dir
    if configured:
        return configured
    return default_record_dir()


def default_record_dir() -> Path:
    """Where the running service keeps its record (/var/lib/modemd) when there is one, else this user's state."""
    from ..config.paths import default_state_dir
    if not os.environ.get("STATE_DIRECTORY") and (SYSTEM_STATE_DIR / FILE_NAME).exists():
        return SYSTEM_STATE_DIR
    return default_state_dir()


def cmd_pin_reset(args: argparse.Namespace) -> int:
    from ..config.loader import ConfigError
    try:
        memory = PinMemory.in_dir(state_dir_of(args))
    except ConfigError as exc:
        print(f"modemd: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    try:
        removed = memory.reset(args.modem)
    except PinMemoryUnreadable as exc:
        return _discard_unreadable(memory, exc)
    except OSError as exc:
        print(f"modemd pin reset: {exc}", file=sys.stderr)
        return EXIT_FAILED
    for rejection in removed:
        print(f"removed: {rejection.sim_label} in {rejection.modem}, PIN rejected {rejection.at}")
    if not removed:
        whose = f" for {args.modem}" if args.modem else ""
        print(f"no rejected PIN recorded{whose} in {memory.path}; nothing to reset")
        return EXIT_OK
    print("restart modemd (systemctl restart modemd) to try the PIN again")
    return EXIT_OK


def _discard_unreadable(memory: PinMemory, exc: PinMemoryUnreadable) -> int:
    """A record that cannot be parsed keeps every PIN out (the safe side); removing it is the way out. One that
    cannot be read for want of permission is left alone: this is probably the wrong user, not a broken file."""
    if isinstance(exc.__cause__, PermissionError):
        print(f"modemd pin reset: {exc.__cause__}; run it as the daemon's user or root", file=sys.stderr)
        return EXIT_FAILED
    try:
        memory.discard()
    except OSError as error:
        print(f"modemd pin reset: {error}", file=sys.stderr)
        return EXIT_FAILED
    print(f"removed the unreadable record {memory.path} (every modem's)")
    print("restart modemd (systemctl restart modemd) to try the PIN again")
    return EXIT_OK
