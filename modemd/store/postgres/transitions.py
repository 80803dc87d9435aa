"""The one gate for message state on PostgreSQL: move() (and move_statement(), the same as a statement to send
with others) is the only code of this backend that writes the `state`
column of `messages`, with the SQLite backend's rules (store/sqlite/transitions.py): the move is checked against
domain.sms.can_move, made by compare-and-set (`WHERE id = %s AND state = %s`) and logged as a message_events row in
the same statement (a data-modifying WITH: the event row is written only if the row moved; one round trip).

Several hosts: two transactions moving the same message at once both aim at the row; PostgreSQL makes the second
wait for the first's commit and then checks its WHERE against the committed row (READ COMMITTED), which is no longer
in `src`: exactly one of them moves it, the other gets None.
"""

from __future__ import annotations

import functools
from typing import Sequence

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
    async with conn.cursor(row_factory=dict_row) as cursor:
        await cursor.execute(*move_statement(message_id, src, dst, reason, now, sets=sets, adjust=adjust,
                                             returning=returning, held_by=held_by))
        return _moved(await cursor.fetchone())


def move_statement(message_id: str, src: State, dst: State, reason: str, now: float, *, sets: dict | None = None,
                   adjust: tuple[str, ...] = (), returning: str = "state", held_by: str | None = None
                   ) -> tuple[str, tuple]:
    """move() as a statement and its parameters, for a request written as steps (steps.py) to send with others.
    Its result: the moved row (`returning`, then the id), or no row."""
    if not can_move(src, dst):
        raise ValueError(f"{src.value} -> {dst.value} is not a lifecycle transition")
    sets = sets or {}
    owner = () if held_by is None else (held_by,)
    return (_statement(tuple(sets), adjust, returning, held_by is not None, False),
            (dst.value, now, *sets.values(), message_id, src.value, *owner, now, src.value, dst.value, reason))


async def claim(conn: psycopg.AsyncConnection, now: float, reason: str, *, sets: dict, routes: Sequence[str],
                adjust: tuple[str, ...] = (), returning: str = "state") -> dict | None:
    """queued -> sending for the most urgent due message that no other transaction holds (FOR UPDATE SKIP LOCKED:
    two hosts claiming at once take two messages) and whose route is NULL or one of `routes` (domain.routing),
    with its event row: the same one statement as a move, which picks its message itself. The moved row, or None."""
    async with conn.cursor(row_factory=dict_row) as cursor:
        await cursor.execute(_statement(tuple(sets), adjust, returning, False, True),
                             (State.SENDING.value, now, *sets.values(), now, now, list(routes), State.QUEUED.value,
                              now, State.QUEUED.value, State.SENDING.value, reason))
        return _moved(await cursor.fetchone())


def _moved(row: dict | None) -> dict | None:
    """The moved row as the caller asked for it (without the id the event row was written from)."""
    if row is not None:
        del row["moved_id"]
    return row


# The message a claim takes: the most urgent due one, skipping rows another transaction holds.
# Messages routed to other modems are stepped over in the due order (domain.routing: NULL is any modem).
DUE = ("(SELECT id FROM messages WHERE state = 'queued' AND next_attempt_at <= %s AND (deadline IS NULL OR "
       "deadline > %s) AND (route IS NULL OR route = ANY(%s::text[])) ORDER BY priority, next_attempt_at, seq "
       "LIMIT 1 FOR UPDATE SKIP LOCKED)")


@functools.lru_cache(maxsize=64)
def _statement(columns: tuple[str, ...], adjust: tuple[str, ...], returning: str, owned: bool, due: bool) -> str:
    """The compare-and-set for one shape of move. `due`: the message is the most urgent due one no other
    transaction holds (a claim), not one given by id."""
    unknown = set(columns) - SETTABLE
    if unknown:
        raise ValueError(f"a move does not set {sorted(unknown)}")
    assignments = "".join(f", {column} = %s" for column in columns) + "".join(f", {ADJUSTMENTS[a]}" for a in adjust)
    # One statement, one round trip: the compare-and-set and its event row (written only if a row moved).
    which = DUE if due else "%s"
    return (f"WITH moved AS (UPDATE messages SET state = %s, updated_at = %s{assignments} WHERE id = {which} AND "
            f"state = %s{' AND node = %s' if owned else ''} RETURNING {returning}, id AS moved_id), "
            "logged AS (INSERT INTO message_events (message_id, at, from_state, to_state, reason) "
            "SELECT moved_id, %s, %s, %s, %s FROM moved) SELECT * FROM moved")


EVENTS_COLUMNS = "message_id, at, from_state, to_state, reason"


def event_statement(message_id: str, at: float, src: State | None, dst: State, reason: str) -> tuple[str, tuple]:
    """One row of a message's history; src None: the message was created in dst (accepted)."""
    return (f"INSERT INTO message_events ({EVENTS_COLUMNS}) VALUES (%s, %s, %s, %s, %s)",
            event_values(message_id, at, src, dst, reason))


def event_values(message_id: str, at: float, src: State | None, dst: State, reason: str) -> tuple:
    """event_statement's values, in EVENTS_COLUMNS' order."""
    return message_id, at, src.value if src else None, dst.value, reason
