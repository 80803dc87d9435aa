"""Bounded state: finished records lose their phone numbers after [retention] numbers and go after records; what
is still queued stays; the work goes in batches (store/sqlite/retention.py)."""

from __future__ import annotations

import sqlite3

from modemd.domain.sms import Kind, OutboundSms
from modemd.store.sqlite.queue import Store
from modemd.store.sqlite.retention import Retention

DAY = 86400.0
NOW = 1_800_000_000.0


async def _message(store, i: int, age_days: float, *, finish: bool = True) -> str:
    at = NOW - age_days * DAY
    sms = OutboundSms(id=f"msg_{i:04d}", to=f"+49151123{i:05d}", text="hi", parts=1, kind=Kind.SMS,
                      next_attempt_at=at, created_at=at, updated_at=at)
    await store.enqueue(sms)
    if finish:
        await store.db.write(lambda conn: conn.execute("UPDATE messages SET state = 'sent', updated_at = ? "
                                                       "WHERE id = ?", (at, sms.id)))
    return sms.id


async def test_numbers_masked_then_records_deleted_queued_kept(tmp_path):
    store = Store(tmp_path / "modemd.db")
    await store.open()
    try:
        old = [await _message(store, i, 100) for i in range(7)]          # past both ages
        middle = [await _message(store, 100 + i, 40) for i in range(3)]  # past the numbers age only
        fresh = await _message(store, 200, 1)
        waiting = await _message(store, 300, 200, finish=False)          # queued for 200 days: untouched
        await store.db.write(lambda conn: conn.executemany(
            "INSERT INTO inbox (id, modem, sender, text, parts, complete, received_at) VALUES (?, 'm0', ?, 'x', 1, 1, ?)",
            [(f"in_{i}", f"+4917000000{i:02d}", NOW - age * DAY) for i, age in enumerate((100, 40, 1))]))
        await store.db.write(lambda conn: conn.executemany(
            "INSERT INTO status_reports (modem, reference, recipient, status, received_at) VALUES ('m0', 1, ?, 0, ?)",
            [("+4915112345678", NOW - 100 * DAY), ("+4915112345679", NOW - 40 * DAY)]))
        pruned = await Retention(store.db, batch=2).prune(NOW, records=90 * DAY, numbers=30 * DAY)
        assert pruned.deleted == {"messages": 7, "inbox": 1, "status_reports": 1}
        assert pruned.masked["messages"] == 10 and pruned.masked["inbox"] == 2
        assert [await store.get(i) for i in old] == [None] * 7
        assert [(await store.get(i)).to for i in middle] == ["+4915******100", "+4915******101", "+4915******102"]
        assert (await store.get(fresh)).to == "+4915112300200"
        assert (await store.get(waiting)).to == "+4915112300300"
        db = sqlite3.connect(tmp_path / "modemd.db")
        assert db.execute("SELECT count(*) FROM message_events WHERE message_id IN (%s)" % ",".join("?" * 7),
                          old).fetchone()[0] == 0
        assert sorted(r[0] for r in db.execute("SELECT sender FROM inbox")) == ["+4917*****001", "+491700000002"]
        db.close()
        assert await store.counts() == {"queued": 1, "sent": 4}
        again = await Retention(store.db, batch=2).prune(NOW, records=90 * DAY, numbers=30 * DAY)
        assert not again                                                   # nothing left to do
    finally:
        await store.close()
