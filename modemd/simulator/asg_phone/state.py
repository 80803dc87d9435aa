"""The phone's message table, as the app keeps it in its Room database: one row per message, one per recipient.

A recipient moves Pending -> Processed (handed to SmsManager) -> Sent -> Delivered, or to Failed with the error
text; the message's state is derived from its recipients by the app's rule (MessageWithRecipients.state): Pending
while one is, then Processed while one is, Failed if all failed, Delivered if all were delivered, else Sent. The
`states` map of GET /messages/{id} holds when the message first reached each state (the app's message_states rows).
Pure: no I/O, no asyncio.
"""
from __future__ import annotations

import secrets
import string
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone

NANOID_ALPHABET = string.ascii_letters + string.digits + "_-"


def nanoid(size: int = 21) -> str:
    """The app's ids (jnanoid's default alphabet and length)."""
    return "".join(secrets.choice(NANOID_ALPHABET) for _ in range(size))


def iso(moment: float) -> str:
    """Gson as the app configures it: yyyy-MM-dd'T'HH:mm:ss.SSSXXX (here in UTC)."""
    return datetime.fromtimestamp(moment, timezone.utc).isoformat(timespec="milliseconds")


@dataclass
class Recipient:
    phone_number: str
    state: str = "Pending"
    error: str | None = None

    def view(self) -> dict:
        return without_nulls({"phoneNumber": self.phone_number, "state": self.state, "error": self.error})


@dataclass
class PhoneMessage:
    id: str
    text: str
    recipients: list[Recipient]
    with_delivery_report: bool = True
    valid_until: float | None = None        # epoch seconds; past it an unsent message fails with "TTL expired"
    sim_number: int | None = None
    is_encrypted: bool = False
    parts_count: int | None = None          # set when the phone splits the text (SmsManager.divideMessage)
    created_at: float = field(default_factory=time.time)
    states: dict[str, float] = field(default_factory=dict)

    def __post_init__(self):
        self.states.setdefault("Pending", self.created_at)

    @property
    def state(self) -> str:
        return overall_state([r.state for r in self.recipients])

    def recipient(self, phone_number: str) -> Recipient:
        return next(r for r in self.recipients if r.phone_number == phone_number)

    def set_state(self, phone_number: str | None, state: str, error: str | None = None) -> None:
        """One recipient's move (all of them when phone_number is None), as MessagesService.updateState()."""
        for r in self.recipients:
            if phone_number is None or r.phone_number == phone_number:
                r.state, r.error = state, error         # the app's DAO writes both (null clears the error)
        self.states.setdefault(self.state, time.time())

    def expired(self, now: float | None = None) -> bool:
        return self.valid_until is not None and self.valid_until < (time.time() if now is None else now)

    def view(self, device_id: str, include_content: bool = True) -> dict:
        """The app's localserver Message (MessagesRoutes.toDomain())."""
        return without_nulls({"id": self.id, "deviceId": device_id, "state": self.state, "isHashed": False,
                "isEncrypted": self.is_encrypted, "scheduleAt": None,
                "textMessage": {"text": self.text} if include_content else None, "dataMessage": None,
                "hashedMessage": None, "recipients": [r.view() for r in self.recipients],
                "states": {name: iso(at) for name, at in self.states.items()}})


def without_nulls(view: dict) -> dict:
    """Gson (as the app builds it, without serializeNulls()) leaves null fields out."""
    return {name: value for name, value in view.items() if value is not None}


def overall_state(states: list[str]) -> str:
    """MessageWithRecipients.state (see the module's docstring)."""
    for state in ("Pending", "Processed"):
        if state in states:
            return state
    for state in ("Failed", "Delivered"):
        if all(s == state for s in states):
            return state
    return "Sent"


class ConflictError(ValueError):
    """A message with this id exists already (the app answers 409)."""


class MessageTable:
    """The messages by id, in arrival order (the app's DB; it survives a restart of the app)."""

    def __init__(self):
        self._rows: dict[str, PhoneMessage] = {}

    def add(self, message: PhoneMessage) -> None:
        if message.id in self._rows:
            raise ConflictError(f"Message with id {message.id} already exists")
        self._rows[message.id] = message

    def get(self, message_id: str) -> PhoneMessage | None:
        return self._rows.get(message_id)

    def all(self) -> list[PhoneMessage]:
        return list(self._rows.values())

    def pending(self) -> list[PhoneMessage]:
        return [m for m in self._rows.values() if m.state == "Pending"]
