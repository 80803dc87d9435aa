"""The one interface the services use of a modem, whatever it is: an AT modem on a serial port (modem.Modem, run
by supervisor.ModemSupervisor) or a phone running SMS Gateway for Android (phone.Phone, run by
phone.PhoneSupervisor). The outbox, the inbox, the pool, metrics and /v1/modems see only this, so they cannot tell
the two apart.

    send_sms()      a SendResult (references to match delivery reports, parts), or SmsSendFailed whose cause
                    domain.errors.classify() sorts into transient / permanent / device state / ambiguous
    status          ModemStatus: the ModemState (ready, offline, paused, ...) and what else is known
    can_send, pause(), check_answering(), not_responding
                    the verdicts the outbox gives and the answers it needs (worker.py's failure rules)
    on(kind, fn)    events (events.py): SmsStored/SmsDelivered/StatusReport... from an AT modem, SmsReceived and
                    DeliveryReported from a phone; the inbox subscribes to all of them
    list_stored(), read_stored(), delete_stored(), acknowledge()
                    the device's SMS storage; a phone has none modemd reads (it reports by webhook): empty
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Protocol, TypeVar, runtime_checkable

from ..config.model import ModemConfig
from .phone import PhoneSupervisor
from .pin_memory import PinMemory
from .quirks import DeviceProfile
from .state import ModemState, ModemStatus, SendResult, StoredPdu
from .supervisor import ModemSupervisor

E = TypeVar("E")


@runtime_checkable
class ModemDriver(Protocol):
    name: str
    status: ModemStatus

    @property
    def profile(self) -> DeviceProfile: ...

    @property
    def can_send(self) -> bool: ...

    @property
    def not_responding(self) -> bool: ...

    async def send_sms(self, to: str, text: str, *, status_report: bool = True,
                       validity: int | None = None) -> SendResult: ...

    def pause(self, seconds: float, reason: str) -> None: ...

    async def check_answering(self, reason: str) -> bool: ...

    def mark_offline(self, reason: str) -> None: ...

    def on(self, kind: type[E], handler: Callable[[E], None]) -> None: ...

    async def list_stored(self) -> list[StoredPdu]: ...

    async def read_stored(self, index: int) -> StoredPdu | None: ...

    async def delete_stored(self, index: int) -> None: ...

    async def acknowledge(self) -> None: ...


@runtime_checkable
class DriverSupervisor(Protocol):
    """What the daemon holds per configured modem: its driver, kept attached (re-opened, re-attached) from
    start() to stop()."""
    name: str
    port: str            # where the modem is: a serial port, or a phone's URL

    @property
    def modem(self) -> ModemDriver: ...

    def start(self) -> None: ...

    async def stop(self) -> None: ...


def build_supervisor(settings: ModemConfig, *, on_state: Callable[[ModemState], None] | None = None,
                     pin_memory: PinMemory | None = None, state_dir: Path | None = None) -> DriverSupervisor:
    """The supervisor of the kind of modem a [[modems]] table describes: a phone (url) or an AT modem (port).
    `state_dir` keeps what a phone's next start needs (its webhook port)."""
    if settings.is_phone:
        return PhoneSupervisor(settings, on_state=on_state, state_dir=state_dir)
    return ModemSupervisor(settings, on_state=on_state, pin_memory=pin_memory)
