"""The modem: the only package that writes AT command strings, and the home of the other kind of modem, a phone
running SMS Gateway for Android (phone/), both behind one interface (driver.py: ModemDriver, DriverSupervisor,
build_supervisor) that the services use. Bring-up, status, sending and reading SMS over one
AtChannel, typed events for what the modem reports, device profiles as data, and the supervisor that keeps a modem
alive across unplugs.

Modules: modem (Modem, composed of the parts below), state (what a modem is and how its state moves: ModemState,
ModemStatus, SendResult, ..., and the ModemStateTracker a Modem owns), commands (how a command is sent, retried while
the SIM is busy, or treated as optional), sim (SIM state, PIN entry, identity), network (radio, registration,
operator, signal), events (what a modem reports upward: SmsStored, SmsDelivered, StatusReport, SignalChanged,
ModemLost, ...; subscribe with Modem.on()), urcs (the table of what each URC means as an event), quirks (device
profiles), supervisor (open, bring up, poll, reconnect), pin_memory (the record of PINs a SIM rejected), driver
(the interface of both kinds), phone/ (the phone driver: its local-server client, webhook listener, supervisor),
adb (adb forward/reverse for a phone on USB).
May import: at, codec, domain, config (a modem is built from its ModemConfig), log.
"""

from .events import (ModemEvent, ModemLost, RegistrationChanged, SignalChanged, SmsDelivered, SmsStorageFull,
                     SmsStored, StatusReport, StatusReportStored)
from .modem import Modem, ModemState, SendResult, SmsSendFailed
from .supervisor import ModemSupervisor

__all__ = ["Modem", "ModemState", "SendResult", "SmsSendFailed", "ModemSupervisor", "ModemEvent", "ModemLost",
           "RegistrationChanged", "SignalChanged", "SmsDelivered", "SmsStorageFull", "SmsStored", "StatusReport",
           "StatusReportStored"]
