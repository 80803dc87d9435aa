"""The records the store takes and gives back, and the rules every backend keeps to. Plain data: no SQL, no
connection, nothing of a particular database (the outbound message itself is domain.sms.OutboundSms)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Callable, Mapping, Sequence

from ..domain.delivery import settle
from ..domain.sms import Kind, OutboundSms, Priority, State

# A repeated Idempotency-Key within 24 h returns the first message; past it, the key starts a new one.
IDEMPOTENCY_WINDOW = 24 * 3600.0
# After this long without a wrong code, a number's run of consecutive failures starts again: the lock is a
# defence against guessing, not a sentence (NIST SP 800-63B 5.2.2 allows the lock to lift after a while).
LOCK_DECAY = 24 * 3600.0
# What a state move (the one gate, each backend's transitions.move) may set besides state and updated_at.
MOVE_SETTABLE = frozenset({"body", "modem", "next_attempt_at", "sent_at", "delivered_at", "error_code", "error_text",
                           "refs", "attempts", "ambiguous", "possible_duplicate"})


# ---- the outbound queue ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Enqueued:
    message: OutboundSms
    created: bool          # False: an earlier request with the same Idempotency-Key is returned


@dataclass(frozen=True)
class EnqueuedBatch:
    messages: list[OutboundSms]     # in the order the request named them
    created: bool                   # False: an earlier request with the same Idempotency-Key is returned


@dataclass(frozen=True)
class Limit:
    """At most `limit` hits in any `window` seconds for `bucket` ("otp-send:+49...", "app-day:shop"), counted in
    the transaction that writes what is limited."""
    bucket: str
    limit: int
    window: float           # seconds


def limits_per_message(batch: Sequence[OutboundSms], limits: Sequence[Sequence[Limit]]) -> list[Sequence[Limit]]:
    """What each message of a batch counts against: limits[i] for batch[i], or nothing for all (limits empty)."""
    if not batch:
        raise ValueError("a batch holds one message at least")
    if limits and len(limits) != len(batch):
        raise ValueError(f"{len(limits)} lists of limits for {len(batch)} messages")
    return list(limits) if limits else [()] * len(batch)


# ---- one-time passcodes ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Verification:
    id: str
    destination: str
    code_hmac: bytes
    created_at: float
    expires_at: float
    attempts: int
    max_attempts: int
    status: str
    message_id: str               # its latest SMS
    app: str = "default"          # the app that asked for the code: only it (and admin) can check it
    sends: int = 1                # the SMS its code went out in (a resend sends the same code again)
    code_sealed: str | None = field(default=None, repr=False)   # the code, sealed (domain/otp_seal.py), for resends


# Why a code's queued SMS was canceled when the same code was sent again (OtpStore.resend): one SMS of it in the queue.
RESENT = "replaced by a resend of the same code"


@dataclass(frozen=True)
class PendingCode:
    """A code that is still pending for the app and number a send asks for: the service sends it again instead of
    making a new one (OtpStore.issue with resend)."""
    id: str
    code_sealed: str = field(repr=False)
    created_at: float = 0.0
    expires_at: float = 0.0
    sends: int = 1


@dataclass(frozen=True)
class VerifyOutcome:
    status: str                   # approved | pending | expired | max_attempts_reached | not_found
    attempts_left: int | None = None
    verification_id: str | None = None


# ---- received SMS ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class InboundPart:
    modem: str
    sender: str
    ref: int              # -1: not concatenated
    total: int
    seq: int
    text: str
    sc_timestamp: float | None
    received_at: float
    pdu_digest: str
    encoding: str = ""    # "gsm7" (data = septet values), "ucs2" (UTF-16BE octets), "8bit"; "" = text only
    data: bytes | None = None
    shift: tuple[int, int] = (0, 0)   # GSM-7 national language (locking, single) shift ids (TS 23.038 A.2/A.3)


@dataclass(frozen=True)
class InboxMessage:
    id: str
    modem: str
    sender: str
    text: str
    parts: int
    complete: bool
    sc_timestamp: float | None
    received_at: float
    seq: int = 0


# ---- retention ---------------------------------------------------------------------------------------------------
@dataclass
class Pruned:
    """What one Retention.prune did: rows whose phone numbers it masked, and rows it deleted, per table."""
    masked: dict[str, int] = field(default_factory=dict)
    deleted: dict[str, int] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return any(self.masked.values()) or any(self.deleted.values())


# ---- webhooks ----------------------------------------------------------------------------------------------------
# message_events.to_state -> event type; other transitions (queued, sending, canceled) are not webhook events.
STATE_EVENTS = {"sent": "sms:sent", "delivered": "sms:delivered", "failed": "sms:failed", "expired": "sms:expired"}


@dataclass(frozen=True)
class SourceEvent:
    """One event read from a durable log, before it is rendered for a particular webhook."""
    type: str
    source: str            # 'm<n>' / 'i<seq>': where in which log it was (the event id does not depend on it)
    subject: str           # message id / inbox id
    at: float
    row: dict              # the message / inbox record as it is now (message fields may be None if it is gone)


@dataclass(frozen=True)
class HookSpec:
    key: str
    events: frozenset[str]
    full_numbers: bool = False
    app: str | None = None      # only this app's messages (received SMS: config/webhooks.py checked its inbox scope)
    payload: str = "modemd"     # the body's shape: modemd's own, or "asg" (a webhook registered through /asg)
    hook_id: str | None = None  # a registered webhook's id, which its payload names

    def wants(self, event: SourceEvent) -> bool:
        if event.type not in self.events:
            return False
        return self.app is None or event.type == "sms:received" or event.row.get("app") == self.app


@dataclass(frozen=True)
class Delivery:
    seq: int
    hook: str
    event_id: str
    event_type: str
    subject: str
    body: str
    attempts: int
    queued_at: float


@dataclass(frozen=True)
class RegisteredHook:
    """A webhook an app registered through an API (POST /asg/webhooks), not the config: one event, one URL. Its id
    is the app's to choose and names it within that app only."""
    app: str
    id: str
    url: str
    event: str
    created_at: float


