"""The Modem: bring-up, status, and sending and reading SMS over one AtChannel. With sim.py and network.py, the
only modules that write AT command strings.

A Modem does not reconnect by itself; the supervisor (supervisor.py) owns the channel's life and calls bring_up()
after each (re)open. Everything device-specific comes from a quirks.DeviceProfile.

A Modem is composed of small parts of the modem layer, none with AT strings of its own but Sim and Network: a
state.ModemStateTracker (what the modem is, how its state moves; fed readings here), a commands.ModemCommands (how a
command is sent, retried while the SIM is busy, or treated as optional), a sim.Sim (SIM state, PIN, identity) and a
network.Network (radio, registration, operator, signal).
It reports upward through typed events (events.py): the channel hands it every URC, urcs.py says what the URC
means, and whoever subscribed with `modem.on(EventType, handler)` is called (the tracker, the inbox, the supervisor).
The records (ModemState, ModemStatus, StoredPdu, SendResult, SmsSendFailed, ...) live in state.py; every name other
modules import from `modemd.modem.modem` is available here.
"""

from __future__ import annotations

import logging
import random
from typing import Callable

from ..at import replies
from ..codec import pdu
from ..at.channel import AtChannel, Urc
from ..config.model import ModemConfig
from ..domain.errors import AtError, AtTimeout, CmsError, SimLocked
from .commands import COMMAND_TIMEOUT, SIM_BUSY_DELAY, SIM_BUSY_RETRIES, ModemCommands, first_line
from .events import E, EventHandlers, ModemLost, RegistrationChanged, SignalChanged
from .state import (REGISTERED_STATES, REGISTRATION_TEXT, SIGNAL_LOG_STEP, IdentityMismatch, ModemIdentity,
                    ModemState, ModemStateTracker, ModemStatus, SendResult, SmsSendFailed, StoredPdu)
from ..config.identity import same_modem
from .pin_memory import PinMemory
from .quirks import GENERIC, DeviceProfile, profile_for_model
from .network import Network
from .sim import Sim
from .urcs import event_for
from ..domain.redact import mask_identity, mask_number

__all__ = ["Modem", "ModemState", "ModemIdentity", "ModemStatus", "ModemStateTracker", "StoredPdu", "SendResult",
           "SmsSendFailed", "REGISTERED_STATES", "REGISTRATION_TEXT", "SIGNAL_LOG_STEP", "COMMAND_TIMEOUT",
           "LIST_TIMEOUT", "SIM_BUSY_RETRIES", "SIM_BUSY_DELAY"]

log = logging.getLogger(__name__)

# Listing a full SIM (hundreds of PDUs at 115200 baud) takes a few seconds on real modems.
LIST_TIMEOUT = 30.0


