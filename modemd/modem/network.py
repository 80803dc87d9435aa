"""Part of the modem layer, behind modem.py: the radio and the network a modem is on. Radio power (AT+CFUN, TS 27.007
8.2), registration (+CREG 7.2, +CEREG 10.1.22), operator selection (+COPS 7.3) and signal (+CSQ 8.5).

Split from modem.py along the line ModemManager draws between a modem and its 3GPP interface: the Modem decides the
order of a bring-up and owns SMS; this part knows how to get a modem onto a network and what it reads about it.
Readings go to the modem's state tracker, which moves READY <-> NOT_REGISTERED with them.
"""

from __future__ import annotations

import asyncio
import logging
import time

from ..at import replies
from .commands import ModemCommands, first_line
from .state import REGISTERED_STATES, ModemState, ModemStateTracker

# AT+CFUN=1 powers the radio (and maybe the SIM) up: 15 s is Quectel's documented maximum response time.
CFUN_TIMEOUT = 15.0
# AT+COPS=0 may answer only once the modem has registered: Quectel documents up to 180 s.
COPS_TIMEOUT = 180.0
# While waiting for registration, +CREG?/+CEREG? once a second: registering takes seconds, a query milliseconds.
REGISTRATION_POLL = 1.0


class Network:
    def __init__(self, at: ModemCommands, tracker: ModemStateTracker, log: logging.LoggerAdapter):
        self.name = tracker.name
        self.status = tracker.status
        self.log = log
        self._at = at
        self._tracker = tracker

    async def radio_on(self) -> None:
        """A modem left in airplane mode (+CFUN: 4) or minimum functionality (0) never registers, and ATZ does not
        change that (TS 27.007 8.2). Like gammu's network check, switch the radio on; before the SIM step, since
        leaving CFUN 0 powers the SIM up and it may ask for its PIN."""
        fun = (await self._at.optional_info("AT+CFUN?", "+CFUN:")).split(",")[0].strip()
        if fun in ("", "1"):                   # on, or a device without +CFUN (Android ACM ports)
            return
        self.log.warning("[%s] radio was off (+CFUN: %s); switching it on", self.name, fun)
        if not await self._at.optional("AT+CFUN=1", timeout=CFUN_TIMEOUT):
            self.log.warning("[%s] the modem refused AT+CFUN=1: it will not register", self.name)

    async def enable_registration_urcs(self) -> None:
        # +CREG=1 reports <stat> changes as URCs (TS 27.007 7.2); LTE-only modems report on +CEREG instead.
        await self._at.optional("AT+CREG=1")
        await self._at.optional("AT+CEREG=1")
        await self._at.optional("AT+COPS=3,0")   # operator name in long alphanumeric format for +COPS?
        await self._leave_deregistered_mode()

    async def _leave_deregistered_mode(self) -> None:
        """+COPS: 2 means someone told the modem to deregister and not look for a network (TS 27.007 7.3); it stays
        so across resets on many modems. Automatic selection again; a manual choice (mode 1 or 4) is kept."""
        line = await self._at.optional_info("AT+COPS?", "+COPS:")
        if not line or replies.parse_cops_full("+COPS: " + line).mode != 2:
            return
        self.log.warning("[%s] the modem was deregistered (+COPS: 2); selecting the network automatically", self.name)
        if not await self._at.optional("AT+COPS=0", timeout=COPS_TIMEOUT):
            self.log.warning("[%s] the modem refused AT+COPS=0: it will not register", self.name)

    async def wait_for_registration(self, timeout: float) -> None:
        """Until registered (home, roaming, or SMS only) or `timeout` s passed; not registered is no error."""
        deadline = time.monotonic() + timeout
        while True:
            await self.read_registration()
            if self.status.registration in REGISTERED_STATES or time.monotonic() >= deadline:
                return
            await asyncio.sleep(REGISTRATION_POLL)

    async def read_registration(self) -> None:
        """+CREG? and +CEREG?: registered on either counts (LTE-only modems register on +CEREG only)."""
        stats = []
        for command, prefix in (("AT+CREG?", "+CREG:"), ("AT+CEREG?", "+CEREG:")):
            line = await self._at.optional_info(command, prefix)
            if line:
                stats.append(replies.parse_creg(f"{prefix} {line}").stat)
        registered = [s for s in stats if s in REGISTERED_STATES]
        self.status.registration = registered[0] if registered else (stats[0] if stats else None)
        self._tracker.update_readiness()

    async def refresh(self) -> None:
        """The status poll: registration, signal and operator, each change worth it logged."""
        await self.read_registration()
        rssi, _ber = replies.parse_csq(first_line(await self._at.run("AT+CSQ", expect="+CSQ:"), "+CSQ:"))
        self._tracker.update_signal(rssi)
        operator = await self._read_operator()
        if operator != self.status.operator and self.status.state is not ModemState.INITIALIZING:
            self.log.info("[%s] operator: %r -> %r", self.name, self.status.operator, operator)
        self.status.operator = operator
        self._tracker.update_readiness()

    async def probe(self) -> None:
        """What `modemd probe` shows of the network, without logging changes or moving the state."""
        await self.read_registration()
        csq = await self._at.optional_info("AT+CSQ", "+CSQ:")
        self.status.rssi = replies.parse_csq("+CSQ: " + csq)[0] if csq else None
        self.status.operator = await self._read_operator()

    async def _read_operator(self) -> str:
        cops = await self._at.optional_info("AT+COPS?", "+COPS:")
        return replies.parse_cops("+COPS: " + cops) if cops else ""
