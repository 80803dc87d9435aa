"""Submit-to-wire latency on an idle daemon: from just before the POST (and from its 202) until the complete
AT+CMGS PDU has arrived at the simulated modem, one message at a time.

The simulated modem runs in this process (SimulatedModem on a pty, same asyncio loop as the client), and its
handset hook is wrapped to stamp time.monotonic() when the simulator has the whole PDU (after Ctrl-Z, network_delay
0), so both ends use one clock. The handset record's own `time` field is wall-clock ISO 8601 with millisecond
resolution: too coarse for a 10 ms target, hence the hook.  The daemon is a separate `modemd run` process.

    python bench/bench_latency.py [--messages 200] [--gap 0.05]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import time

import _common as c
import aiohttp


async def measure(tmp, messages: int, gap: float, text_len: int) -> dict:
    from modemd.simulator import SimulatedModem
    sim = SimulatedModem(link=str(tmp / "sim0.tty"))
    await sim.start()
    wire: dict[str, float] = {}
    arrived = asyncio.Event()
    receive = sim.handset.receive

    def stamped(part):
        wire[part.text] = time.monotonic()      # the complete PDU is in and decoded
        arrived.set()
        return receive(part)

    sim.handset.receive = stamped
    daemon = c.Daemon(tmp, [sim.port])
    try:
        await asyncio.get_running_loop().run_in_executor(None, daemon.wait_ready)
        headers = {"Authorization": f"Bearer {c.TOKEN}"}
        from_post, from_202, post_rtt = [], [], []
        async with aiohttp.ClientSession() as session:
            for i in range(messages + 10):      # the first 10 warm up and are not counted
                text = f"latency {i} " + "x" * max(0, text_len - 12)
                arrived.clear()
                t0 = time.monotonic()
                async with session.post(daemon.url + "/v1/messages", json={"to": "+4915112345678", "text": text},
                                        headers=headers) as r:
                    await r.read()
                    assert r.status == 202, r.status
                t1 = time.monotonic()
                while text not in wire:
                    await asyncio.wait_for(arrived.wait(), 10)
                    arrived.clear()
                if i >= 10:
                    from_post.append(wire[text] - t0)
                    from_202.append(wire[text] - t1)
                    post_rtt.append(t1 - t0)
                await asyncio.sleep(gap * random.uniform(0.5, 1.5))   # idle: the worker parks between messages
        rss = daemon.rss_mb()
    finally:
        daemon.stop()
        await sim.stop()
    return {"from_post": from_post, "from_202": from_202, "post_rtt": post_rtt, "rss": rss}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--messages", type=int, default=200)
    ap.add_argument("--gap", type=float, default=0.05, help="mean idle time between messages (s)")
    ap.add_argument("--text-length", type=int, default=40)
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()
    tmp = c.workdir("bench-latency")
    print(f"submit-to-wire latency, idle daemon, one message at a time; {c.machine()}")
    r = asyncio.run(measure(tmp, args.messages, args.gap, args.text_length))
    for label, key in (("POST sent -> PDU complete at the modem", "from_post"),
                       ("202 received -> PDU complete at the modem", "from_202"),
                       ("POST round trip (accept, durable)", "post_rtt")):
        v = r[key]
        print(f"{label:<44} p50 {c.ms(c.pct(v, 50)):>10}   p99 {c.ms(c.pct(v, 99)):>10}   "
              f"min {c.ms(min(v)):>10}   max {c.ms(max(v)):>10}   (n={len(v)})")
    print(f"daemon RSS {r['rss']:.1f} MB; target: p50 (accept -> wire) < 10 ms")
    c.cleanup(tmp, args.keep)


if __name__ == "__main__":
    main()
