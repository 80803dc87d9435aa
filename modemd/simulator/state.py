"""What the simulated modem remembers: volatile ME settings, the SIM (PIN, SMS storage, TP-MR) (pure).

The split follows the hardware: ATZ / AT&F / power-up reset `Settings`; the `Sim` survives them, as a real
SIM keeps its SMS (EF_SMS), its service centre address (EF_SMSP) and the last TP-MR (EF_SMSS, TS 31.102 4.2.28).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from .profile import ModemProfile

# TS 27.005 3.1 <stat> in PDU mode, and its text-mode names.
STAT_NAMES = ("REC UNREAD", "REC READ", "STO UNSENT", "STO SENT", "ALL")
REC_UNREAD, REC_READ, STO_UNSENT, STO_SENT = 0, 1, 2, 3


@dataclass
class Settings:
    """ME settings a reset restores (V.250 6.1.1 Z, 6.1.2 &F); EC25 power-up defaults."""
    echo: bool = True                  # E1: real modems power up echoing
    verbose: bool = True               # V1
    quiet: bool = False                # Q0
    cmee: int = 0                      # TS 27.007 9.1; EC25 default 0 (plain ERROR)
    cmgf: int = 0                      # TS 27.005 3.2.3: PDU mode
    cscs: str = "GSM"                  # TS 27.007 5.5; EC25 default "GSM"
    csdh: int = 0
    csmp: tuple[int, int, int, int] = (17, 167, 0, 0)   # fo=SUBMIT+VPF relative, vp=167 (24 h), pid, dcs
    cnmi: tuple[int, int, int, int, int] = (2, 1, 0, 0, 0)   # EC25 default: buffer-and-flush, +CMTI, no +CDS
    csms: int = 0
    creg_n: int = 0
    cgreg_n: int = 0
    cereg_n: int = 0
    cops_format: int = 0               # 0 long alphanumeric, 1 short, 2 numeric
    cops_mode: int = 0                 # TS 27.007 7.3: 0 automatic, 1 manual, 2 deregistered, 4 manual/automatic
    cfun: int = 1
    cgatt: int = 1                     # TS 27.007 10.1.9: attached to packet service (EC25 attaches by itself)
    curc: int = 1
    clip: int = 0                      # TS 27.007 7.6: +CLIP URC for incoming calls off
    portsel: int = 0                   # Huawei ^PORTSEL: 0 URCs on the modem port, 1 on the PCUI port
    cgsms: int = 1


@dataclass
class StoredSms:
    stat: int
    pdu: str              # hex with the SMSC field, as AT+CMGR shows it
    tpdu_length: int


@dataclass
class SmsStorage:
    """One preferred memory ("SM"). EC25 numbers SIM locations from 0, which catches daemons that treat 0 as
    'no index'."""
    capacity: int
    first_index: int = 0
    slots: dict[int, StoredSms] = field(default_factory=dict)

    def used(self) -> int:
        return len(self.slots)

    def valid_index(self, index: int) -> bool:
        return self.first_index <= index < self.first_index + self.capacity

    def store(self, sms: StoredSms) -> int | None:
        """Lowest free location, as the ME picks it; None when full."""
        for index in range(self.first_index, self.first_index + self.capacity):
            if index not in self.slots:
                self.slots[index] = sms
                return index
        return None

    def delete_by_flag(self, flag: int) -> None:
        """AT+CMGD=<i>,<delflag> with delflag 1-4 (TS 27.005 3.5.4): which stats go."""
        doomed = {1: {REC_READ}, 2: {REC_READ, STO_SENT}, 3: {REC_READ, STO_SENT, STO_UNSENT},
                  4: {REC_UNREAD, REC_READ, STO_SENT, STO_UNSENT}}[flag]
        for index in [i for i, s in self.slots.items() if s.stat in doomed]:
            del self.slots[index]


@dataclass
class Sim:
    state: str = "READY"               # READY | SIM PIN | SIM PUK | NOT INSERTED | BLOCKED
    pin: str | None = None
    puk: str = "12345678"
    pin_attempts: int = 3              # TS 31.102: PIN1 retry counter 3, PUK 10
    puk_attempts: int = 10
    smsc: str = "+491710760000"
    last_mr: int = 255                 # first send gets TP-MR 0
    storage: SmsStorage = field(default_factory=lambda: SmsStorage(50))

    @classmethod
    def from_profile(cls, profile: ModemProfile) -> "Sim":
        return cls(pin=profile.pin, puk=profile.puk, smsc=profile.smsc,
                   storage=SmsStorage(profile.sm_capacity))

    def power_up(self) -> None:
        """A locked SIM asks for its PIN again after every power cycle; PUK and blocked states persist."""
        if self.state in ("READY", "SIM PIN"):
            self.state = "SIM PIN" if self.pin else "READY"

    def next_mr(self) -> int:
        self.last_mr = (self.last_mr + 1) % 256
        return self.last_mr

    def enter_pin(self, pin: str) -> int | None:
        """AT+CPIN=<pin> in SIM PIN state; returns a +CME code on failure (16 incorrect password)."""
        if pin == self.pin:
            self.state, self.pin_attempts = "READY", 3
            return None
        self.pin_attempts -= 1
        if self.pin_attempts <= 0:
            self.state = "SIM PUK"
        return 16

    def enter_puk(self, puk: str, new_pin: str | None) -> int | None:
        """AT+CPIN=<puk>,<newpin> in SIM PUK state; 10 wrong PUKs block the SIM for good (CME 13 after)."""
        if new_pin is None:
            return 3                     # TS 27.007 8.3: PUK needs the new PIN as second parameter
        if puk == self.puk:
            self.state, self.pin, self.pin_attempts, self.puk_attempts = "READY", new_pin, 3, 10
            return None
        self.puk_attempts -= 1
        if self.puk_attempts <= 0:
            self.state = "BLOCKED"
        return 16
