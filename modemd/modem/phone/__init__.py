"""A phone running SMS Gateway for Android (capcom6/android-sms-gateway) in local-server mode, as the second kind
of modem behind modem/driver.py's ModemDriver.

Modules: translate (the app's JSON <-> modemd's records, webhook signatures; pure), api (the small HTTP client of
its local server), phone (Phone, the driver: send, state, events), listener (the loopback listener its webhooks
come to), supervisor (PhoneSupervisor: attach, health, re-attach).
"""

from .phone import Phone
from .supervisor import PhoneSupervisor

__all__ = ["Phone", "PhoneSupervisor"]
