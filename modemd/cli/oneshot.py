"""One-off modem tasks without the daemon, for checking hardware: `modemd probe` and `modemd sendsms`.

They open the port with the same AtChannel and Modem code the daemon uses, so what works here works there, and
so they take the port exclusively too (at/serial.py): a port the daemon or minicom holds is reported "in use by another
process" and never written to, so probing a live daemon's port cannot disturb a message it is sending.
"""

from __future__ import annotations

import asyncio
import logging
import sys

from ..codec import pdu
from ..at.channel import AtChannel
from ..at.port_check import PortUnavailable
from ..config.model import ModemConfig
from ..domain.errors import AtError, ChannelClosed, ErrorClass, SimLocked, classify
from ..modem.modem import Modem, SmsSendFailed
from ..domain.redact import mask_number

log = logging.getLogger(__name__)

EXIT_OK, EXIT_FAILED, EXIT_UNAVAILABLE, EXIT_TEMPFAIL = 0, 1, 69, 75
# Upper bound for reading everything from a port that answered AT (a dozen commands of ~1 s at worst).
PROBE_LIMIT = 60.0


async def probe_ports(ports: list[str], *, baudrate: int, rtscts: bool, timeout: float) -> list[dict]:
    """Probe ports one after the other: several ports of one modem must not be driven at the same time."""
    return [await _probe_port(port, baudrate, rtscts, timeout) for port in ports]


async def _probe_port(port: str, baudrate: int, rtscts: bool, timeout: float) -> dict:
    channel = AtChannel(port, baudrate=baudrate, rtscts=rtscts)
    modem = Modem(ModemConfig(name=port, port=port, baud=baudrate, rtscts=rtscts), channel)
    try:
        await channel.open()
    except PortUnavailable as exc:
        # Not "no AT answer": nothing was asked. `unavailable` says why in a word (missing, in use, ...).
        return {"port": port, "answers_at": False, "unavailable": exc.reason, "error": str(exc)}
    except ChannelClosed as exc:
        return {"port": port, "answers_at": False, "error": str(exc)}
    error = ""
    try:
        # A port that takes no AT (DIAG, NMEA, PPP data) stays silent: the first probe bounds the wait.
        if await _answers(channel, timeout):
            await asyncio.wait_for(modem.probe(), PROBE_LIMIT)
    except (AtError, asyncio.TimeoutError) as exc:
        error = str(exc) or "timeout"
    finally:
        await channel.close()
    ident = modem.status.identity
    if not (ident.manufacturer or ident.model):
        return {"port": port, "answers_at": False, "error": error or "no answer to AT"}
    return {"port": port, "answers_at": True, **modem.status.as_dict()}


async def _answers(channel: AtChannel, timeout: float) -> bool:
    try:
        return await asyncio.wait_for(channel.resync(), timeout)
    except asyncio.TimeoutError:
        return False


async def send_once(args, text: str, pin: str | None, pin_memory=None) -> int:
    try:
        pdu.plan(text)
        pdu.encode_submit(args.to, "")   # validates the number before the modem is touched
    except pdu.PduError as exc:
        print(f"modemd sendsms: {exc}", file=sys.stderr)
        return 2
    channel = AtChannel(args.port, baudrate=args.baud, rtscts=args.rtscts)
    settings = ModemConfig(name="sendsms", port=args.port, baud=args.baud, rtscts=args.rtscts, pin=pin,
                           registration_timeout=args.registration_timeout)
    modem = Modem(settings, channel, pin_memory=pin_memory)
    try:
        await channel.open()
    except ChannelClosed as exc:
        print(f"modemd sendsms: cannot open {args.port}: {exc}", file=sys.stderr)
        return EXIT_UNAVAILABLE
    try:
        return await _bring_up_and_send(modem, args, text)
    finally:
        await channel.close()


async def _bring_up_and_send(modem: Modem, args, text: str) -> int:
    try:
        await modem.bring_up()
    except SimLocked as exc:
        print(f"modemd sendsms: SIM locked: {exc}", file=sys.stderr)
        return EXIT_UNAVAILABLE
    except AtError as exc:
        print(f"modemd sendsms: modem bring-up failed: {exc}", file=sys.stderr)
        return EXIT_UNAVAILABLE
    if not modem.can_send:
        print(f"modemd sendsms: modem not registered to a network ({modem.status.as_dict()['registration_text']})",
              file=sys.stderr)
        return EXIT_TEMPFAIL
    try:
        result = await modem.send_sms(args.to, text, status_report=not args.no_report, validity=args.validity)
    except SmsSendFailed as exc:
        print(f"modemd sendsms: {exc}", file=sys.stderr)
        return EXIT_FAILED if classify(exc.cause) is ErrorClass.PERMANENT else EXIT_TEMPFAIL
    print(f"sent to {mask_number(args.to)}: {result.parts} part(s), message references "
          f"{','.join(map(str, result.references))}")
    return EXIT_OK
