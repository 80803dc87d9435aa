"""Several hosts on one PostgreSQL (docs/fleet.md): a real PostgreSQL (tests/kit/postgres.py, started here as user
postgres: run as root) and N `modemd run` processes, each with its own `modemd simulate` (tests/kit/fleet.py).

1. Utilisation: `--messages` POSTs spread over the hosts, each modem's network taking `--delay` s per SMS. Ideal time
   = messages x delay / hosts; ratio = ideal / measured, per modem by its share.
2. Submit-to-wire across hosts: one message at a time, POSTed to host i % N, until its PDU is on whichever host's
   simulated modem (the handset record's wire_monotonic, CLOCK_MONOTONIC: comparable across processes); p50/p99.
   The modems' delay is 0 here, so a message is never behind another.
3. OTP on PostgreSQL: one process per host, each OtpService over the PostgreSQL OtpStore with its own pool (the
   store's part of the daemons' work, no HTTP), `--clients` concurrent callers over all: sends, then verifies of
   codes another host issued, per second, p50/p99 (flat out: the callers' latency is their number / the rate, by
   Little's law). Then sends paced at `--paced-rate` in all, the latency counted from each request's due time.
   Every limit is checked on every request (raised, as bench_otp.py does).
4. Memory: each daemon's RSS after the utilisation run, and one daemon on SQLite with one modem after as many
   messages as a host sent there (and idle), for comparison.

    sudo python bench/bench_fleet.py [--hosts 3] [--messages 300] [--delay 0.25] [--otp 9000] [--clients 50]
                                     [--paced-rate 2000] [--paced-seconds 10]
"""

from __future__ import annotations

import asyncio
import json
import secrets
import sys
import time
from contextlib import ExitStack
from pathlib import Path

import _common as c
import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.kit.fleet import start_host                 # noqa: E402
from tests.kit.postgres import PostgresServer          # noqa: E402

BIG = 10 ** 9
BOUND = 10 ** 6     # the queue's bound, checked on every send as the daemon does ([limits] max_queued)
RAISED = f"""
[limits]
sms_per_number = {BIG}
sends_per_hour = {BIG}
sends_per_day = {BIG}
max_queued = 1000000
"""


async def post_all(urls: list[str], n: int, concurrency: int = 20) -> None:
    counter = iter(range(n))

    async def producer(session):
        for i in counter:
            async with session.post(urls[i % len(urls)] + "/v1/messages", json={"to": "+4915112%06d" % i,
                                                                                "text": f"util {i}"},
                                    headers={"Authorization": f"Bearer {c.TOKEN}"}) as r:
                await r.read()
                assert r.status == 202, r.status

    async with aiohttp.ClientSession() as session:
        await asyncio.gather(*(producer(session) for _ in range(concurrency)))


# One OTP secret for the fleet of every phase: a host refuses to join live hosts that have another one.
SECRET = secrets.token_bytes(32)


def utilisation(pg, hosts: int, messages: int, delay: float, keep: bool) -> dict:
    tmp = c.workdir("bench-fleet-util")
    secret = SECRET
    with ExitStack() as stack:
        fleet = [start_host(tmp, pg, f"h{k}", secret, network_delay=delay, extra=RAISED, stack=stack)
                 for k in range(hosts)]
        for h in fleet:
            c.wait_for(lambda h=h: h.daemon.get("/readyz", auth=False)[1].get("modems_ready") == hosts, 30)
        started = time.monotonic()
        asyncio.run(post_all([h.daemon.url for h in fleet], messages))
        c.wait_for(lambda: sum(h.sim.handset_count() for h in fleet) >= messages,
                   timeout=messages * delay * 2 + 30, interval=0.005)
        measured = time.monotonic() - started
        shares = [h.sim.handset_count() for h in fleet]
        rss = [c.rss_mb(h.daemon.proc.pid) for h in fleet]
    c.cleanup(tmp, keep)
    ideal = messages * delay / hosts
    return {"measured": measured, "ideal": ideal, "ratio": ideal / measured, "shares": shares,
            "per_modem": [s * delay / measured for s in shares], "rss": rss}


