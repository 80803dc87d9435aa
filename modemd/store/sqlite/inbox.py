"""SQL for inbound SMS (parts, reassembly, inbox) and delivery reports. Shares the database with queue.py.

Parts are stored before the modem's copy is deleted, keyed so that reading the same part twice (a re-sweep after a
reconnect, a duplicated +CMTI) stores it once. A message enters `inbox` when all its parts are here, or after the
reassembly timeout with what arrived (marked incomplete). Each inbox row is an event for webhooks (sms:received).

A delivery report is matched to its message here (REPORT_MATCH_SQL); what its TP-ST means and how the reports of
a message's parts add up is domain.delivery; the move itself goes through transitions.move.
"""

from __future__ import annotations

import json
import sqlite3

from ...codec import pdu
from ...domain.sms import State
from ..records import InboundPart, InboxMessage, report_settlement
from .queue import Store
from .transitions import move


def _inbox_row(row: sqlite3.Row) -> InboxMessage:
    return InboxMessage(id=row["id"], modem=row["modem"], sender=row["sender"], text=row["text"],
                        parts=row["parts"], complete=bool(row["complete"]), sc_timestamp=row["sc_timestamp"],
                        received_at=row["received_at"], seq=row["seq"])


class InboxStore:
    """store.InboxStore on SQLite, in the file of `store`."""

    def __init__(self, store: Store):
        self.db = store.db

    async def add_part(self, part: InboundPart, new_id: str) -> InboxMessage | None:
        """Store one part (idempotent). Returns the inbox message if this part completed one."""
        return await self.db.write(lambda conn: _add_part(conn, part, new_id))

    async def flush_stale(self, older_than: float, new_id) -> list[InboxMessage]:
        """Groups whose first part is older than `older_than` go to the inbox as they are, marked incomplete."""
        return await self.db.write_bulk(lambda conn: _flush_stale(conn, older_than, new_id))

    async def list(self, *, after: str | None = None, limit: int = 50) -> list[InboxMessage]:
        """Oldest first, so `after` pages forward through what arrived (a client keeps the last id it saw)."""
        def work(conn):
            if after:
                rows = conn.execute("SELECT * FROM inbox WHERE seq > coalesce((SELECT seq FROM inbox WHERE id = ?),"
                                    " 0) ORDER BY seq LIMIT ?", (after, limit))
            else:
                rows = conn.execute("SELECT * FROM inbox ORDER BY seq LIMIT ?", (limit,))
            return [_inbox_row(r) for r in rows]
        return await self.db.read(work)

    async def get(self, message_id: str) -> InboxMessage | None:
        def work(conn):
            row = conn.execute("SELECT * FROM inbox WHERE id = ?", (message_id,)).fetchone()
            return _inbox_row(row) if row else None
        return await self.db.read(work)

    async def apply_status_report(self, modem: str, reference: int, recipient: str, status: int,
                                  discharge_time: float | None, now: float, window: float) -> tuple[str, str] | None:
        """Match a report to the message sent by `modem` to `recipient` with this TP-MR within `window` seconds
        (references wrap at 256). Networks write the recipient in international or national form, so numbers
        are compared on their last 9 digits. Returns (message id, new state) if the message changed state."""
        return await self.db.write(lambda conn: _apply_report(conn, modem, reference, recipient, status,
                                                              discharge_time, now, window))

    async def apply_held_report(self, message_id: str, modem: str, reference: int, recipient: str,
                                received_at: float) -> tuple[str, str] | None:
        return await self.db.write(lambda conn: _apply_held_report(conn, message_id, modem, reference, recipient,
                                                                   received_at))


def _add_part(conn: sqlite3.Connection, part: InboundPart, new_id: str) -> InboxMessage | None:
    cur = conn.execute("INSERT OR IGNORE INTO inbox_parts (modem, sender, ref, total, seq, text, sc_timestamp, "
                       "received_at, pdu_digest, encoding, data, shift) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                       (part.modem, part.sender, part.ref, part.total, part.seq, part.text, part.sc_timestamp,
                        part.received_at, part.pdu_digest if part.ref < 0 else "", part.encoding, part.data,
                        f"{part.shift[0]},{part.shift[1]}"))
    if cur.rowcount == 0:
        return None                       # the same part read twice
    if part.ref < 0:
        return _complete(conn, part.modem, part.sender, part.ref, part.total, new_id, complete=True,
                         digest=part.pdu_digest)
    have = conn.execute("SELECT count(*) FROM inbox_parts WHERE modem = ? AND sender = ? AND ref = ? AND total = ?",
                        (part.modem, part.sender, part.ref, part.total)).fetchone()[0]
    if have < part.total:
        return None
    return _complete(conn, part.modem, part.sender, part.ref, part.total, new_id, complete=True)


