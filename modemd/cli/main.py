"""Command line: parse arguments, set up logging, call into the daemon, the simulator or a one-off modem task.

Exit codes a script can rely on (sysexits.h): 0 ok, 2 usage, 69 modem unavailable, 75 temporary failure (try again
later), 1 permanent failure.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

from .. import __version__
from ..config.model import DEFAULT_BAUD, LOG_LEVELS, ServerConfig
from ..log.setup import configure_logging

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_UNAVAILABLE, EXIT_TEMPFAIL, EXIT_CONFIG = 0, 1, 2, 69, 75, 78
DEFAULT_LISTEN = f"{ServerConfig.listen_host}:{ServerConfig.listen_port}"
# a hardware check at a desk answers sooner than the daemon waits for a modem that is still searching
SENDSMS_REGISTRATION_TIMEOUT = 30.0
EXIT_SIGPIPE = 141      # 128 + SIGPIPE, what a shell reports for a program killed by it


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    configure_logging(args.log_level or "info")
    try:
        return args.func(args)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # `modemd queue list --json | head`: the reader left. Quietly, as `cat` would (Python docs, "Note on
        # SIGPIPE"): point stdout at /dev/null so the interpreter's final flush does not raise again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_SIGPIPE


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="modemd", description="SMS and one-time passcodes from your own SIM.")
    parser.add_argument("--version", action="version", version=f"modemd {__version__}")
    parser.add_argument("--log-level", default=None, choices=LOG_LEVELS,
                        help=f"default: the config file's server.log_level, else {ServerConfig.log_level}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_run(sub)
    _add_check_config(sub)
    _add_simulate(sub)
    _add_sendsms(sub)
    _add_probe(sub)
    _add_install(sub)
    from .remote import add_commands
    add_commands(sub)
    from .pin import add_commands as add_pin_commands
    add_pin_commands(sub)
    from .copy_store import add_command as add_copy_command
    add_copy_command(sub)
    return parser


def _add_serial_options(p: argparse.ArgumentParser, baud_default: int | None = DEFAULT_BAUD) -> None:
    p.add_argument("--baud", type=int, default=baud_default,
                   help=f"serial speed (nominal on USB modems; default {DEFAULT_BAUD})")
    p.add_argument("--rtscts", action="store_true", help="hardware flow control (RS-232 modems)")
    p.add_argument("--pin-file", type=Path, help="file holding the SIM PIN (never given on the command line)")


def _add_run(sub) -> None:
    p = sub.add_parser("run", help="run the daemon")
    _add_config_options(p)
    p.set_defaults(func=cmd_run)


def _add_config_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", type=Path, metavar="FILE",
                   help="TOML config (default /etc/modemd/modemd.toml if it exists); flags below override it")
    p.add_argument("--port", action="append", default=[], metavar="PATH",
                   help="serial port of a modem (repeat for several); a stable udev/by-id path is best")
    p.add_argument("--simulate", action="store_true", help="also start a simulated modem and use it")
    p.add_argument("--state-dir", type=Path, help="database and secrets ($STATE_DIRECTORY under systemd)")
    p.add_argument("--listen", default=None, metavar="HOST:PORT", help=f"HTTP API address (default {DEFAULT_LISTEN})")
    _add_serial_options(p, baud_default=None)


def _add_check_config(sub) -> None:
    p = sub.add_parser("check-config", help="validate the config (and flags) as `run` would, then exit")
    _add_config_options(p)
    p.set_defaults(func=cmd_check_config)


def _add_simulate(sub) -> None:
    p = sub.add_parser("simulate", help="run a simulated modem on a pseudo-terminal")
    p.add_argument("--link", default="/tmp/modemd-sim0", help="stable symlink to the pty (default /tmp/modemd-sim0)")
    p.add_argument("--handset", default=None, help="JSON lines file recording every SMS sent through it")
    p.add_argument("--control", default=None, help="unix socket taking JSON commands (faults, inbound SMS)")
    p.add_argument("--device", default="ec25", choices=["android", "asg-phone", "e3372", "ec25"],
                   help="which device to be: Quectel EC25 (default), Huawei E3372, an Android phone's ACM port, "
                        "or a phone running SMS Gateway for Android in local-server mode (asg-phone)")
    from ..simulator.cli import add_identity_options, add_phone_options
    add_phone_options(p)
    add_identity_options(p)
    p.set_defaults(func=cmd_simulate)


def _add_sendsms(sub) -> None:
    p = sub.add_parser("sendsms", help="send one SMS directly through a modem (no daemon), to check hardware")
    p.add_argument("--port", required=True, metavar="PATH")
    p.add_argument("--no-report", action="store_true", help="do not request a delivery report")
    p.add_argument("--validity", type=int, metavar="SECONDS", help="validity period for the network")
    p.add_argument("--registration-timeout", type=float, default=SENDSMS_REGISTRATION_TIMEOUT, metavar="SECONDS",
                   help=f"default {SENDSMS_REGISTRATION_TIMEOUT:g}")
    p.add_argument("to", help="destination number, international format (+4915112345678)")
    p.add_argument("text", help="message text; '-' reads it from standard input")
    _add_serial_options(p)
    p.set_defaults(func=cmd_sendsms)


def _add_probe(sub) -> None:
    p = sub.add_parser("probe", help="find which ports answer AT and show identity, SIM, network, signal, SMSC")
    p.add_argument("ports", nargs="+", metavar="PORT")
    p.add_argument("--timeout", type=float, default=3.0, help="seconds to wait for an answer per port")
    p.add_argument("--json", action="store_true", help="print one JSON object per port")
    _add_serial_options(p)
    p.set_defaults(func=cmd_probe)


def _add_install(sub) -> None:
    p = sub.add_parser("install-service", help="install the systemd unit, sysusers entry, udev rules and config")
    p.add_argument("--root", type=Path, default=Path("/"), help="install under another root; runs no commands")
    p.add_argument("--enable", action="store_true", help="also `systemctl enable --now modemd`")
    p.add_argument("--exec", dest="exec_start", metavar="PATH",
                   help="the modemd the unit runs (default: this one); refused under /home, /root or /tmp")
    p.set_defaults(func=cmd_install)


def cmd_install(args) -> int:
    from .install import InstallError, install
    try:
        steps = install(args.root, enable=args.enable, exec_start=args.exec_start)
    except (OSError, subprocess.CalledProcessError, InstallError, KeyError) as exc:
        print(f"modemd install-service: {exc}", file=sys.stderr)
        return EXIT_FAILED
    for step in steps:
        print(("ran: " + " ".join(step.command) if step.command and args.root == Path("/") else
               "to do: " + " ".join(step.command) if step.command else step.text))
    if not args.enable:
        print("next: edit /etc/modemd/modemd.toml, then: systemctl enable --now modemd; journalctl -u modemd -f")
    return EXIT_OK


def _read_pin(args) -> str | None:
    if not args.pin_file:
        return None
    return args.pin_file.read_text(encoding="utf-8").strip() or None


def _load(args):
    """The config file with the command-line flags applied on top. Raises ConfigError."""
    from ..config.loader import apply_cli_overrides, load_config
    return apply_cli_overrides(load_config(args.config), ports=args.port, state_dir=args.state_dir,
                               listen=args.listen, simulate=args.simulate, baud=args.baud, rtscts=args.rtscts,
                               pin_file=args.pin_file, log_level=args.log_level)


def cmd_run(args) -> int:
    from ..config.loader import ConfigError
    from ..daemon.lifecycle import run_daemon
    from ..domain.errors import StorageError
    try:
        config = _load(args)
    except ConfigError as exc:
        print(f"modemd: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    configure_logging(config.server.log_level)
    try:
        return asyncio.run(run_daemon(config, reload_config=lambda: _load(args)))
    except ConfigError as exc:    # found at start: a token from $MODEMD_TOKEN or a credential that is too short
        print(f"modemd: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except OSError as exc:        # e.g. the listen address is taken: say so, no traceback
        print(f"modemd: {exc}", file=sys.stderr)
        return EXIT_UNAVAILABLE
    except StorageError as exc:   # the database ([database] url) cannot be reached at start: systemd tries again
        print(f"modemd: {exc}", file=sys.stderr)
        return EXIT_TEMPFAIL


def cmd_check_config(args) -> int:
    from ..config.loader import ConfigError
    try:
        config = _load(args)
    except ConfigError as exc:
        print(f"modemd: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    for warning in config.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    problems = _unreadable_for_service(config)
    for problem in problems:
        print(f"modemd: {problem}", file=sys.stderr)
    if problems:
        return EXIT_CONFIG
    source = config.source or "(no file)"
    print(f"OK {source}: {len(config.modems)} modem(s){' + simulated' if config.simulate else ''}, "
          f"{len(config.webhooks)} webhook(s)")
    return EXIT_OK


def _unreadable_for_service(config) -> list[str]:
    """Run by root where the service's user exists: the files the service will open, checked as that user."""
    from ..config.file_access import SERVICE_USER, service_user, why_unreadable
    user = service_user()
    if os.geteuid() != 0 or user is None:
        return []
    files = [config.source, *config.auth.token_files, *(m.pin_file for m in config.modems),
             *(w.secret_file for w in config.webhooks)]
    found = [(f, why_unreadable(f, user)) for f in files if f is not None]
    return [f"the service (user {SERVICE_USER}) {why}: `systemctl start modemd` would fail. For the config: "
            f"chgrp {SERVICE_USER} {f} && chmod 0640 {f} (modemd install-service does this)" if f == config.source
            else f"the service (user {SERVICE_USER}) {why}: make {f} owned by {SERVICE_USER}, mode 0600"
            for f, why in found if why]


