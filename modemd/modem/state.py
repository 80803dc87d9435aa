"""Part of the modem layer, behind modem.py: what a modem is and how its state moves. No AT strings here.

The records (ModemState, ModemIdentity, ModemStatus, StoredPdu, SendResult, SmsSendFailed), the texts for
registration states, and `ModemStateTracker`, the object a `modem.Modem` owns and feeds to keep its state: state
changes (logged, reported to the supervisor), readiness from registration, signal changes worth logging, a device
pause, "not responding" and "offline". It never touches the port: the Modem and its parts (sim.py, network.py) hand
it readings, the Modem subscribes it to its SignalChanged and RegistrationChanged events, and the Modem's own
check_answering() runs the resync probe that decides a hang. Every command a modem is sent is written in modem.py,
sim.py (the SIM) and network.py (radio and registration).

The states an up modem moves between, and who moves it:

    READY <-> NOT_REGISTERED       registration (URCs, status polls)
    READY  -> PAUSED -> READY      the outbox after a device error (SIM, barring, no SMSC), for `device_pause` s
    READY  -> NOT_RESPONDING       the outbox (a command unanswered, then no answer to "AT") or the supervisor (a
           -> READY                status poll timed out, then no answer); back when the supervisor's probe is
                                   answered; re-opened (bring-up) if it stays silent
"""

from __future__ import annotations

import asyncio
import enum
import logging
import time
from dataclasses import asdict, dataclass, field
from typing import Callable

from ..domain.errors import AtError, ModemdError
from ..domain.redact import IDENTITY_HEADS, mask_identity
from .events import RegistrationChanged, SignalChanged

# TS 27.007 7.2 <stat>: 1 registered home, 5 roaming; 6/7 (E-UTRAN) "registered for SMS only" still carry SMS.
REGISTERED_STATES = frozenset({1, 5, 6, 7})
REGISTRATION_TEXT = {0: "not registered", 1: "home", 2: "searching", 3: "denied", 4: "unknown", 5: "roaming",
                     6: "home (SMS only)", 7: "roaming (SMS only)"}
# Signal changes smaller than this many CSQ steps (2 dB each) are normal fading and not logged.
SIGNAL_LOG_STEP = 5


class ModemState(enum.Enum):
    OFFLINE = "offline"                # port absent or closed
    INITIALIZING = "initializing"      # bring-up running
    SIM_LOCKED = "sim_locked"          # needs a human: no/wrong PIN, PUK, no SIM
    NOT_REGISTERED = "not_registered"  # up, but no network service (searching, denied)
    READY = "ready"                    # registered, can send
    PAUSED = "paused"                  # up, but resting after a device error (queue.device_pause); resumes itself
    NOT_RESPONDING = "not_responding"  # port open, but the modem does not answer AT commands (hung firmware)
    FAILED = "failed"                  # device unusable as is (e.g. no PDU mode)


@dataclass
class ModemIdentity:
    manufacturer: str = ""
    model: str = ""
    revision: str = ""
    imei: str = ""
    imsi: str = ""
    iccid: str = ""


@dataclass
class ModemStatus:
    state: ModemState = ModemState.OFFLINE
    identity: ModemIdentity = field(default_factory=ModemIdentity)
    sim: str = ""
    registration: int | None = None
    rssi: int | None = None           # TS 27.007 8.5 <rssi> 0..31, None when unknown (99)
    operator: str = ""
    smsc: str = ""
    last_error: str = ""
    updated_at: float = 0.0

    @property
    def signal_dbm(self) -> int | None:
        return None if self.rssi is None else -113 + 2 * self.rssi

    def as_dict(self) -> dict:
        data = asdict(self)
        data["state"] = self.state.value
        data["registration_text"] = REGISTRATION_TEXT.get(self.registration, "unknown") \
            if self.registration is not None else "unknown"
        data["signal_dbm"] = self.signal_dbm
        return data


@dataclass(frozen=True)
class StoredPdu:
    index: int            # location in the modem's storage (0-based on Quectel, 1-based on others)
    stat: int             # TS 27.005 3.1 <stat>: 0 received unread, 1 read, 2 stored unsent, 3 stored sent
    hex: str
    tpdu_length: int


@dataclass(frozen=True)
class SendResult:
    references: list[int]   # TP-MR of each part, in order (kept to match delivery reports)
    parts: int


class SmsSendFailed(ModemdError):
    """A send that failed after `parts_sent` parts were accepted by the network (0 = nothing went out)."""

    def __init__(self, cause: AtError, parts_sent: int, references: list[int]):
        super().__init__(f"send failed after {parts_sent} part(s): {cause}")
        self.cause = cause
        self.parts_sent = parts_sent
        self.references = references


class IdentityMismatch(ModemdError):
    """The modem on the port is not the one its [[modems]] table names (imei/iccid/imsi): the keys compared, as
    configured and as the modem printed them."""

    def __init__(self, expected: dict[str, str], found: dict[str, str]):
        super().__init__(f"expected {identity_text(expected)}, found {identity_text(found)}")
        self.expected, self.found = expected, found


