"""Fault switches of the simulated phone (`modemd simulate --device asg-phone`), set over the control socket.

The send failures carry the app's own error texts: MessagesService.processStateIntent() writes
"Send result: " + resultToErrorMessage(resultCode) as the recipient's error when a sent intent comes back with a
SmsManager.RESULT_ERROR_* code, so a client classifies exactly the text it would see from a real phone.
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields

# SmsManager result codes a phone reports for a send (names as `send_errors` takes them), in the app's words.
SEND_RESULTS = {
    "generic_failure": "RESULT_ERROR_GENERIC_FAILURE (Generic failure cause)",
    "radio_off": "RESULT_ERROR_RADIO_OFF (Failed because radio was explicitly turned off)",
    "null_pdu": "RESULT_ERROR_NULL_PDU (Failed because no PDU provided)",
    "no_service": "RESULT_ERROR_NO_SERVICE (Failed because service is currently unavailable)",
    "limit_exceeded": "RESULT_ERROR_LIMIT_EXCEEDED (Failed because we reached the sending queue limit)",
}
DELIVERY_OUTCOMES = ("delivered", "withheld", "failed")


def send_error_text(cause: str) -> str:
    """The recipient's `error` for a failed send, as the app writes it."""
    return "Send result: " + SEND_RESULTS[cause]


@dataclass
class PhoneFaults:
    send_errors: list[str] = field(default_factory=list)   # consumed one per recipient: that send fails so
    no_service: bool = False            # every send fails with RESULT_ERROR_NO_SERVICE until cleared
    drop_webhooks: int = 0              # the next N webhook events are lost (never sent, never retried)
    delivery: str = "delivered"         # delivery reports: "delivered", "withheld" (none comes) or "failed"
    send_delay: float = 0.0             # seconds a recipient stays Processed before its sent intents
    delivery_delay: float = 0.0         # seconds from Sent to the delivery report

    def set(self, name: str, value) -> None:
        """Set one switch by name (control socket); unknown names and values raise instead of being kept."""
        if name not in {f.name for f in fields(self)}:
            raise KeyError(f"unknown fault {name!r}; known: {sorted(f.name for f in fields(self))}")
        if name == "send_errors":
            value = [str(v) for v in (value or [])]
            unknown = [v for v in value if v not in SEND_RESULTS]
            if unknown:
                raise ValueError(f"unknown send result {unknown}; known: {sorted(SEND_RESULTS)}")
        elif name == "delivery" and value not in DELIVERY_OUTCOMES:
            raise ValueError(f"delivery must be one of {DELIVERY_OUTCOMES}")
        elif name == "drop_webhooks":
            value = int(value or 0)
        elif name in ("send_delay", "delivery_delay"):
            value = float(value or 0)
        elif name == "no_service":
            value = bool(value)
        setattr(self, name, value)

    def next_send_error(self) -> str | None:
        """The error text the next recipient's send fails with, or None when it goes out."""
        if self.no_service:
            return send_error_text("no_service")
        if self.send_errors:
            return send_error_text(self.send_errors.pop(0))
        return None

    def take_dropped_webhook(self) -> bool:
        """True when this webhook event is one to lose."""
        if self.drop_webhooks > 0:
            self.drop_webhooks -= 1
            return True
        return False

    def as_dict(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self)}