def cmd_simulate(args) -> int:
    from ..simulator import run_simulator
    return run_simulator(args) or EXIT_OK


def cmd_sendsms(args) -> int:
    from .pin import default_record_dir
    from .oneshot import send_once
    from ..modem.pin_memory import PinMemory
    text = sys.stdin.read() if args.text == "-" else args.text
    # The same record of rejected PINs as the service's: a PIN the SIM refused there is not tried here either.
    memory = PinMemory.in_dir(default_record_dir()) if args.pin_file else None
    return asyncio.run(send_once(args, text, _read_pin(args), memory))


def cmd_probe(args) -> int:
    from .oneshot import probe_ports
    reports = asyncio.run(probe_ports(args.ports, baudrate=args.baud, rtscts=args.rtscts, timeout=args.timeout))
    for report in reports:
        print(json.dumps(report) if args.json else _format_probe(report))
    return EXIT_OK if any(r["answers_at"] for r in reports) else EXIT_UNAVAILABLE


def _format_probe(report: dict) -> str:
    if report.get("unavailable"):        # the port could not be opened: nothing was asked
        return f"{report['port']}: {report['error']}"
    if not report["answers_at"]:
        return f"{report['port']}: no AT answer ({report.get('error', 'silent')})"
    ident = report["identity"]
    rows = [
        f"{report['port']}: answers AT",
        f"  device:       {ident['manufacturer']} {ident['model']} (revision {ident['revision']})",
        f"  IMEI:         {ident['imei']}",
        f"  SIM:          {report['sim'] or 'unknown'}  IMSI {ident['imsi'] or '-'}  ICCID {ident['iccid'] or '-'}",
        f"  network:      {report['registration_text']}  operator {report['operator'] or '-'}",
        f"  signal:       {_signal_text(report)}",
        f"  SMSC:         {report['smsc'] or '-'}",
    ]
    return "\n".join(rows)


def _signal_text(report: dict) -> str:
    if report["rssi"] is None:
        return "unknown"
    return f"{report['signal_dbm']} dBm (CSQ {report['rssi']})"


if __name__ == "__main__":
    sys.exit(main())
