"""Fault switches of the simulated modem.

One mutable dataclass shared by the dialect and the port: flipping a field takes effect on the next command
(SimulatedModem.set_fault() applies it at once, e.g. to emit the +CREG URC of a registration change).
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields


@dataclass
class Faults:
    network_delay: float = 0.0          # seconds between Ctrl-Z and +CMGS (real networks: 1-10 s, worse on 2G)
    cms_errors: list[int] = field(default_factory=list)   # consumed one per submitted PDU: +CMS ERROR: <code>
    no_answer: bool = False             # swallow all input: no echo, no result (hung firmware, wrong baud rate)
    garbage: bool = False               # junk and NUL bytes after every response (line noise, modem boot chatter)
    urc_storm: int = 0                  # this many extra URCs (^RSSI, +CREG, +QIND) before and after each response
    sim_state: str | None = None        # force "READY" | "SIM PIN" | "SIM PUK" | "NOT INSERTED" (applied on change)
    pin: str | None = None              # SIM asks for this PIN at power-up (start, reappear, CFUN=1,1)
    registration: int = 1               # +CREG <stat>: 0 not searching, 1 home, 2 searching, 3 denied, 5 roaming
    storage_full: bool = False          # SM storage full: CMGW -> +CMS ERROR: 322, stored SMS rejected, no +CMTI
    byte_by_byte: bool = False          # every output byte its own write (USB-serial bridges split reads like this)
    urc_inside_response: bool = False   # a pending URC goes between the information lines and the final OK
    auto_status_report: float | None = None   # seconds after a send with TP-SRR set until a +CDS "delivered"

    # interfaces.md names the byte-at-a-time switch echo_byte_by_byte; both spellings work.
    @property
    def echo_byte_by_byte(self) -> bool:
        return self.byte_by_byte

    @echo_byte_by_byte.setter
    def echo_byte_by_byte(self, value: bool) -> None:
        self.byte_by_byte = value

    def set(self, name: str, value) -> None:
        """Set one switch by name (control socket); unknown names raise KeyError instead of adding attributes."""
        if name == "echo_byte_by_byte":
            name = "byte_by_byte"
        if name not in self.names():
            raise KeyError(f"unknown fault {name!r}; known: {sorted(self.names())}")
        if name == "cms_errors":
            value = [int(v) for v in (value or [])]
        setattr(self, name, value)

    @classmethod
    def names(cls) -> set[str]:
        return {f.name for f in fields(cls)}

    def as_dict(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self)}
