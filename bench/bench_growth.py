"""Bounded state over a month: 1,000,000 verify calls with random ids and 1,000,000 accepted plain SMS spread over
30 simulated days (the clock is injected), with the daemon's hourly housekeeping (OTP prune, retention) at each
simulated hour. Prints, per simulated day: RSS, database size (file + WAL), rows kept, and the p99 of OTP sends
made while the load runs. Everything must level off instead of growing with the count.

In-process (the store, the OTP service and the retention the daemon wires, on a real SQLite file with WAL and
synchronous=FULL), because a month of wall-clock time is not available; the HTTP layer is measured by bench_otp.py.

    python bench/bench_growth.py [--days 30] [--verifies 1000000] [--sms 1000000] [--records-days 7]
"""

from __future__ import annotations

import asyncio
import os
import secrets
import time
from pathlib import Path

import _common as c

from modemd.services.otp import OtpService, OtpSettings
from modemd.domain.sms import OutboundSms, State, new_message_id
from modemd.store.sqlite.queue import Store
from modemd.store.sqlite.otp import OtpStore
from modemd.store.sqlite.retention import Retention

HOUR, DAY = 3600.0, 86400.0
BIG = 10 ** 9
OTP_SAMPLES_PER_HOUR = 20          # real OTP sends per simulated hour, timed (the "concurrent OTP send")


class Clock:
    def __init__(self, start: float):
        self.now = start

    def __call__(self) -> float:
        return self.now


def db_mb(path: Path) -> float:
    return sum(p.stat().st_size for p in (path, path.with_name(path.name + "-wal")) if p.exists()) / 2 ** 20


async def rows(store: Store) -> dict[str, int]:
    def work(conn):
        return {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
                for t in ("messages", "message_events", "rate_events", "otp_verifications")}
    return await store.db.read(work)


async def hour(store, otp, clock, verifies: int, sms: int, latencies: list[float]) -> None:
    """One simulated hour: the verifies and SMS spread over it, a few timed OTP sends among them."""
    steps = max(verifies, sms, OTP_SAMPLES_PER_HOUR)
    tick = HOUR / steps
    for i in range(steps):
        clock.now += tick
        jobs = []
        if i < verifies:
            jobs.append(otp.verify("123456", verification_id="otp_" + secrets.token_hex(13)))
        if i < sms:
            jobs.append(accept_and_send(store, clock.now, i))
        if i % (steps // OTP_SAMPLES_PER_HOUR or 1) == 0:
            jobs.append(timed_otp(otp, latencies))
        await asyncio.gather(*jobs)


async def accept_and_send(store: Store, now: float, i: int) -> None:
    sms = OutboundSms(id=new_message_id(now), to="+4915112%06d" % (i % 10 ** 6), text="bench", parts=1,
                      next_attempt_at=now, created_at=now, updated_at=now, app="bench")
    await store.enqueue(sms)
    await store.transition(sms.id, (State.QUEUED,), State.SENDING, "claimed", now=now, modem="bench")
    await store.transition(sms.id, (State.SENDING,), State.SENT, "sent", now=now, sent_at=now, body=None)


async def timed_otp(otp: OtpService, latencies: list[float]) -> None:
    t0 = time.perf_counter()
    await otp.issue("+4917%09d" % secrets.randbelow(10 ** 9), token_id="bench", app="bench")
    latencies.append(time.perf_counter() - t0)


async def run(args) -> None:
    tmp = c.workdir("growth")
    clock = Clock(time.time())
    store = Store(tmp / "modemd.db")
    await store.open()
    otp = OtpService(OtpStore(store), b"k" * 32, OtpSettings(sends_per_token=BIG, daily_per_country=BIG,
                                                             sends_per_number=BIG, verifies_per_number=BIG,
                                                             resend_gap=0.0), clock=clock)
    retention = Retention(store.db)
    hours = args.days * 24
    per_hour_verifies, per_hour_sms = args.verifies // hours, args.sms // hours
    print(f"{args.days} simulated days: {per_hour_verifies * hours:,} verifies with random ids, "
          f"{per_hour_sms * hours:,} plain SMS accepted and sent; retention: numbers {args.numbers_days} d, "
          f"records {args.records_days} d; housekeeping hourly")
    print(f"{'day':>4} {'RSS MB':>7} {'db MB':>7} {'messages':>9} {'events':>9} {'rate rows':>9} "
          f"{'otp rows':>8} {'OTP p99 ms':>10} {'wall s':>7}")
    started = time.monotonic()
    for h in range(hours):
        latencies: list[float] = []
        await hour(store, otp, clock, per_hour_verifies, per_hour_sms, latencies)
        await store.expire_due(clock.now)         # the outbox's expiry loop: codes nobody could send in time
        await otp.prune()
        await retention.prune(clock.now, records=args.records_days * DAY, numbers=args.numbers_days * DAY)
        if (h + 1) % 24 == 0:
            counted = await rows(store)
            print(f"{(h + 1) // 24:>4} {c.rss_mb(os.getpid()):>7.1f} {db_mb(store.path):>7.1f} "
                  f"{counted['messages']:>9,} {counted['message_events']:>9,} {counted['rate_events']:>9,} "
                  f"{counted['otp_verifications']:>8,} {c.pct(latencies, 99) * 1000:>10.2f} "
                  f"{time.monotonic() - started:>7.0f}", flush=True)
    await store.close()
    c.cleanup(tmp, args.keep)


def main() -> None:
    p = c.parser(__doc__)
    p.add_argument("--days", type=int, default=30)
    p.add_argument("--verifies", type=int, default=1_000_000)
    p.add_argument("--sms", type=int, default=1_000_000)
    p.add_argument("--records-days", type=float, default=7.0, help="[retention] records, in days")
    p.add_argument("--numbers-days", type=float, default=1.0, help="[retention] numbers, in days")
    asyncio.run(run(p.parse_args()))


if __name__ == "__main__":
    main()