def wire_latency(pg, hosts: int, messages: int, keep: bool) -> dict:
    tmp = c.workdir("bench-fleet-latency")
    secret = SECRET
    with ExitStack() as stack:
        fleet = [start_host(tmp, pg, f"w{k}", secret, extra=RAISED, stack=stack) for k in range(hosts)]
        for h in fleet:
            c.wait_for(lambda h=h: h.daemon.get("/readyz", auth=False)[1].get("modems_ready") == hosts, 30)
        offsets = {h.name: 0 for h in fleet}
        latencies: list[float] = []
        remote = 0
        for i in range(messages):
            entry = fleet[i % hosts]
            text = f"wire {i}"
            t0 = time.monotonic()
            status, _ = entry.daemon.call("POST", "/v1/messages", {"to": "+4915113%06d" % i, "text": text})
            assert status == 202
            found = None
            while found is None:
                for h in fleet:
                    records = h.sim.messages()[offsets[h.name]:]
                    for record in records:
                        offsets[h.name] += 1
                        if record["text"] == text:
                            found = (h, record)
                if found is None:
                    time.sleep(0.001)
            latencies.append(found[1]["wire_monotonic"] - t0)
            remote += found[0] is not entry
    c.cleanup(tmp, keep)
    return {"n": messages, "p50": c.pct(latencies, 50), "p99": c.pct(latencies, 99), "remote": remote}


async def otp_host(url: str, password: str, node: str, first: int, sends: int, clients: int, verify_first: int,
                   barrier, paced_rate: float, paced_seconds: float, paced_first: int) -> dict:
    """One host's share: `clients` concurrent callers of OtpService over the PostgreSQL OtpStore (its own pool),
    `sends` codes issued to numbers from `first`, then as many verifies (wrong code) of numbers from `verify_first`
    (another host's: a code issued on one host is checked on the next); then sends paced at `paced_rate` a second
    for `paced_seconds`, to numbers from `paced_first`."""
    from modemd.services.otp import OtpService, OtpSettings
    from modemd.store.postgres.otp import OtpStore
    from modemd.store.postgres.queue import Store
    settings = OtpSettings(sends_per_token=BIG, daily_per_country=BIG, verifies_per_number=BIG, verifies_per_app=BIG)
    store = Store(url, password, node)
    await store.open()
    service = OtpService(OtpStore(store), b"k" * 32, settings)
    number = "+4915114%06d".__mod__

    async def run(total, op):
        latencies: list[float] = []
        counter = iter(range(total))

        async def client():
            for i in counter:
                t0 = time.perf_counter()
                await op(i)
                latencies.append(time.perf_counter() - t0)
        await asyncio.get_running_loop().run_in_executor(None, barrier.wait)     # all hosts start together
        started = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(clients)))
        return {"elapsed": time.perf_counter() - started, "latencies": latencies}
    async def paced(op):
        """Request j is due at start + j / rate and starts then, whatever the earlier ones are doing (an open
        loop: apps do not wait for each other's codes); its latency runs from that due time, so a stall shows in
        full (no coordinated omission, as in bench_otp.py)."""
        total, latencies = int(paced_rate * paced_seconds), []

        async def one(j, due):
            await op(j)
            latencies.append(time.perf_counter() - due)
        await asyncio.get_running_loop().run_in_executor(None, barrier.wait)
        start, tasks = time.perf_counter(), []
        for j in range(total):
            due = start + j / paced_rate
            if (delay := due - time.perf_counter()) > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(j, due)))
        await asyncio.gather(*tasks)
        return {"elapsed": time.perf_counter() - start, "latencies": latencies}
    try:
        issued = await run(sends, lambda i: service.issue(number(first + i), token_id="bench", bound=BOUND))
        verified = await run(sends, lambda i: service.verify("000000", to=number(verify_first + i)))
        steady = await paced(lambda j: service.issue(number(paced_first + j), token_id="bench", bound=BOUND)) \
            if paced_rate else None
    finally:
        await store.close()
    return {"issued": issued, "verified": verified, "paced": steady}


def _otp_process(args, results) -> None:
    results.put(asyncio.run(otp_host(*args)))


