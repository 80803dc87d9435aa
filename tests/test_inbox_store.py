"""Reassembly in the store: repeats dropped, parts in any order, and characters a sender split between parts."""

from __future__ import annotations

import time

import pytest

from modemd.codec import gsm7
from modemd.store.sqlite.queue import Store
from modemd.store import InboundPart
from modemd.store.sqlite.inbox import REPORT_MATCH_SQL, InboxStore


@pytest.fixture
async def inbox(tmp_path):
    store = Store(tmp_path / "modemd.db")
    await store.open()
    yield InboxStore(store)
    await store.close()


def part(seq, total, text, *, encoding="", data=None, ref=7, sender="+447700900123"):
    return InboundPart(modem="m0", sender=sender, ref=ref, total=total, seq=seq, text=text, sc_timestamp=None,
                       received_at=time.time(), pdu_digest=f"d{seq}", encoding=encoding, data=data)


async def test_an_emoji_split_between_two_ucs2_parts_is_whole_again(inbox):
    raw = "ok 😀 bye".encode("utf-16-be")
    cut = raw.index("😀".encode("utf-16-be")) + 2              # between the high and the low surrogate
    first, second = raw[:cut], raw[cut:]
    assert await inbox.add_part(part(2, 2, second.decode("utf-16-be", "replace"), encoding="ucs2", data=second),
                                "in_1") is None
    message = await inbox.add_part(part(1, 2, first.decode("utf-16-be", "replace"), encoding="ucs2", data=first),
                                   "in_1")
    assert message.text == "ok 😀 bye" and message.parts == 2


async def test_an_escape_split_from_its_extension_code_is_whole_again(inbox):
    septets = gsm7.encode("price 5€")
    cut = len(septets) - 1                                    # ESC ends part 1, the € code starts part 2
    first, second = bytes(septets[:cut]), bytes(septets[cut:])
    await inbox.add_part(part(1, 2, gsm7.decode(list(first)), encoding="gsm7", data=first), "in_2")
    message = await inbox.add_part(part(2, 2, gsm7.decode(list(second)), encoding="gsm7", data=second), "in_2")
    assert message.text == "price 5€"


async def test_the_same_part_read_twice_is_stored_once(inbox):
    assert await inbox.add_part(part(1, 2, "hello "), "in_3") is None
    assert await inbox.add_part(part(1, 2, "hello "), "in_3") is None
    message = await inbox.add_part(part(2, 2, "world"), "in_3")
    assert message.text == "hello world" and message.parts == 2
    assert [m.text for m in await inbox.list()] == ["hello world"]


async def test_missing_parts_are_given_up_on_and_marked_incomplete(inbox):
    await inbox.add_part(part(1, 3, "one "), "in_4")
    await inbox.add_part(part(3, 3, "three"), "in_4")
    [message] = await inbox.flush_stale(time.time() + 1, lambda: "in_5")
    assert message.text == "one three" and message.parts == 2 and not message.complete


async def test_turkish_national_shift_survives_reassembly(inbox):
    import dataclasses
    from modemd.codec.gsm7_national import LOCKING_SHIFT
    turkish = LOCKING_SHIFT[1]                               # TS 23.038 A.2.1: the Turkish locking shift table
    first, second = bytes(turkish.index(c) for c in "şğ"), bytes(turkish.index(c) for c in "İ")
    parts = [dataclasses.replace(part(1, 2, "şğ", encoding="gsm7", data=first), shift=(1, 0)),
             dataclasses.replace(part(2, 2, "İ", encoding="gsm7", data=second), shift=(1, 0))]
    assert await inbox.add_part(parts[0], "in_6") is None
    message = await inbox.add_part(parts[1], "in_6")
    assert message.text == "şğİ"


