"""Part of the modem layer, behind modem.py: the SIM in a modem. Its state (AT+CPIN?, TS 27.007 8.3), its PIN, and
its identity (IMSI, ICCID).

Split from modem.py because the PIN is the one thing a modem must never get wrong twice: it is entered at most once
per bring-up, never again by this process once rejected (`Sim` lives as long as its Modem, across re-opens), and,
with a PinMemory, never again by a later process either (pin_memory.py). Every AT string of the SIM is written here.
"""

from __future__ import annotations

import asyncio
import logging

from ..at import replies
from ..domain.errors import AtError, CmeError, CommandError, SimLocked
from .commands import COMMAND_TIMEOUT, ModemCommands, first_line
from .pin_memory import PinMemory, PinMemoryUnreadable, sim_key
from .state import ModemState, ModemStateTracker

# ICCID has no 27.007 command; each vendor has its own (SIMCom and most: +CCID, Quectel +QCCID, Huawei ^ICCID, some
# +ICCID). Tried in this order; discovery (probe.py) reads it the same way.
ICCID_COMMANDS = ("AT+CCID", "AT+QCCID", "AT^ICCID", "AT+ICCID")


class Sim:
    def __init__(self, at: ModemCommands, tracker: ModemStateTracker, log: logging.LoggerAdapter, *,
                 pin: str | None, pin_memory: PinMemory | None):
        self.name = tracker.name
        self.status = tracker.status
        self.log = log
        self._at = at
        self._tracker = tracker
        self._pin = pin
        self._pin_rejected = False     # survives re-opens: a rejected PIN is never sent again by this process
        self._pin_memory = pin_memory  # ... and with it, by no later process either (None: `sendsms`, tests)

    async def unlock(self, ready_delay: float) -> None:
        """The SIM READY, entering the configured PIN if it asks for one; SimLocked for what needs a human.
        ready_delay: how long the device profile says the SIM needs after a PIN before it answers +CPIN? right."""
        state = await self.read_state()
        if state == "SIM PIN":
            if not self._pin:
                raise self._locked("the SIM asks for a PIN and none is configured", permanent=True)
            if self._pin_rejected:
                raise self._locked("the configured PIN was rejected before; not trying it again", True)
            sim = await self._check_pin_record()
            state = await self._enter_pin(sim, ready_delay)
        if state != "READY":
            raise self._locked(f"SIM state is {state!r}", permanent=True)

    async def read_state(self) -> str:
        """AT+CPIN? -> "READY", "SIM PIN", "SIM PUK", ... (also in status.sim)."""
        try:
            lines = await self._at.retry_busy("AT+CPIN?", "+CPIN:")
        except CmeError as exc:
            # CME 10 SIM not inserted, 13 SIM failure: nothing software can fix.
            raise self._locked(f"SIM not usable: {exc}", permanent=True) from exc
        self.status.sim = replies.parse_cpin(first_line(lines, "+CPIN:"))
        return self.status.sim

    async def read_identity(self) -> None:
        ident = self.status.identity
        ident.imsi = await self._at.optional_info("AT+CIMI", "+CIMI:")
        await self.read_iccid()

    # ---- the PIN -----------------------------------------------------------------------------------------------
    async def _check_pin_record(self) -> str:
        """Before the PIN goes out: did this SIM reject this very PIN in an earlier process? Returns its record key."""
        if self._pin_memory is None:
            return ""
        sim = sim_key(await self.read_iccid(), self.name)
        if sim.startswith("modem:"):
            self.log.warning("[%s] cannot read the SIM's ICCID; rejected PINs are recorded under the modem's name "
                             "(another SIM in this modem is not told apart)", self.name)
        try:
            rejection = await asyncio.to_thread(self._pin_memory.rejection, sim, self._pin)
        except PinMemoryUnreadable as exc:   # the safe side (see PinMemoryUnreadable): no record, no PIN at all
            raise self._locked(str(exc), permanent=True) from exc
        if rejection is not None:
            raise self._locked(rejection.refusal(), permanent=True)
        return sim

    async def _enter_pin(self, sim: str, ready_delay: float) -> str:
        """Entered once per bring-up and never retried: three wrong PINs lock the SIM to PUK. The SIM state after."""
        self.log.info("[%s] entering SIM PIN", self.name)
        try:
            await self._at.run(f'AT+CPIN="{self._pin}"', timeout=COMMAND_TIMEOUT, secret=True)
        except (CmeError, CommandError) as exc:
            await self._update_pin_record(sim, rejected=True)
            raise self._locked(f"the SIM rejected the configured PIN ({exc}); not retrying", True) from exc
        except AtError:     # no answer (timeout, port lost): the SIM may have counted it; assume it did
            await self._update_pin_record(sim, rejected=True)
            raise
        await asyncio.sleep(ready_delay)
        state = await self.read_state()
        if state in ("READY", "SIM PIN", "SIM PUK"):   # still locked after "OK": the PIN did not open the SIM
            await self._update_pin_record(sim, rejected=state != "READY")
        return state

    async def _update_pin_record(self, sim: str, *, rejected: bool) -> None:
        """A failed write is logged: this process still never retries the PIN (_pin_rejected); a restart might."""
        self._pin_rejected = self._pin_rejected or rejected
        if self._pin_memory is None:
            return
        try:
            if rejected:
                await asyncio.to_thread(self._pin_memory.record, sim, self.name, self._pin)
                self.log.warning("[%s] PIN rejection recorded in %s", self.name, self._pin_memory.path)
            else:
                await asyncio.to_thread(self._pin_memory.forget, sim)
        except (OSError, PinMemoryUnreadable) as exc:
            self.log.error("[%s] cannot update the record of rejected SIM PINs: %s", self.name, exc)

    def _locked(self, reason: str, permanent: bool) -> SimLocked:
        self.status.last_error = reason
        self._tracker.set_state(ModemState.SIM_LOCKED, reason)
        return SimLocked(reason, permanent=permanent)

    # ---- identity ----------------------------------------------------------------------------------------------
    async def read_iccid(self) -> str:
        """Readable before the PIN is entered (EF_ICCID is not PIN-protected, TS 31.102 4.1.1). ICCID has no 27.007
        command; each vendor has its own (ICCID_COMMANDS). "" if none answers."""
        iccid = await iccid_of(self._at)
        if iccid:
            self.status.identity.iccid = iccid
        return iccid


async def iccid_of(at: ModemCommands) -> str:
    """The first answer of the ICCID_COMMANDS, quotes stripped; "" if none answers."""
    for command in ICCID_COMMANDS:
        iccid = await at.optional_info(command, command[2:] + ":")
        if iccid:
            return iccid.strip('"')
    return ""
