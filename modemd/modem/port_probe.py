"""Asking one serial port what it is, for discovery (discovery.py): a modem (and which: IMEI, ICCID, IMSI, maker,
model), not a modem, or in use by someone else.

What a probe does to a port, and why no more:
- it opens the port the way the daemon does (serial.SerialLink: flock and TIOCEXCL), so a port another process
  holds (ModemManager, minicom, a second modemd) refuses the open and is reported "in use by ..." without a single
  byte written to it; UUCP lock files are honoured the same way (port_check.check_port);
- it writes only "AT\r" first and waits `timeout`: a GPS's NMEA port, a Zigbee stick or a console on ttyUSB get one
  line they ignore, nothing that changes their state (no ESC, no ATZ: a resync's ESC means "cancel" to a modem but
  is a byte a non-modem may act on);
- only after an OK: a resync (ESC, then "AT" until the line is quiet: drains what a previous user left unread),
  ATE0 (so answers are not mixed with echo), AT+CGMI/+CGMM, AT+CGSN (IMEI), AT+CIMI (IMSI: needs
  the SIM unlocked, so a SIM waiting for its PIN has none) and the ICCID commands (sim.ICCID_COMMANDS; readable
  without the PIN). Nothing is written that a bring-up would not write anyway; no PIN, no settings.
"""

from __future__ import annotations

import logging
import os
from dataclasses import asdict, dataclass

from ..at.channel import AtChannel
from ..at.port_check import IN_USE, PortUnavailable
from ..config.identity import normalize_identity
from ..domain.errors import AtError, AtTimeout, ChannelClosed
from .commands import ModemCommands
from .sim import iccid_of

log = logging.getLogger(__name__)

# PortFinding.status values
MODEM, NOT_A_MODEM, IN_USE_ELSEWHERE, UNAVAILABLE = "modem", "not a modem", "in use", "unavailable"
OURS, SECONDARY = "ours", "another port of the same modem"


@dataclass
class PortFinding:
    path: str                    # as found: the stable link (by-id) when there is one
    realpath: str                # the device node it resolves to (one port however many links name it)
    status: str                  # MODEM, NOT_A_MODEM, IN_USE_ELSEWHERE, UNAVAILABLE, OURS, SECONDARY
    detail: str = ""             # why (the holder of a busy port, what did not answer)
    manufacturer: str = ""
    model: str = ""
    imei: str = ""
    iccid: str = ""
    imsi: str = ""
    modem: str | None = None     # the configured modem it is (or is held by); None: not configured

    @property
    def identity(self) -> dict[str, str]:
        return {"imei": self.imei, "iccid": self.iccid, "imsi": self.imsi}

    def as_dict(self) -> dict:
        return asdict(self)


async def probe_port(path: str, realpath: str, timeout: float) -> PortFinding:
    """Open `path`, ask it "AT" (timeout seconds), and if it answers read who it is; always closed again."""
    adapter = logging.LoggerAdapter(log, {"modem": os.path.basename(path)})
    channel = AtChannel(path, log=adapter)
    try:
        await channel.open()
    except PortUnavailable as exc:
        status = IN_USE_ELSEWHERE if exc.reason == IN_USE else UNAVAILABLE
        return PortFinding(path, realpath, status, str(exc))
    except ChannelClosed as exc:
        return PortFinding(path, realpath, UNAVAILABLE, str(exc))
    try:
        return await _ask(channel, PortFinding(path, realpath, MODEM), timeout)
    finally:
        await channel.close()


async def _ask(channel: AtChannel, finding: PortFinding, timeout: float) -> PortFinding:
    try:
        await channel.command("AT", timeout=timeout)
    except AtTimeout:
        finding.status, finding.detail = NOT_A_MODEM, f"no answer to AT within {timeout:g} s"
        return finding
    except AtError as exc:       # ERROR to a bare AT, or the port went away
        finding.status, finding.detail = NOT_A_MODEM, f"AT: {exc}"
        return finding
    # It answers AT, so it is a modem, and a resync's ESC is safe now. It drains what the port's previous user left
    # unread (a reply that came after it closed): without it, those lines would be taken for the answers to our
    # identity commands, and a wrong identity remembered for this port until it is replugged.
    if not await channel.resync():
        finding.status, finding.detail = NOT_A_MODEM, "answered AT once, then not the resync's probes"
        return finding
    try:
        await _read_identity(ModemCommands(os.path.basename(finding.path), channel, channel.log), finding)
    except AtError as exc:       # it answered AT, then stopped: keep what was read, say why the rest is missing
        finding.detail = f"identity incomplete: {exc}"
    return finding


async def _read_identity(at: ModemCommands, finding: PortFinding) -> None:
    await at.optional("ATE0")
    finding.manufacturer = await at.optional_info("AT+CGMI", "+CGMI:")
    finding.model = await at.optional_info("AT+CGMM", "+CGMM:")
    finding.imei = normalize_identity("imei", await at.optional_info("AT+CGSN", "+CGSN:"))
    finding.imsi = normalize_identity("imsi", await at.optional_info("AT+CIMI", "+CIMI:"))
    finding.iccid = normalize_identity("iccid", await iccid_of(at))