class Modem:
    def __init__(self, settings: ModemConfig, channel: AtChannel, *,
                 on_state: Callable[[ModemState], None] | None = None, pin_memory: PinMemory | None = None):
        self.settings = settings
        name = self.name = settings.name
        self.channel = channel
        self.profile: DeviceProfile = GENERIC
        self.log = logging.LoggerAdapter(log, {"modem": name})
        self._tracker = ModemStateTracker(name, self.log, on_state)
        self.status: ModemStatus = self._tracker.status
        self._events = EventHandlers(self.log)
        self._events.on(SignalChanged, self._tracker.signal_changed)
        self._events.on(RegistrationChanged, self._tracker.registration_changed)
        self._at = ModemCommands(name, channel, self.log)
        self._sim = Sim(self._at, self._tracker, self.log, pin=settings.pin, pin_memory=pin_memory)
        self._network = Network(self._at, self._tracker, self.log)
        self._concat_ref = random.randrange(256)

    # ---- bring-up ----------------------------------------------------------------------------------------------
    async def bring_up(self) -> ModemStatus:
        """Reset to a known state and check SIM, network and SMS settings. Raises on what needs a human."""
        self._tracker.set_state(ModemState.INITIALIZING)
        await self._reset()
        await self._read_identity()
        await self._verify_identity(before_pin=True)
        await self._network.radio_on()
        await self._sim.unlock(self.profile.sim_ready_delay)
        await self._sim.read_identity()
        await self._verify_identity(before_pin=False)
        await self._configure_sms()
        await self._network.enable_registration_urcs()
        await self._network.wait_for_registration(self.settings.registration_timeout)
        await self.refresh_status()
        registered = self.status.registration in REGISTERED_STATES
        self._tracker.set_state(ModemState.READY if registered else ModemState.NOT_REGISTERED,
                                "" if registered else REGISTRATION_TEXT.get(self.status.registration or 0, "unknown"))
        ident = self.status.identity
        self.log.info("[%s] up: %s %s rev %s, IMEI %s, operator %r, signal %s dBm, %s", self.name,
                      ident.manufacturer, ident.model, ident.revision, mask_identity("imei", ident.imei), self.status.operator,
                      self.status.signal_dbm, REGISTRATION_TEXT.get(self.status.registration or 0, "unknown"))
        return self.status

    async def probe(self) -> ModemStatus:
        """Read what a person checking hardware wants to see, changing nothing but echo and error format.

        Unlike bring_up() it never enters a PIN and does not wait for the network.
        """
        await self._reset()
        await self._read_identity()
        try:
            await self._sim.read_state()
        except SimLocked:
            pass
        if self.status.sim == "READY":
            await self._sim.read_identity()
            self.status.smsc = await self._read_smsc()
        await self._network.probe()
        return self.status

    async def _reset(self) -> None:
        if not await self.channel.resync():
            raise AtTimeout("modem does not answer AT")
        # ATZ restores the stored profile and so turns echo back on (python-gsmmodem logs); ATE0 after it.
        await self._at.run("ATZ")
        await self._at.run("ATE0")
        await self._at.run("AT+CMEE=1")   # numeric +CME ERROR: <n> instead of a bare ERROR (TS 27.007 9.1)

    async def _read_identity(self) -> None:
        ident = self.status.identity
        ident.manufacturer = await self._at.info("AT+CGMI", "+CGMI:")
        ident.model = await self._at.info("AT+CGMM", "+CGMM:")
        ident.revision = await self._at.info("AT+CGMR", "+CGMR:")
        ident.imei = await self._at.info("AT+CGSN", "+CGSN:")
        ident.iccid = ident.imsi = ""        # the SIM's are read anew: the port may hold another modem now
        self.profile = profile_for_model(ident.model)
        for command in self.profile.extra_init:
            await self._at.optional(command)

    async def _verify_identity(self, *, before_pin: bool) -> None:
        """A [[modems]] table that names its modem (imei, iccid, imsi): is this it? IMEI and ICCID are checked before
        the PIN (ICCID is readable without it), so a configured PIN never reaches another modem's SIM; IMSI needs
        the SIM open and is checked after. IdentityMismatch if not."""
        keys = ("imei", "iccid") if before_pin else ("imsi",)
        wanted = {k: v for k, v in self.settings.identity.items() if k in keys}
        if not wanted:
            return
        if "iccid" in wanted:
            await self._sim.read_iccid()
        ident = self.status.identity
        seen = {"imei": ident.imei, "iccid": ident.iccid, "imsi": ident.imsi}
        if not same_modem(wanted, seen):
            raise IdentityMismatch(wanted, {k: seen[k] for k in wanted})

    async def _configure_sms(self) -> None:
        try:
            await self._at.retry_busy("AT+CMGF=0", None)   # PDU mode only: text mode lets user bytes run as commands
        except AtError as exc:
            self.status.last_error = f"PDU mode not supported: {exc}"
            self._tracker.set_state(ModemState.FAILED, self.status.last_error)
            raise
        if self.profile.cnmi:
            if not await self._at.optional(f"AT+CNMI={self.profile.cnmi}"):
                self.log.warning("[%s] AT+CNMI refused; new messages will be found by polling", self.name)
        if self.settings.smsc:
            await self._at.run(f'AT+CSCA="{self.settings.smsc}",145')
        self.status.smsc = await self._read_smsc()
        if not self.status.smsc and not self.settings.smsc:
            self.log.warning("[%s] no SMSC on the SIM (AT+CSCA? empty); sends will fail with CMS 330 until one "
                             "is configured", self.name)

    async def _read_smsc(self) -> str:
        line = await self._at.optional_info("AT+CSCA?", "+CSCA:")
        return replies.parse_csca("+CSCA: " + line)[0] if line else ""

    # ---- status ------------------------------------------------------------------------------------------------
    async def refresh_status(self) -> ModemStatus:
        await self._network.refresh()
        return self.status

    # ---- sending -----------------------------------------------------------------------------------------------
    async def send_sms(self, to: str, text: str, *, status_report: bool = True,
                       validity: int | None = None) -> SendResult:
        """Submit one SMS (all its parts) in PDU mode. Raises SmsSendFailed with how many parts went out."""
        parts = pdu.encode_submit(to, text, status_report=status_report, validity=validity,
                                  concat_ref=self._next_concat_ref(), smsc=self.settings.smsc)
        references: list[int] = []
        for number, part in enumerate(parts, 1):
            try:
                references.append(await self._submit_part(part))
            except AtError as exc:
                self.status.last_error = str(exc)
                raise SmsSendFailed(exc, len(references), references) from exc
            self.log.debug("[%s] part %d/%d to %s accepted, mr=%d", self.name, number, len(parts),
                           mask_number(to), references[-1])
        return SendResult(references=references, parts=len(parts))

    async def _submit_part(self, part: pdu.SubmitPart) -> int:
        # TS 27.005 3.5.1: AT+CMGS=<length> counts TPDU octets only, not the SMSC field in front of it.
        lines = await self.channel.command_with_payload(
            f"AT+CMGS={part.tpdu_length}", part.hex, prompt_timeout=self.profile.prompt_timeout,
            timeout=self.profile.submit_timeout, secret=True)
        return replies.parse_cmgs(first_line(lines, "+CMGS:"))

    # ---- stored messages (TS 27.005 3.4.2, 3.5) ---------------------------------------------------------------
    async def list_stored(self) -> list[StoredPdu]:
        """Every message in the preferred storage (AT+CMGL=4: all, PDU mode), with its index."""
        lines = await self._at.run("AT+CMGL=4", expect="+CMGL:", timeout=LIST_TIMEOUT)
        stored: list[StoredPdu] = []
        for header, body in zip(lines, lines[1:]):
            if header.startswith("+CMGL:") and replies.is_hex_line(body):
                head = replies.parse_cmgl_header(header)
                stored.append(StoredPdu(head.index, head.stat, body.strip(), head.length))
        return stored

    async def read_stored(self, index: int) -> StoredPdu | None:
        """AT+CMGR=<index>; None when the location is empty (some modems answer OK with nothing, some CMS 321)."""
        try:
            lines = await self._at.run(f"AT+CMGR={index}", expect="+CMGR:")
        except CmsError as exc:
            if exc.code == 321:
                return None
            raise
        for header, body in zip(lines, lines[1:]):
            if header.startswith("+CMGR:") and replies.is_hex_line(body):
                stat, _alpha, length = replies.parse_cmgr_header(header)
                return StoredPdu(index, stat, body.strip(), length)
        return None

    async def delete_stored(self, index: int) -> None:
        await self._at.run(f"AT+CMGD={index}")

    async def acknowledge(self) -> None:
        """+CNMA after a routed +CMT/+CDS, needed only in phase 2+ service (AT+CSMS=1); errors mean "not needed"."""
        await self._at.optional("AT+CNMA")

    def _next_concat_ref(self) -> int:
        self._concat_ref = (self._concat_ref + 1) % 256
        return self._concat_ref

    # ---- state (kept by the tracker; told by the outbox, the supervisor and the channel) -----------------------
    @property
    def can_send(self) -> bool:
        return self.status.state is ModemState.READY and self.channel.is_open

    @property
    def not_responding(self) -> bool:
        return self._tracker.not_responding

    def pause(self, seconds: float, reason: str) -> None:
        self._tracker.pause(seconds, reason)

    async def check_answering(self, reason: str) -> bool:
        """After a command went unanswered (no "> " prompt, a timeout before anything was submitted): does the
        modem answer at all? The channel's resync decides (ESC, then up to three "AT" probes, a few seconds at
        most). No answer: NOT_RESPONDING, until the supervisor's probes get one (supervisor.py)."""
        if await self.channel.resync():
            return True
        self._tracker.mark_not_responding(reason)
        return False

    def mark_not_responding(self, reason: str) -> None:
        self._tracker.mark_not_responding(reason)

    def mark_answering(self) -> None:
        self._tracker.mark_answering()

    def mark_offline(self, reason: str) -> None:
        self._tracker.mark_offline(reason)

    # ---- events (events.py) ------------------------------------------------------------------------------------
    def on(self, kind: type[E], handler: Callable[[E], None]) -> None:
        """Call handler(event) for every `kind` event of this modem (SmsStored, ModemLost, ...). Handlers run on the
        channel's reader: they must not send AT commands, only note or queue the work."""
        self._events.on(kind, handler)

    def handle_urc(self, urc: Urc) -> None:
        """Called by the channel's reader for every URC: what it means (urcs.py) goes to the subscribers, this
        modem's own state tracker first. No AT from here."""
        try:
            event = event_for(self.name, urc)
        except replies.ReplyParseError as exc:
            self.log.warning("[%s] %s URC not understood: %s", self.name, urc.name, exc)
            return
        if event is None:
            self.log.debug("[%s] URC %s", self.name, urc.name)
        else:
            self._events.emit(event)

    def connection_lost(self, exc: BaseException | None) -> None:
        """Called by the channel when its port went away (unplug, EIO): offline, then ModemLost to subscribers."""
        reason = f"port lost: {exc}" if exc else "port closed"
        self._tracker.mark_offline(reason)
        self._events.emit(ModemLost(self.name, reason))
