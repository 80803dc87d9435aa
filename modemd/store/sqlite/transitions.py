"""The one gate for message state (DESIGN.md, "One gate for state"): move() is the only code that writes the
`state` column of `messages`.

A move is checked against the transition table (domain.sms.can_move: an illegal one is a bug and raises), made by
compare-and-set (`WHERE id = ? AND state = ?`: it happened only if it changed the row; a message that moved on
meanwhile is left alone), and logged as a `message_events` row (when, from, to, why) in the same transaction. The
webhooks read those rows (and Store.events shows them), so a change without its row would be invisible to them.
Claims, sends, retries, expiry, crash recovery, cancels, OTP supersedes and delivery reports all
come through here; tests/test_store.py checks that no other statement in modemd writes the column.

The statement runs inside a write callable of database.Database, in the transaction of the request that moves
the message: the caller's other rows (an OTP's new verification, a delivery report) commit with it or not at all.
"""

from __future__ import annotations

import functools
import sqlite3

from ...domain.sms import State, can_move
from ..records import MOVE_SETTABLE

# What a move may set besides state and updated_at, to a value the caller gives (the same for every backend).
SETTABLE = MOVE_SETTABLE

# Changes computed from the row's own values, by name: callers say which, this module holds the SQL, so nothing
# hands SQL text to the statement that writes state.
ADJUSTMENTS = {
    "count_attempt": "attempts = attempts + 1",             # a claim: the attempt counts before the modem works
    "refund_attempt": "attempts = max(attempts - 1, 0)",    # the modem was not there: the message never had a try
    "possibly_sent": "ambiguous = ambiguous + 1, possible_duplicate = 1",
    "forget_otp_text": "body = CASE WHEN kind = 'otp' THEN NULL ELSE body END",
}


def move(conn: sqlite3.Connection, message_id: str, src: State, dst: State, reason: str, now: float, *,
         sets: dict | None = None, adjust: tuple[str, ...] = (), returning: str = "state") -> sqlite3.Row | None:
    """src -> dst for one message, if it is in src now. Returns the moved row (the columns in `returning`), or None
    if the message is not in src (or does not exist): nothing was written then."""
    if not can_move(src, dst):
        raise ValueError(f"{src.value} -> {dst.value} is not a lifecycle transition")
    sets = sets or {}
    row = conn.execute(_statement(tuple(sets), adjust, returning),
                       (dst.value, now, *sets.values(), message_id, src.value)).fetchone()
    if row is None:
        return None
    write_event(conn, message_id, now, src, dst, reason)
    return row


@functools.lru_cache(maxsize=64)
def _statement(columns: tuple[str, ...], adjust: tuple[str, ...], returning: str) -> str:
    """The compare-and-set UPDATE for one shape of move, built once (claims and sends run on the event loop)."""
    unknown = set(columns) - SETTABLE
    if unknown:
        raise ValueError(f"a move does not set {sorted(unknown)}")
    assignments = "".join(f", {column} = ?" for column in columns) + "".join(f", {ADJUSTMENTS[a]}" for a in adjust)
    return (f"UPDATE messages SET state = ?, updated_at = ?{assignments} WHERE id = ? AND state = ? "
            f"RETURNING {returning}")


def write_event(conn: sqlite3.Connection, message_id: str, at: float, src: State | None, dst: State,
                reason: str) -> None:
    """One row of a message's history; src None: the message was created in dst (accepted)."""
    conn.execute("INSERT INTO message_events (message_id, at, from_state, to_state, reason) VALUES (?, ?, ?, ?, ?)",
                 (message_id, at, src.value if src else None, dst.value, reason))