async def test_a_delivery_report_finds_its_message_among_many_sent_through_the_index(tmp_path):
    from modemd.domain.sms import OutboundSms
    store = Store(tmp_path / "reports.db")
    await store.open()
    try:
        inbox = InboxStore(store)
        now = time.time()
        wanted = None
        # The same TP-MR (7) on messages to other numbers and from another modem: only one message matches.
        for i, (modem, to) in enumerate([("m0", f"+4477009{i:05d}") for i in range(200)] +
                                        [("m1", "+447700900123"), ("m0", "+447700900123")]):
            sms = OutboundSms(id=f"msg_{i:026d}", to=to, text="hi", parts=1, next_attempt_at=now, created_at=now,
                              updated_at=now)
            await store.enqueue(sms)
            claimed = await store.claim_next(modem)
            assert claimed.id == sms.id
            assert await store.mark_sent(sms.id, [7], purge_text=False)
            wanted = sms.id
        # The network writes the recipient in national form: matched on its last 9 digits.
        settled = await inbox.apply_status_report("m0", 7, "07700900123", 0, None, time.time(), 3600.0)
        assert settled == (wanted, "delivered")
        assert await inbox.apply_status_report("m0", 8, "07700900123", 0, None, time.time(), 3600.0) is None

        def plan(conn):
            rows = conn.execute("EXPLAIN QUERY PLAN " + REPORT_MATCH_SQL, ("m0", "07700900123", 7, 0.0))
            return " ".join(str(row[3]) for row in rows)
        # Three of the columns narrow the search (it runs on the event loop: no scan of every sent message).
        assert "messages_report_match (modem=? AND <expr>=? AND sent_at>?)" in await store.db.read(plan)
    finally:
        await store.close()


async def sent(store, message_id: str, refs: list[int]) -> None:
    from modemd.domain.sms import OutboundSms
    now = time.time()
    await store.enqueue(OutboundSms(id=message_id, to="+447700900123", text="hi", parts=len(refs),
                                    next_attempt_at=now, created_at=now, updated_at=now))
    assert (await store.claim_next("m0")).id == message_id
    assert await store.mark_sent(message_id, refs, purge_text=False)


async def test_a_multipart_message_is_delivered_when_its_last_part_is_and_logs_the_move_once(tmp_path):
    store = Store(tmp_path / "reports.db")
    await store.open()
    try:
        inbox = InboxStore(store)
        await sent(store, "msg_multi", [10, 11, 12])
        report = lambda ref, status: inbox.apply_status_report("m0", ref, "+447700900123", status, 5.0,  # noqa
                                                               time.time(), 3600.0)
        assert await report(10, 0x00) is None
        assert await report(12, 0x21) is None              # still trying
        assert await report(11, 0x00) is None
        assert await report(12, 0x00) == ("msg_multi", "delivered")
        assert await report(12, 0x00) is None              # a repeat finds it delivered: nothing moves again
        got = await store.get("msg_multi")
        assert got.state.value == "delivered" and got.delivered_at == 5.0
        assert [(e["from_state"], e["to_state"], e["reason"]) for e in (await store.events("msg_multi"))[-1:]] == [
            ("sent", "delivered", "delivery report")]
    finally:
        await store.close()


async def test_one_failed_part_fails_the_message_with_its_status(tmp_path):
    store = Store(tmp_path / "reports.db")
    await store.open()
    try:
        inbox = InboxStore(store)
        await sent(store, "msg_lost", [20, 21])
        assert await inbox.apply_status_report("m0", 20, "+447700900123", 0x00, None, 7.0, 3600.0) is None
        assert await inbox.apply_status_report("m0", 21, "+447700900123", 0x46, None, 8.0, 3600.0) == (
            "msg_lost", "failed")
        got = await store.get("msg_lost")
        assert (got.state.value, got.error_code, got.error_text) == ("failed", "ST 70", "validity period expired")
        assert (await store.events("msg_lost"))[-1]["reason"] == "delivery report: validity period expired"
    finally:
        await store.close()