def otp_fleet(pg, hosts: int, sends: int, clients: int, paced_rate: float = 0, paced_seconds: float = 10
              ) -> tuple[dict, dict, dict | None]:
    """OTP sends then verifies, `sends` of each in all, from one process per host (as the daemons would be: the
    hosts' work is spread over the cores), `clients` callers over all hosts; then sends paced at `paced_rate` in
    all (0: none)."""
    import multiprocessing
    from tests.kit.store import empty_pg
    from modemd.store.postgres.queue import Store

    async def empty():
        store = Store(pg.url, pg.password, "bench")
        await store.open()
        await empty_pg(store)
        await store.close()
    asyncio.run(empty())
    context = multiprocessing.get_context("spawn")
    results, barrier = context.Queue(), context.Barrier(hosts)
    share = sends // hosts
    processes = [context.Process(target=_otp_process, args=(
        (pg.url, pg.password, f"otp{k}", k * share, share, max(1, clients // hosts), ((k + 1) % hosts) * share,
         barrier, paced_rate / hosts, paced_seconds, 10 ** 6 + k * 10 ** 5), results)) for k in range(hosts)]
    for process in processes:
        process.start()
    outcomes = [results.get(timeout=600) for _ in processes]
    for process in processes:
        process.join()

    def total(phase):
        latencies = [x for o in outcomes for x in o[phase]["latencies"]]
        elapsed = max(o[phase]["elapsed"] for o in outcomes)
        return {"n": len(latencies), "elapsed": elapsed, "rate": len(latencies) / elapsed,
                "p50": c.pct(latencies, 50), "p99": c.pct(latencies, 99), "max": max(latencies)}
    return total("issued"), total("verified"), total("paced") if paced_rate else None


def sqlite_rss(messages: int, keep: bool) -> tuple[float, float]:
    """One daemon on SQLite with one modem, as each host of the fleet has: its RSS idle, and after it sent
    `messages` (a host's share of the utilisation run; the modem without network delay, the memory is the same)."""
    tmp = c.workdir("bench-fleet-sqlite")
    with ExitStack() as stack:
        sim = stack.enter_context(c.SimProcess(tmp, "sim0"))
        daemon = stack.enter_context(c.daemon(tmp, [sim.link]))
        c.wait_for(lambda: daemon.get("/readyz", auth=False)[0] == 200, 30)
        idle = c.rss_mb(daemon.proc.pid)
        asyncio.run(post_all([daemon.url], messages))
        c.wait_for(lambda: sim.handset_count() >= messages, timeout=messages + 30, interval=0.01)
        loaded = c.rss_mb(daemon.proc.pid)
    c.cleanup(tmp, keep)
    return idle, loaded


def main() -> None:
    ap = c.parser(__doc__)
    ap.add_argument("--hosts", type=int, default=3)
    ap.add_argument("--messages", type=int, default=300)
    ap.add_argument("--delay", type=float, default=0.25)
    ap.add_argument("--latency-messages", type=int, default=150)
    ap.add_argument("--otp", type=int, default=9000, help="OTP sends (and as many verifies); 0 to skip")
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--paced-rate", type=float, default=2000, help="OTP sends a second, paced, in all; 0 to skip")
    ap.add_argument("--paced-seconds", type=float, default=10)
    args = ap.parse_args()
    print(c.machine())
    with PostgresServer() as pg:
        u = utilisation(pg, args.hosts, args.messages, args.delay, args.keep)
        print(f"utilisation, {args.hosts} hosts x 1 modem at {args.delay} s/SMS, {args.messages} messages: "
              f"{u['measured']:.2f} s (ideal {u['ideal']:.2f} s), ratio {u['ratio']:.3f}; per modem "
              + ", ".join(f"{x:.3f}" for x in u["per_modem"]) + f" (messages {u['shares']})")
        w = wire_latency(pg, args.hosts, args.latency_messages, args.keep)
        print(f"submit-to-wire across {args.hosts} hosts, {w['n']} messages one at a time: p50 {c.ms(w['p50'])}, "
              f"p99 {c.ms(w['p99'])}; {w['remote']} sent by another host than the one POSTed to")
        if args.otp:
            issued, verified, paced = otp_fleet(pg, args.hosts, args.otp, args.clients, args.paced_rate,
                                                args.paced_seconds)
            for label, r in (("OTP sends (OtpService, PostgreSQL)", issued), ("OTP verifies, another host's", verified)):
                print(f"{label}: {r['rate']:.0f}/s, p50 {c.ms(r['p50'])}, p99 {c.ms(r['p99'])} "
                      f"({r['n']} by {args.clients} callers in {args.hosts} host processes)")
            if paced:
                print(f"OTP sends paced at {args.paced_rate:.0f}/s for {args.paced_seconds:.0f} s: {paced['rate']:.0f}/s "
                      f"done, from the due time p50 {c.ms(paced['p50'])}, p99 {c.ms(paced['p99'])}, "
                      f"max {c.ms(paced['max'])}")
        idle, loaded = sqlite_rss(args.messages // args.hosts, args.keep)
        print("RSS of each host after the utilisation run: " + ", ".join(f"{x:.1f} MB" for x in u["rss"]) +
              f"; one daemon on SQLite, one modem: {idle:.1f} MB idle, {loaded:.1f} MB after as many messages "
              f"({args.messages // args.hosts}): +{max(u['rss']) - loaded:.1f} MB")
    print(json.dumps({"ok": True}))


if __name__ == "__main__":
    main()
