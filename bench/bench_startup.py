"""Start-up with a large backlog, and the daemon's memory.

1. Fill a fresh store with N queued messages (Store.enqueue, all at once: group commit in batches).
2. Start `modemd run` on a simulated modem (network_delay 0.25 s, so the backlog drains slowly) and time it until
   /healthz answers and until /readyz says ready. RSS (VmRSS from /proc/<pid>/status) idle, 3 s after ready.
3. Load: POST M messages with 50 concurrent producers, then let the modem send as fast as it can (network_delay 0)
   for a few seconds; RSS again.
4. Start-up with the modem's port missing (unplugged at boot): time until /healthz answers (--no-absent-modem
   skips it).
5. SIGTERM while a send is in flight (network_delay 1.5 s): time until the daemon has exited (--no-stop skips it).

    python bench/bench_startup.py [--queued 100000] [--load 20000] [--drain 10] [--no-absent-modem] [--no-stop]
"""

from __future__ import annotations

import asyncio
import time

import _common as c
from bench_enqueue import http_phase


async def fill(path, n: int) -> tuple[float, float]:
    from modemd.domain.sms import OutboundSms, new_message_id
    from modemd.store.sqlite.queue import Store
    store = Store(path)
    await store.open()
    started = time.perf_counter()
    now = time.time()
    batch = 10000
    for base in range(0, n, batch):
        await asyncio.gather(*(store.enqueue(OutboundSms(
            id=new_message_id(now), to="+4915112%06d" % (i % 1000000), text=f"backlog {i}: " + "x" * 60, parts=1,
            next_attempt_at=now, created_at=now, updated_at=now)) for i in range(base, min(n, base + batch))))
    filled = time.perf_counter() - started
    # How long one claim takes with the whole backlog queued (the worker's hot query).
    t0 = time.perf_counter()
    for _ in range(20):
        sms = await store.claim_next("bench")
        await store.mark_retry(sms.id, time.time(), "bench", refund_attempt=True)
    claim = (time.perf_counter() - t0) / 20
    await store.close()
    return filled, claim


IN_FLIGHT = 1.5      # seconds between Ctrl-Z and +CMGS for the send a SIGTERM catches


def stop_in_flight(tmp) -> float:
    """`modemd run` gets SIGTERM while a send is in flight: seconds from the signal until it has exited (it
    finishes and records the send first; tests/test_daemon_e2e.py checks that order)."""
    work = tmp / "stop"
    work.mkdir()
    with c.SimProcess(work, "sim0", network_delay=IN_FLIGHT) as sim, c.daemon(work, [sim.link]) as daemon:
        _, accepted = daemon.call("POST", "/v1/messages", {"to": "+4915112345678", "text": "in flight at stop"})
        c.wait_for(lambda: daemon.call("GET", f"/v1/messages/{accepted['id']}")[1]["status"] == "sending", 10,
                   0.005)
        started = time.monotonic()
        assert daemon.terminate() == 0, daemon.log_tail()
        return time.monotonic() - started


def main() -> None:
    ap = c.parser(__doc__)
    ap.add_argument("--queued", type=int, default=100000)
    ap.add_argument("--load", type=int, default=20000, help="messages POSTed after start-up")
    ap.add_argument("--drain", type=float, default=10.0, help="seconds of sending at full speed after the load")
    ap.add_argument("--no-absent-modem", action="store_true", help="skip the start-up with a missing modem port")
    ap.add_argument("--no-stop", action="store_true", help="skip the stop with a send in flight")
    args = ap.parse_args()
    tmp = c.workdir("bench-startup")
    state = tmp / "state"
    state.mkdir(mode=0o700)
    print(f"start-up with {args.queued} queued messages, RSS; {c.machine()}")
    filled, claim = asyncio.run(fill(state / "modemd.db", args.queued))
    size = (state / "modemd.db").stat().st_size + sum(p.stat().st_size for p in state.glob("modemd.db-*"))
    print(f"filled the store: {args.queued} messages in {filled:.2f} s ({args.queued / filled:.0f}/s), "
          f"{size / 1e6:.1f} MB on disk; one claim+requeue with the backlog: {c.ms(claim)}")

    sim = c.SimProcess(tmp, "sim0", network_delay=0.25)
    daemon = c.start_daemon(tmp, [sim.link], state=state)
    try:
        healthz = c.wait_for(lambda: daemon.answers("/healthz") and time.monotonic() - daemon.started, 30, 0.005)
        ready = daemon.wait_ready(40.0)
        print(f"modemd run -> /healthz answers: {healthz:.3f} s;  -> /readyz ready: {ready:.3f} s   (target < 2 s)")
        with c.profiled(daemon):
            time.sleep(3)
            idle = c.rss_mb(daemon.proc.pid)
            print(f"RSS idle with {args.queued} queued: {idle:.1f} MB   (target < 60 MB)")
            r = asyncio.run(http_phase(daemon.url, args.load, 50, "load"))
            print(f"load: {args.load} POSTs, 50 producers: {r['rate']:.0f}/s, p50 {c.ms(r['p50'])}, "
                  f"p99 {c.ms(r['p99'])}")
            sim.control.fault(name="network_delay", value=0.0)
            before = sim.handset_count()
            time.sleep(args.drain)
            sent = sim.handset_count() - before
            after = c.rss_mb(daemon.proc.pid)
            print(f"then {args.drain:.0f} s of sending at full speed: {sent} SMS ({sent / args.drain:.0f}/s)")
            print(f"RSS after the load: {after:.1f} MB   (target < 60 MB)")
    finally:
        daemon.stop()
        sim.stop()

    if not args.no_absent_modem:
        gone = c.start_daemon(tmp, [str(tmp / "no-such-modem")], state=tmp / "state2")
        try:
            t = c.wait_for(lambda: gone.answers("/healthz") and time.monotonic() - gone.started, 60, 0.02)
            print(f"start-up with the modem's port missing (unplugged at boot): /healthz answers after {t:.2f} s")
        finally:
            gone.stop()
    if not args.no_stop:
        print(f"SIGTERM with a send in flight (network_delay {IN_FLIGHT} s): exits after {stop_in_flight(tmp):.2f} s "
              f"(target < 5 s: the send finishes, nothing else is waited for)")
    c.cleanup(tmp, args.keep)


if __name__ == "__main__":
    main()
