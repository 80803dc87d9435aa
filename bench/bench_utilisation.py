"""Modem utilisation: N messages through M simulated modems whose network takes `delay` s per SMS.

Ideal time = N x delay / M (the modems never idle); measured = from just before the first POST until the last
SMS is on a handset record. Ratio = ideal / measured (1.0 = the daemon adds nothing). Each modem is its own
`modemd simulate` process; the daemon gets one --port per modem.

    python bench/bench_utilisation.py [--messages 200] [--delay 0.25] [--modems 1,4]
    python bench/bench_utilisation.py --messages 40 --modems 1,4          # quick run
"""

from __future__ import annotations

import asyncio
import time
from contextlib import ExitStack

import _common as c
import aiohttp


async def post_all(url: str, n: int, concurrency: int = 20) -> None:
    headers = {"Authorization": f"Bearer {c.TOKEN}"}
    counter = iter(range(n))

    async def producer(session):
        for i in counter:
            async with session.post(url + "/v1/messages", json={"to": "+4915112%06d" % i, "text": f"util {i}"},
                                    headers=headers) as r:
                await r.read()
                assert r.status == 202, r.status

    async with aiohttp.ClientSession() as session:
        await asyncio.gather(*(producer(session) for _ in range(concurrency)))


def run(messages: int, delay: float, modems: int, keep: bool) -> dict:
    tmp = c.workdir(f"bench-util-{modems}")
    with ExitStack() as running:
        sims = [running.enter_context(c.SimProcess(tmp, f"sim{k}", network_delay=delay)) for k in range(modems)]
        daemon = running.enter_context(c.daemon(tmp, [s.link for s in sims]))
        c.wait_for(lambda: daemon.get("/readyz", auth=False)[1].get("modems_ready") == modems, 30)
        started = time.monotonic()
        asyncio.run(post_all(daemon.url, messages))
        posted = time.monotonic() - started
        c.wait_for(lambda: sum(s.handset_count() for s in sims) >= messages, timeout=messages * delay * 2 + 30,
                   interval=0.005)
        measured = time.monotonic() - started
        per_modem = [s.handset_count() for s in sims]
    c.cleanup(tmp, keep)
    ideal = messages * delay / modems
    return {"modems": modems, "ideal": ideal, "measured": measured, "ratio": ideal / measured,
            "rate": messages / measured, "posted": posted, "per_modem": per_modem}


def main() -> None:
    ap = c.parser(__doc__)
    ap.add_argument("--messages", type=int, default=200)
    ap.add_argument("--delay", type=float, default=0.25, help="simulated network time per SMS (s)")
    ap.add_argument("--modems", default="1,4", help="comma-separated modem counts to run")
    args = ap.parse_args()
    print(f"modem utilisation, {args.messages} messages, network_delay {args.delay} s per SMS; {c.machine()}")
    results = []
    for m in (int(x) for x in args.modems.split(",")):
        r = run(args.messages, args.delay, m, args.keep)
        results.append(r)
        print(f"{m} modem(s): ideal {r['ideal']:6.2f} s   measured {r['measured']:6.2f} s   ratio {r['ratio']:.3f}   "
              f"{r['rate']:5.2f} SMS/s   (all accepted in {r['posted']:.2f} s; per modem {r['per_modem']})")
    if len(results) > 1:
        base = results[0]
        for r in results[1:]:
            print(f"scaling {base['modems']} -> {r['modems']} modems: x{r['rate'] / base['rate']:.2f} "
                  f"(ideal x{r['modems'] / base['modems']:.0f})")
    print("target: ratio >= 0.97; ~linear scaling with modems")


if __name__ == "__main__":
    main()