def _complete(conn: sqlite3.Connection, modem: str, sender: str, ref: int, total: int, new_id: str, *,
              complete: bool, digest: str = "") -> InboxMessage | None:
    key = (modem, sender, ref, total, digest) if ref < 0 else (modem, sender, ref, total)
    where = "modem = ? AND sender = ? AND ref = ? AND total = ?" + (" AND pdu_digest = ?" if ref < 0 else "")
    rows = conn.execute(f"SELECT * FROM inbox_parts WHERE {where} ORDER BY seq", key).fetchall()
    text = _joined_text(rows) if complete else "".join(r["text"] for r in rows)
    stamps = [r["sc_timestamp"] for r in rows if r["sc_timestamp"] is not None]
    received = max(r["received_at"] for r in rows)
    conn.execute(f"DELETE FROM inbox_parts WHERE {where}", key)
    # A single part remembers its digest: the same one stored again later is not a new message (schema 13).
    cur = conn.execute("INSERT OR IGNORE INTO inbox (id, modem, sender, text, parts, complete, sc_timestamp, "
                       "received_at, source_digest) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                       (new_id, modem, sender, text, len(rows), int(complete), min(stamps) if stamps else None,
                        received, digest if ref < 0 else None))
    if cur.rowcount == 0:
        return None
    return InboxMessage(new_id, modem, sender, text, len(rows), complete, min(stamps) if stamps else None, received,
                        cur.lastrowid)


def _joined_text(rows: list[sqlite3.Row]) -> str:
    """The parts' user data decoded as one stream (codec.pdu.join_user_data)."""
    return pdu.join_user_data([pdu.PartData(r["encoding"], tuple(int(x) for x in r["shift"].split(",")), r["data"],
                                            r["text"]) for r in rows])


def _flush_stale(conn: sqlite3.Connection, older_than: float, new_id) -> list[InboxMessage]:
    groups = conn.execute("SELECT modem, sender, ref, total FROM inbox_parts WHERE ref >= 0 GROUP BY modem, sender, "
                          "ref, total HAVING min(received_at) < ?", (older_than,)).fetchall()
    return [_complete(conn, g["modem"], g["sender"], g["ref"], g["total"], new_id(), complete=False) for g in groups]


# The message a report is for. INDEXED BY: this runs on the event loop, and the index narrows it to one modem's
# messages to one number in the window (schema.REPORT_MATCH), never a scan of every message sent.
REPORT_MATCH_SQL = (
    "SELECT m.id, m.refs, m.report_status, m.state FROM messages m INDEXED BY messages_report_match, "
    "json_each(m.refs) r WHERE m.modem = ? AND substr(m.destination, -9) = substr(?, -9) AND r.value = ? "
    "AND m.sent_at >= ? AND m.state IN ('sent', 'delivered', 'failed') ORDER BY m.sent_at DESC LIMIT 1")


def _apply_report(conn: sqlite3.Connection, modem: str, reference: int, recipient: str, status: int,
                  discharge_time: float | None, now: float, window: float) -> tuple[str, str] | None:
    row = conn.execute(REPORT_MATCH_SQL, (modem, recipient, reference, now - window)).fetchone()
    conn.execute("INSERT INTO status_reports (modem, reference, recipient, status, discharge_time, received_at, "
                 "message_id) VALUES (?, ?, ?, ?, ?, ?, ?)", (modem, reference, recipient, status, discharge_time,
                                                               now, row["id"] if row else None))
    if row is None:
        return None
    reports = json.loads(row["report_status"])
    reports[str(reference)] = status
    conn.execute("UPDATE messages SET report_status = ? WHERE id = ?", (json.dumps(reports), row["id"]))
    return _settle(conn, row["id"], row["state"], json.loads(row["refs"]), reports, discharge_time or now)


def _apply_held_report(conn: sqlite3.Connection, message_id: str, modem: str, reference: int, recipient: str,
                       received_at: float) -> tuple[str, str] | None:
    message = conn.execute("SELECT refs, report_status, state FROM messages WHERE id = ? AND modem = ? AND "
                           "state = 'sent' AND substr(destination, -9) = substr(?, -9)",
                           (message_id, modem, recipient)).fetchone()
    if message is None or reference not in json.loads(message["refs"]):
        return None
    report = conn.execute("SELECT rowid, status, discharge_time FROM status_reports WHERE message_id IS NULL AND "
                          "modem = ? AND reference = ? AND recipient = ? AND received_at = ?",
                          (modem, reference, recipient, received_at)).fetchone()
    if report is None:
        return None
    conn.execute("UPDATE status_reports SET message_id = ? WHERE rowid = ?", (message_id, report["rowid"]))
    reports = json.loads(message["report_status"])
    reports[str(reference)] = report["status"]
    conn.execute("UPDATE messages SET report_status = ? WHERE id = ?", (json.dumps(reports), message_id))
    return _settle(conn, message_id, "sent", json.loads(message["refs"]), reports,
                   report["discharge_time"] or received_at)


def _settle(conn: sqlite3.Connection, message_id: str, state: str, refs: list[int], reports: dict,
            at: float) -> tuple[str, str] | None:
    settled = report_settlement(state, refs, reports, at)
    if settled is None:
        return None
    target, reason, sets = settled
    if move(conn, message_id, State.SENT, target, reason, at, sets=sets) is None:
        return None
    return message_id, target.value
