"""`modemd simulate` / `python -m modemd.simulator`: a simulated modem as a process, until SIGINT or SIGTERM."""
from __future__ import annotations

import argparse
import asyncio
import signal
import sys

from .control import ControlServer
from .faults import Faults
from .modem import SimulatedModem
from .profile import DEVICES

DEFAULT_LINK = "/tmp/modemd-sim0"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="modemd-simulator", description="a simulated AT modem (Quectel EC25) on a pty")
    p.add_argument("--link", default=DEFAULT_LINK, help=f"stable symlink to the pty (default {DEFAULT_LINK})")
    p.add_argument("--handset", default=None, help="JSON lines record of sent SMS (default <link>.handset.jsonl)")
    p.add_argument("--control", default=None, help="unix socket for JSON control requests (default none)")
    p.add_argument("--pin", default=None, help="SIM asks for this PIN at power-up")
    p.add_argument("--device", default="ec25", choices=sorted(DEVICES),
                   help="which device to be: Quectel EC25 (default), Huawei E3372, or an Android phone's ACM port")
    return p


def _options(args) -> dict:
    """Accept an argparse Namespace (from modemd's own CLI), a dict, or nothing."""
    opts = vars(args) if isinstance(args, argparse.Namespace) else dict(args or {})
    link = opts.get("link") or DEFAULT_LINK
    return {"link": link, "handset": opts.get("handset") or f"{link}.handset.jsonl",
            "control": opts.get("control"), "pin": opts.get("pin"), "device": opts.get("device") or "ec25"}


def run_simulator(args=None, **kwargs) -> int:
    """Run until SIGINT/SIGTERM; prints where the port, the handset record and the control socket are."""
    opts = _options(args if args is not None else kwargs)
    try:
        asyncio.run(_serve(opts))
    except KeyboardInterrupt:
        pass
    return 0


async def _serve(opts: dict) -> None:
    modem = SimulatedModem(link=opts["link"], handset_path=opts["handset"], faults=Faults(pin=opts["pin"]),
                           profile=DEVICES[opts["device"]])
    await modem.start()
    control = ControlServer(modem, opts["control"]) if opts["control"] else None
    if control:
        await control.start()
    _announce(modem, opts)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)          # the handler only sets a flag; shutdown happens here
    try:
        await stop.wait()
    finally:
        if control:
            await control.stop()
        await modem.stop()


def _announce(modem: SimulatedModem, opts: dict) -> None:
    print(f"simulated modem ({modem.profile.manufacturer} {modem.profile.model}) on {modem.port} -> {modem.pts}",
          flush=True)
    print(f"SMS it sends are recorded in {opts['handset']}", flush=True)
    if opts["control"]:
        print(f"control socket: {opts['control']} (JSON lines, e.g. {{\"op\": \"state\"}})", flush=True)
    print("try: gammu, minicom, or `modemd run --port " + modem.port + "`; Ctrl-C stops", flush=True)


def main(argv: list[str] | None = None) -> int:
    return run_simulator(build_parser().parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