# render(event, hook) -> (event id, JSON body)
Render = Callable[[SourceEvent, HookSpec], tuple[str, str]]


# ---- rows both backends read the same way (their schemas share the messages table's columns) ----------------------
# The columns of a message both backends write and read, in the order of outbound_values.
MESSAGE_COLUMNS = ("id, kind, destination, body, parts, priority, state, attempts, next_attempt_at, deadline, "
                   "created_at, updated_at, sent_at, delivered_at, error_code, error_text, modem, refs, "
                   "possible_duplicate, ambiguous, idempotency_key, app, request_digest, batch_id, route")


def message_page(mark: str, *, state: State | None, limit: int, after: str | None, app: str | None
                 ) -> tuple[str, tuple]:
    """Store.list's query for either backend (`mark`: its placeholder, "?" or "%s"): newest first, after the
    message `after` (the last id of the previous page), only `app`'s and `state`'s when given."""
    where, args = ["1 = 1"], []
    if app is not None:
        where.append(f"app = {mark}"); args.append(app)
    if state:
        where.append(f"state = {mark}"); args.append(state.value)
    if after:
        where.append(f"seq < (SELECT seq FROM messages WHERE id = {mark})"); args.append(after)
    return (f"SELECT {MESSAGE_COLUMNS} FROM messages WHERE {' AND '.join(where)} ORDER BY seq DESC LIMIT {mark}",
            (*args, limit))


def outbound_values(sms: OutboundSms) -> tuple:
    """The values of MESSAGE_COLUMNS for a new message's row."""
    return (sms.id, sms.kind.value, sms.to, sms.text, sms.parts, int(sms.priority), sms.state.value, sms.attempts,
            sms.next_attempt_at, sms.deadline, sms.created_at, sms.updated_at, sms.sent_at, sms.delivered_at,
            sms.error_code, sms.error_text, sms.modem, json.dumps(sms.references), int(sms.possible_duplicate),
            sms.ambiguous, sms.idempotency_key, sms.app, sms.request_digest, sms.batch_id, sms.route)


def outbound_from_row(row: Mapping) -> OutboundSms:
    """A messages row (by column name: an sqlite3.Row or a psycopg dict row) as the domain's message."""
    return OutboundSms(
        id=row["id"], to=row["destination"], text=row["body"], parts=row["parts"], kind=Kind(row["kind"]),
        priority=Priority(row["priority"]), state=State(row["state"]), attempts=row["attempts"],
        next_attempt_at=row["next_attempt_at"], deadline=row["deadline"], created_at=row["created_at"],
        updated_at=row["updated_at"], sent_at=row["sent_at"], delivered_at=row["delivered_at"],
        error_code=row["error_code"], error_text=row["error_text"], modem=row["modem"],
        references=json.loads(row["refs"]), possible_duplicate=bool(row["possible_duplicate"]),
        ambiguous=row["ambiguous"], idempotency_key=row["idempotency_key"], app=row["app"],
        request_digest=row["request_digest"], batch_id=row["batch_id"], route=row["route"])


def report_settlement(state: str, refs: list[int], reports: dict, at: float) -> tuple[State, str, dict] | None:
    """What a sent message's delivery reports so far settle it to (domain.delivery: what TP-ST means, how parts add
    up): (target state, reason, columns to set), or None while it stays as it is. Only a sent message is settled."""
    if state != State.SENT.value:
        return None
    outcome = settle([reports.get(str(ref)) for ref in refs])
    if outcome is None:
        return None
    if outcome.state is State.FAILED:
        return outcome.state, outcome.reason, {"error_code": outcome.error_code, "error_text": outcome.error_text}
    return outcome.state, outcome.reason, {"delivered_at": at}


def verify_step(v: "Verification | None", now: float, matched: bool, lock_after: int,
                failures: Callable[[], int]) -> str:
    """What a verify does with the code it found, the same on every backend: "not_found", "locked" (no attempts
    left, or the number's run of wrong codes reached lock_after), "expire", "approve" or "wrong". `failures` is
    asked only when it decides (the number's run of consecutive wrong codes)."""
    if v is None or v.status not in ("pending", "max_attempts_reached"):
        return "not_found"
    if v.status == "max_attempts_reached" or v.attempts >= v.max_attempts:
        return "locked"
    if now >= v.expires_at:
        return "expire"
    if failures() >= lock_after:
        return "locked"
    return "approve" if matched else "wrong"
