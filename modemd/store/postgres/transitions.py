"""The one gate for message state on PostgreSQL: move() is the only code of this backend that writes the `state`
column of `messages`, with the SQLite backend's rules (store/sqlite/transitions.py): the move is checked against
domain.sms.can_move, made by compare-and-set (`WHERE id = %s AND state = %s`) and logged as a message_events row in
the same statement (a data-modifying WITH: the event row is written only if the row moved; one round trip).

Several hosts: two transactions moving the same message at once both aim at the row; PostgreSQL makes the second
wait for the first's commit and then checks its WHERE against the committed row (READ COMMITTED), which is no longer
in `src`: exactly one of them moves it, the other gets None.
"""

from __future__ import annotations

import functools

import psycopg
from psycopg.rows import dict_row

from ...domain.sms import State, can_move
from ..records import MOVE_SETTABLE

# What a move may set: the backends' common set, and the claim's lease (which host holds the send, until when).
SETTABLE = MOVE_SETTABLE | {"node", "lease_until"}

# Changes computed from the row's own values, by name (the SQLite backend's, in PostgreSQL's words).
ADJUSTMENTS = {
    "count_attempt": "attempts = attempts + 1",             # a claim: the attempt counts before the modem works
    "refund_attempt": "attempts = greatest(attempts - 1, 0)",   # the modem was not there: no try was had
    "possibly_sent": "ambiguous = ambiguous + 1, possible_duplicate = 1",
    "forget_otp_text": "body = CASE WHEN kind = 'otp' THEN NULL ELSE body END",
}


async def move(conn: psycopg.AsyncConnection, message_id: str, src: State, dst: State, reason: str, now: float, *,
               sets: dict | None = None, adjust: tuple[str, ...] = (), returning: str = "state",
               held_by: str | None = None) -> dict | None:
    """src -> dst for one message, if it is in src now (and, with `held_by`, claimed by that host: a host whose
    lease ran out and whose message another host took back must not record the end of a send it no longer owns).
    Returns the moved row (the columns in `returning`, by name), or None if the message is not in src (or does not
    exist): nothing was written then."""
    if not can_move(src, dst):
        raise ValueError(f"{src.value} -> {dst.value} is not a lifecycle transition")
    sets = sets or {}
    owner = () if held_by is None else (held_by,)
    async with conn.cursor(row_factory=dict_row) as cursor:
        await cursor.execute(_statement(tuple(sets), adjust, returning, held_by is not None),
                             (dst.value, now, *sets.values(), message_id, src.value, *owner,
                              message_id, now, src.value, dst.value, reason))
        return await cursor.fetchone()


@functools.lru_cache(maxsize=64)
def _statement(columns: tuple[str, ...], adjust: tuple[str, ...], returning: str, owned: bool) -> str:
    unknown = set(columns) - SETTABLE
    if unknown:
        raise ValueError(f"a move does not set {sorted(unknown)}")
    assignments = "".join(f", {column} = %s" for column in columns) + "".join(f", {ADJUSTMENTS[a]}" for a in adjust)
    # One statement, one round trip: the compare-and-set and its event row (written only if a row moved).
    return (f"WITH moved AS (UPDATE messages SET state = %s, updated_at = %s{assignments} WHERE id = %s AND "
            f"state = %s{' AND node = %s' if owned else ''} RETURNING {returning}), "
            "logged AS (INSERT INTO message_events (message_id, at, from_state, to_state, reason) "
            "SELECT %s, %s, %s, %s, %s FROM moved) SELECT * FROM moved")


async def write_event(conn: psycopg.AsyncConnection, message_id: str, at: float, src: State | None, dst: State,
                      reason: str) -> None:
    """One row of a message's history; src None: the message was created in dst (accepted)."""
    await conn.execute("INSERT INTO message_events (message_id, at, from_state, to_state, reason) "
                       "VALUES (%s, %s, %s, %s, %s)", (message_id, at, src.value if src else None, dst.value, reason))
