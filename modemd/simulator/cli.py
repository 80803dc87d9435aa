"""`modemd simulate` / `python -m modemd.simulator`: a simulated modem as a process, until SIGINT or SIGTERM."""
from __future__ import annotations

import argparse
import asyncio
import re
import sys
from dataclasses import replace

from .control import ControlServer
from .faults import Faults
from .modem import SimulatedModem
from .profile import DEVICES
from .stopping import until_stopped

DEFAULT_LINK = "/tmp/modemd-sim0"
PHONE = "asg-phone"                 # SMS Gateway for Android's local server (asg_phone/), not an AT device
DEVICE_CHOICES = sorted(DEVICES) + [PHONE]


def add_phone_options(p: argparse.ArgumentParser) -> None:
    """The options of --device asg-phone (also on `modemd simulate`)."""
    p.add_argument("--listen", default=None, metavar="HOST:PORT",
                   help="asg-phone: where its local server listens (default 127.0.0.1:8080, as the app)")
    p.add_argument("--username", default=None, help="asg-phone: Basic auth user (default sms)")
    p.add_argument("--password", default=None, help="asg-phone: Basic auth password (default: made up, printed)")
    p.add_argument("--signing-key", default=None, help="asg-phone: webhook signing key (default: made up, printed)")
    p.add_argument("--webhook-retry-delay", type=float, default=None, metavar="SECONDS",
                   help="asg-phone: attempt n of a webhook waits n times this (default 5, as the app)")
    p.add_argument("--ping-interval", type=float, default=None, metavar="SECONDS",
                   help="asg-phone: send system:ping this often (default off, as the app)")


def _digits(low: int, high: int, what: str):
    def parse(value: str) -> str:
        if not re.fullmatch(rf"[0-9]{{{low},{high}}}", value):
            raise argparse.ArgumentTypeError(f"{what} must be {low} to {high} digits, got {value!r}")
        return value
    return parse


def add_identity_options(p: argparse.ArgumentParser) -> None:
    """--imei/--iccid/--imsi (also on `modemd simulate`): several simulators told apart by identity."""
    p.add_argument("--imei", type=_digits(15, 16, "--imei"), help="IMEI it prints for AT+CGSN (default: the device's)")
    p.add_argument("--iccid", type=_digits(18, 22, "--iccid"),
                   help="ICCID it prints for AT+CCID/+QCCID (default: the device's)")
    p.add_argument("--imsi", type=_digits(6, 15, "--imsi"), help="IMSI it prints for AT+CIMI (default: the device's)")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="modemd-simulator", description="a simulated AT modem (Quectel EC25) on a pty")
    p.add_argument("--link", default=DEFAULT_LINK, help=f"stable symlink to the pty (default {DEFAULT_LINK})")
    p.add_argument("--handset", default=None, help="JSON lines record of sent SMS (default <link>.handset.jsonl)")
    p.add_argument("--control", default=None, help="unix socket for JSON control requests (default none)")
    p.add_argument("--pin", default=None, help="SIM asks for this PIN at power-up")
    p.add_argument("--device", default="ec25", choices=DEVICE_CHOICES,
                   help="which device to be: Quectel EC25 (default), Huawei E3372, an Android phone's ACM port, "
                        "or a phone running SMS Gateway for Android in local-server mode (asg-phone)")
    add_phone_options(p)
    add_identity_options(p)
    return p


def _options(args) -> dict:
    """Accept an argparse Namespace (from modemd's own CLI), a dict, or nothing."""
    opts = vars(args) if isinstance(args, argparse.Namespace) else dict(args or {})
    link = opts.get("link") or DEFAULT_LINK
    phone = {name: opts.get(name) for name in ("listen", "username", "password", "signing_key",
                                               "webhook_retry_delay", "ping_interval")}
    return {"link": link, "handset": opts.get("handset") or f"{link}.handset.jsonl",
            "control": opts.get("control"), "pin": opts.get("pin"), "device": opts.get("device") or "ec25", **phone,
            "identity": {k: opts[k] for k in ("imei", "iccid", "imsi") if opts.get(k)}}


def run_simulator(args=None, **kwargs) -> int:
    """Run until SIGINT/SIGTERM; prints where the port, the handset record and the control socket are."""
    opts = _options(args if args is not None else kwargs)
    try:
        asyncio.run(_serve(opts))
    except KeyboardInterrupt:
        pass
    return 0


async def _serve(opts: dict) -> None:
    if opts["device"] == PHONE:
        from .asg_phone.serve import serve
        return await serve(opts)
    modem = SimulatedModem(link=opts["link"], handset_path=opts["handset"], faults=Faults(pin=opts["pin"]),
                           profile=replace(DEVICES[opts["device"]], **opts["identity"]))
    await modem.start()
    control = ControlServer(modem, opts["control"]) if opts["control"] else None
    if control:
        await control.start()
    _announce(modem, opts)
    try:
        await until_stopped()
    finally:
        if control:
            await control.stop()
        await modem.stop()


def _announce(modem: SimulatedModem, opts: dict) -> None:
    print(f"simulated modem ({modem.profile.manufacturer} {modem.profile.model}) on {modem.port} -> {modem.pts}",
          flush=True)
    print(f"SMS it sends are recorded in {opts['handset']}", flush=True)
    p = modem.profile
    print(f"IMEI {p.imei}, ICCID {p.iccid}, IMSI {p.imsi}", flush=True)
    if opts["control"]:
        print(f"control socket: {opts['control']} (JSON lines, e.g. {{\"op\": \"state\"}})", flush=True)
    print("try: gammu, minicom, or `modemd run --port " + modem.port + "`; Ctrl-C stops", flush=True)


def main(argv: list[str] | None = None) -> int:
    return run_simulator(build_parser().parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
