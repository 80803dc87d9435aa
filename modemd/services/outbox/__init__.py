"""The outbox service: feeds queued messages to the modems, one worker per modem.

Modules: outbox (Outbox: the workers, start-up recovery, expiry, text retention, stop; the retry rules in its
docstring), worker (OutboxWorker: one modem's claim -> send -> settle loop; network_validity).
"""

from .outbox import STOP_GRACE, Outbox
from .worker import OutboxWorker, SendingModem, network_validity

__all__ = ["Outbox", "OutboxWorker", "SendingModem", "network_validity", "STOP_GRACE"]
