"""Domain records and the outbound lifecycle. Pure: no I/O.

    queued -> sending -> sent -> delivered
       |         |   \\-> queued (retry later: transient error, modem gone, ambiguous send after a crash)
       |         \\-----> failed (permanent error, attempts used up)
       \\--> expired (deadline passed before it could go out) / canceled (by the client) / failed

Each change is one compare-and-set in the store (smstools3 renames a spool file; we `UPDATE ... WHERE state=?`).
"""

from __future__ import annotations

import enum
import os
import time
from dataclasses import dataclass, field


class State(str, enum.Enum):
    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    DELIVERED = "delivered"
    FAILED = "failed"
    EXPIRED = "expired"
    CANCELED = "canceled"

    @property
    def final(self) -> bool:
        return self in FINAL_STATES


FINAL_STATES = frozenset({State.DELIVERED, State.FAILED, State.EXPIRED, State.CANCELED})

TRANSITIONS: dict[State, frozenset[State]] = {
    State.QUEUED: frozenset({State.SENDING, State.EXPIRED, State.CANCELED, State.FAILED}),
    State.SENDING: frozenset({State.SENT, State.QUEUED, State.FAILED, State.EXPIRED}),
    State.SENT: frozenset({State.DELIVERED, State.FAILED}),
    State.DELIVERED: frozenset(),
    State.FAILED: frozenset({State.QUEUED}),      # only by an admin's retry, never automatically
    State.EXPIRED: frozenset(),
    State.CANCELED: frozenset(),
}


def can_move(src: State, dst: State) -> bool:
    return dst in TRANSITIONS[src]


class Priority(enum.IntEnum):
    """Lower sorts first: an OTP (high) never waits behind bulk (normal) messages."""
    HIGH = 0
    NORMAL = 1


class Kind(str, enum.Enum):
    SMS = "sms"
    OTP = "otp"


_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def new_message_id(now: float | None = None) -> str:
    """'msg_' + a ULID (48-bit ms time + 80 random bits, Crockford base32): sortable by creation, unguessable."""
    millis = int((time.time() if now is None else now) * 1000)
    return "msg_" + ulid_text((millis << 80) | int.from_bytes(os.urandom(10), "big"))


def ulid_text(value: int) -> str:
    """A value below 2**128 as a ULID's 26 Crockford base32 characters, most significant first."""
    chars = []
    for _ in range(26):
        chars.append(_CROCKFORD[value & 31])
        value >>= 5
    return "".join(reversed(chars))


def ulid_value(text: str) -> int:
    """The value of a ULID as ulid_text writes it; ValueError for a character it does not write."""
    value = 0
    for ch in text:
        value = value * 32 + _CROCKFORD.index(ch)
    return value


def new_batch_id(now: float | None = None) -> str:
    """'bat_' + a ULID, as a message id: the messages one request queued for several recipients share it."""
    return "bat_" + new_message_id(now)[4:]


def named_batch_id(api: str, app: str, name: str) -> str:
    """The batch id of a request its client named itself (android-sms-gateway's message `id`): deterministic, so
    the name finds its batch again, and an app's names never meet another's (app names hold no ':')."""
    return f"{api}:{app}:{name}"


def batch_name(batch_id: str | None, api: str) -> str | None:
    """The client's own name of a batch that named_batch_id() made for `api`; None for any other batch."""
    if batch_id is None or not batch_id.startswith(f"{api}:"):
        return None
    return batch_id.split(":", 2)[2]


@dataclass
class OutboundSms:
    id: str
    to: str                          # E.164
    text: str | None                 # None once purged (OTP texts right after sending)
    parts: int
    kind: Kind = Kind.SMS
    priority: Priority = Priority.NORMAL
    state: State = State.QUEUED
    attempts: int = 0
    next_attempt_at: float = 0.0
    deadline: float | None = None    # epoch seconds; an OTP's is its code's expiry
    created_at: float = 0.0
    updated_at: float = 0.0
    sent_at: float | None = None
    delivered_at: float | None = None
    error_code: str | None = None    # "CMS 42", "CME 14", "timeout", ...
    error_text: str | None = None
    modem: str | None = None
    references: list[int] = field(default_factory=list)
    possible_duplicate: bool = False
    ambiguous: int = 0               # sends whose outcome was unknown (timeout after the PDU, crash while sending)
    idempotency_key: str | None = None
    app: str = "default"             # the app that queued it (api.auth.App.name): only it (and admin) sees it
    request_digest: str | None = None   # what the request asked for; a reused Idempotency-Key must ask the same
    batch_id: str | None = None      # the request that queued it for several recipients at once (new_batch_id)
    route: str | None = None         # "modem:NAME" / "group:NAME": only those modems send it; None: any (routing.py)

    def expired(self, now: float) -> bool:
        return self.deadline is not None and now >= self.deadline
