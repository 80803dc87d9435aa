"""One box becomes a fleet: everything a SQLite store holds, copied into an empty PostgreSQL store (`modemd
copy-to-postgres`, docs/fleet.md).

What is copied, as it is: the queue and its history (messages with their ids, states, attempts and deadlines, and
every event), the codes (verifications with their keyed hashes and sealed codes, the wrong-code runs), the inbox and
its unfinished multipart parts, unmatched delivery reports, webhook deliveries and the webhooks apps registered over
/asg, and the rate-limit hits. Ids and sequence numbers are kept (a message's seq orders the queue and a webhook's
subject), and the PostgreSQL sequences continue after them.

What changes on the way, and why:
- A message left `sending` (the daemon stopped mid-send) is this host's own interrupted send on PostgreSQL (`node`
  the configured [database] node, its lease already run out): the next start takes it back under the same
  ambiguous-send rule as on SQLite, and if another host starts first, it does.
- Webhook events: PostgreSQL captures them by trigger as rows are inserted, so the copy queues a capture for every
  event it writes. Those the SQLite daemon had captured already (up to its webhook_cursors) are dropped from that
  backlog; those it had not are kept, and the new daemon delivers them.
- Rate limits: every hit is copied to rate_events, where PostgreSQL counts the small limits (up to 100 hits). The
  large ones (an app's token per hour, a country per day) are counted there in time slots whose width comes from
  the limit's window, which the database does not know: those start from zero after the copy.
- Not copied: message_counts (the target's triggers count the copied messages) and webhook_cursors (the backlog
  stands for them).

The copy is one transaction: a failure leaves the target as it was. The target must hold no messages, codes, inbox
or deliveries; the SQLite file is only read.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path

# In the order they are written; columns are those both schemas have (the target's own are filled as said above).
TABLES = ("messages", "message_events", "otp_verifications", "otp_failures", "status_reports", "inbox",
          "inbox_parts", "webhook_deliveries", "asg_webhooks", "rate_events")
# The target must have none of these rows: a copy does not merge.
MUST_BE_EMPTY = ("messages", "otp_verifications", "inbox", "webhook_deliveries")
# Identity columns whose values are copied (the SQLite rowid of message_events is its webhook capture position),
# and whose sequences then continue after the largest.
KEPT_IDS = {"messages": "seq", "message_events": "rowid", "inbox": "seq", "webhook_deliveries": "seq"}
# SQLite tables with an implicit rowid that the target has as a column.
IMPLICIT_ROWID = {"message_events"}


class TransferError(Exception):
    """The copy cannot start or did not complete; nothing was written to the target."""


@dataclass
class Copied:
    rows: dict[str, int]            # table -> rows copied
    queued: int                     # messages waiting to be sent
    pending_codes: int              # codes that can still be verified
    interrupted: int                # messages left `sending`, now this host's interrupted sends
    webhook_backlog: int            # events the target will capture and deliver


def open_source(path: Path, version: int) -> sqlite3.Connection:
    """The SQLite store read-only, at schema `version` (this modemd's)."""
    if not path.exists():
        raise TransferError(f"{path}: no such file (give the state directory the daemon ran with, or --from)")
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    conn.row_factory = sqlite3.Row
    found = conn.execute("PRAGMA user_version").fetchone()[0]
    if found != version:
        conn.close()
        newer = "a newer modemd" if found > version else "an older modemd: start this modemd on it once (it " \
                                                          "migrates the file), stop it, then copy"
        raise TransferError(f"{path} is at schema version {found}, this modemd's is {version}: written by {newer}")
    return conn


async def copy_into(source: sqlite3.Connection, conn, node: str) -> Copied:
    """Copy `source` into the PostgreSQL connection `conn` (psycopg, migrated), in the caller's transaction."""
    for table in MUST_BE_EMPTY:
        have = (await (await conn.execute(f"SELECT count(*) FROM {table}")).fetchone())[0]
        if have:
            raise TransferError(f"the PostgreSQL database has {have} rows in {table} already: copy into an empty "
                                "database (a copy does not merge two stores)")
    target_columns = await _columns(conn)
    rows = {}
    for table in TABLES:
        try:
            rows[table] = await _copy_table(source, conn, table, target_columns[table])
        except sqlite3.Error as exc:
            raise TransferError(f"reading {table} from SQLite: {exc}") from exc
        except Exception as exc:
            if type(exc).__module__.startswith("psycopg.errors"):       # a value PostgreSQL does not take
                problem = str(exc).strip().splitlines()[0]      # not the CONTEXT lines, which quote the row
                raise TransferError(f"PostgreSQL refused a row of {table}: {problem}") from exc
            raise
    for table, column in KEPT_IDS.items():
        await conn.execute(f"SELECT setval(pg_get_serial_sequence('{table}', '{column}'), "
                           f"coalesce((SELECT max({column}) FROM {table}), 0) + 1, false)")
    interrupted = (await conn.execute("UPDATE messages SET node = %s, lease_until = 0 WHERE state = 'sending'",
                                      (node,))).rowcount
    cursors = {r["source"]: r["position"] for r in source.execute("SELECT source, position FROM webhook_cursors")}
    await conn.execute("DELETE FROM webhook_backlog WHERE (source = 'message_events' AND ref <= %s) OR "
                       "(source = 'inbox' AND ref <= %s)", (cursors.get("message_events", 0), cursors.get("inbox", 0)))
    await _check_counts(source, conn, rows)
    return Copied(rows=rows, queued=await _one(conn, "SELECT count(*) FROM messages WHERE state = 'queued'"),
                  pending_codes=await _one(conn, "SELECT count(*) FROM otp_verifications WHERE status = 'pending'"),
                  interrupted=interrupted, webhook_backlog=await _one(conn, "SELECT count(*) FROM webhook_backlog"))


async def _columns(conn) -> dict[str, list[str]]:
    cursor = await conn.execute("SELECT table_name, column_name FROM information_schema.columns "
                                "WHERE table_schema = current_schema() ORDER BY table_name, ordinal_position")
    columns: dict[str, list[str]] = {}
    for table, column in await cursor.fetchall():
        columns.setdefault(table, []).append(column)
    return columns


async def _copy_table(source: sqlite3.Connection, conn, table: str, target: list[str]) -> int:
    """The rows of `table`, the columns both sides have, by COPY (rows stream from SQLite, never all in memory)."""
    own = [row[1] for row in source.execute(f"PRAGMA table_info({table})")]
    if table in IMPLICIT_ROWID:
        own.insert(0, "rowid")
    columns = [c for c in own if c in target]
    n = 0
    async with conn.cursor().copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in source.execute(f"SELECT {', '.join(columns)} FROM {table} ORDER BY rowid"):
            await copy.write_row(tuple(row))
            n += 1
    return n


async def _check_counts(source: sqlite3.Connection, conn, rows: dict[str, int]) -> None:
    for table, n in rows.items():
        have = await _one(conn, f"SELECT count(*) FROM {table}")
        want = source.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
        if not have == want == n:
            raise TransferError(f"{table}: {want} rows in SQLite, {have} in PostgreSQL after the copy")


async def _one(conn, sql: str):
    return (await (await conn.execute(sql)).fetchone())[0]
