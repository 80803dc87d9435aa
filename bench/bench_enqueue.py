"""Durable enqueue throughput: POST /v1/messages to the real daemon (1 and 50 concurrent producers), and
Store.enqueue in-process as a second figure. Durability on: WAL + synchronous=FULL, each 202 after its commit.

The daemon runs on a simulated modem that is unplugged (control socket "vanish") once the daemon is ready, so
nothing drains while we measure and the figure is enqueue alone. The client (aiohttp, keep-alive) runs on the same
machine and takes CPU from the daemon: on 2 cores the figure is a lower bound for a client elsewhere.

    python bench/bench_enqueue.py [--single 2000] [--concurrent 20000] [--producers 50] [--skip-store]
"""

from __future__ import annotations

import asyncio
import time

import _common as c
import aiohttp


async def http_phase(url: str, total: int, producers: int, tag: str, pid: int | None = None) -> dict:
    headers = {"Authorization": f"Bearer {c.TOKEN}"}
    latencies: list[float] = []
    counter = iter(range(total))
    errors = 0

    async def producer(session: aiohttp.ClientSession) -> None:
        nonlocal errors
        for i in counter:
            body = {"to": "+4915112%06d" % (i % 1000000), "text": f"bench {tag} {i}"}
            t0 = time.perf_counter()
            async with session.post(url + "/v1/messages", json=body, headers=headers) as r:
                await r.read()
                if r.status != 202:
                    errors += 1
            latencies.append(time.perf_counter() - t0)

    connector = aiohttp.TCPConnector(limit=producers, force_close=False)
    async with aiohttp.ClientSession(connector=connector) as session:
        cpu0, mine0 = (c.cpu_seconds(pid) if pid else 0.0), time.process_time()
        started = time.perf_counter()
        await asyncio.gather(*(producer(session) for _ in range(producers)))
        elapsed = time.perf_counter() - started
        cpu, mine = (c.cpu_seconds(pid) - cpu0 if pid else 0.0), time.process_time() - mine0
    return {"n": total, "elapsed": elapsed, "rate": total / elapsed, "p50": c.pct(latencies, 50),
            "p99": c.pct(latencies, 99), "errors": errors,
            "cpu": f"daemon CPU {cpu / elapsed:.2f} cores, {1e6 * cpu / total:.0f} us/msg; "
                   f"client CPU {mine / elapsed:.2f} cores" if pid else ""}


async def store_phase(path, total: int, producers: int) -> dict:
    from modemd.domain.sms import OutboundSms, new_message_id
    from modemd.store.sqlite.queue import Store
    store = Store(path)
    await store.open()
    latencies: list[float] = []
    counter = iter(range(total))

    async def producer() -> None:
        for i in counter:
            now = time.time()
            sms = OutboundSms(id=new_message_id(now), to="+4915112%06d" % (i % 1000000), text=f"store {i}", parts=1,
                              next_attempt_at=now, created_at=now, updated_at=now)
            t0 = time.perf_counter()
            await store.enqueue(sms)
            latencies.append(time.perf_counter() - t0)

    started = time.perf_counter()
    await asyncio.gather(*(producer() for _ in range(producers)))
    elapsed = time.perf_counter() - started
    await store.close()
    return {"n": total, "elapsed": elapsed, "rate": total / elapsed, "p50": c.pct(latencies, 50),
            "p99": c.pct(latencies, 99), "errors": 0}


def show(label: str, r: dict) -> None:
    c.show(label, r, note=f", {r['errors']} errors" if r["errors"] else "")


def main() -> None:
    ap = c.parser(__doc__)
    ap.add_argument("--single", type=int, default=2000, help="messages for the 1-producer run")
    ap.add_argument("--concurrent", type=int, default=20000, help="messages for the N-producer run")
    ap.add_argument("--producers", type=int, default=50)
    ap.add_argument("--skip-store", action="store_true", help="only the HTTP figures")
    args = ap.parse_args()
    tmp = c.workdir("bench-enqueue")
    print(f"enqueue throughput, durable (WAL, synchronous=FULL); {c.machine()}")
    with c.SimProcess(tmp, "sim0") as sim, c.daemon(tmp, [sim.link]) as daemon:
        sim.control.request("vanish")                  # nothing drains: the figure is enqueue alone
        c.wait_for(daemon.not_ready, 10)
        asyncio.run(http_phase(daemon.url, 200, 10, "warmup"))
        show("HTTP POST /v1/messages, 1 producer", asyncio.run(http_phase(daemon.url, args.single, 1, "single", daemon.proc.pid)))
        show(f"HTTP POST /v1/messages, {args.producers} producers",
             asyncio.run(http_phase(daemon.url, args.concurrent, args.producers, "conc", daemon.proc.pid)))
        print(f"daemon RSS after {args.single + args.concurrent + 200} accepts: {c.rss_mb(daemon.proc.pid):.1f} MB")
    if not args.skip_store:
        show("Store.enqueue in-process, 1 producer", asyncio.run(store_phase(tmp / "store.db", args.single, 1)))
        show(f"Store.enqueue in-process, {args.producers} producers",
             asyncio.run(store_phase(tmp / "store.db", args.concurrent, args.producers)))
    print("target: >= 2000 durable msg/s")
    c.cleanup(tmp, args.keep)


if __name__ == "__main__":
    main()