# How much of each identity a log or a listing shows: the head names the maker or issuer (IMEI's TAC, ICCID's
# issuer, IMSI's MCC+MNC), the last two digits tell two units apart (domain.redact.mask_id).
def identity_text(identity: dict[str, str]) -> str:
    """'IMEI 86675804*****53 ICCID 8949020***********92', masked; 'no identity' when nothing is known."""
    shown = [f"{k.upper()} {mask_identity(k, v)}" for k, v in identity.items() if v and k in IDENTITY_HEADS]
    return " ".join(shown) or "no identity"


class ModemStateTracker:
    """What one modem is and how its state moves, owned and fed by its Modem: readings from status polls and
    URC events, verdicts from the outbox (pause, not responding) and the supervisor (answers again, offline).
    Talks to no port; logs through the modem's logger, so records keep its name (modemd.modem.modem)."""

    def __init__(self, name: str, log: logging.LoggerAdapter,
                 on_state: Callable[[ModemState], None] | None = None):
        self.name = name
        self.status = ModemStatus()
        self.log = log
        self._on_state = on_state
        self._resume: asyncio.TimerHandle | None = None     # ends a PAUSED state

    def set_state(self, state: ModemState, reason: str = "") -> None:
        changed = state is not self.status.state
        if changed:
            self.log.info("[%s] state %s -> %s%s", self.name, self.status.state.value, state.value,
                          f" ({reason})" if reason else "")
            if self._resume is not None:      # any change ends a pause (a lost port, a new bring-up)
                self._resume.cancel()
                self._resume = None
        self.status.state = state
        self.status.updated_at = time.time()
        if changed and self._on_state:
            self._on_state(state)

    def _registered_state(self, reason: str) -> None:
        """Back from a pause or a hang: READY or NOT_REGISTERED, whichever the registration says."""
        if self.status.registration in REGISTERED_STATES:
            self.set_state(ModemState.READY, reason)
        else:
            self.set_state(ModemState.NOT_REGISTERED,
                           REGISTRATION_TEXT.get(self.status.registration or 0, "unknown"))

    # ---- device pause ------------------------------------------------------------------------------------------
    def pause(self, seconds: float, reason: str) -> None:
        """A device error (SIM, barring, no SMSC): stop sending for `seconds`, visibly (state PAUSED, can_send
        false, /readyz and /v1/modems say so), then back to READY by itself. Only a ready modem pauses: one that
        is gone or hung already says why it cannot send."""
        if seconds <= 0 or self.status.state is not ModemState.READY:
            return
        self.status.last_error = reason
        self.set_state(ModemState.PAUSED, f"{reason}; sending again in {seconds:g} s")
        self._resume = asyncio.get_running_loop().call_later(seconds, self._end_pause)

    def _end_pause(self) -> None:
        self._resume = None
        if self.status.state is ModemState.PAUSED:
            self._registered_state("pause over")

    # ---- not responding, offline -------------------------------------------------------------------------------
    def mark_not_responding(self, reason: str) -> None:
        """The port is there but the modem does not answer. Not over a state that already says more (offline:
        the port is gone; sim_locked, failed: a human must act)."""
        if self.status.state in (ModemState.OFFLINE, ModemState.SIM_LOCKED, ModemState.FAILED):
            return
        self.status.last_error = reason
        self.set_state(ModemState.NOT_RESPONDING, reason)

    def mark_answering(self) -> None:
        """The supervisor's probe was answered: a hung modem is back (ready, or not registered)."""
        if self.status.state is ModemState.NOT_RESPONDING:
            self._registered_state("answers again")

    @property
    def not_responding(self) -> bool:
        return self.status.state is ModemState.NOT_RESPONDING

    def mark_offline(self, reason: str) -> None:
        self.status.last_error = reason
        self.set_state(ModemState.OFFLINE, reason)

    # ---- readings ----------------------------------------------------------------------------------------------
    def update_readiness(self) -> None:
        """Registration changes move an up modem between READY and NOT_REGISTERED; bring_up() sets the first."""
        if self.status.state not in (ModemState.READY, ModemState.NOT_REGISTERED):
            return
        if self.status.registration in REGISTERED_STATES:
            self.set_state(ModemState.READY)
        else:
            self.set_state(ModemState.NOT_REGISTERED,
                           REGISTRATION_TEXT.get(self.status.registration or 0, "unknown"))

    def update_signal(self, rssi: int | None) -> None:
        """Log a signal change worth an admin's eye: to or from unknown, or by 10 dB or more (5 CSQ steps)."""
        old = self.status.rssi
        self.status.rssi = rssi
        if self.status.state is ModemState.INITIALIZING or old == rssi:
            return
        if old is None or rssi is None or abs(rssi - old) >= SIGNAL_LOG_STEP:
            self.log.info("[%s] signal: %s -> %s", self.name, _dbm_text(old), _dbm_text(rssi))

    # ---- events (the Modem subscribes these to itself) ---------------------------------------------------------
    def signal_changed(self, event: SignalChanged) -> None:
        self.update_signal(event.rssi)

    def registration_changed(self, event: RegistrationChanged) -> None:
        """+CREG / +CEREG (TS 27.007 7.2, 10.1.22): the new <stat>, logged when it changed."""
        if event.stat != self.status.registration:
            self.log.info("[%s] registration: %s", self.name, REGISTRATION_TEXT.get(event.stat, str(event.stat)))
        self.status.registration = event.stat
        self.update_readiness()


def _dbm_text(rssi: int | None) -> str:
    return "unknown" if rssi is None else f"{-113 + 2 * rssi} dBm"
