"""Submit-to-wire latency on an idle daemon: from just before the POST (and from its 202) until the complete
AT+CMGS PDU has arrived at the simulated modem, one message at a time. With `--device asg-phone`: until the
simulated phone running SMS Gateway for Android (`modemd simulate --device asg-phone`, issue 15) has taken the
message from modemd's POST /messages and put it on its radio (its handset record, stamped the same way; the
simulated phone sends as soon as it accepts, so this is submit-to-phone).

Three processes, as in the other benches: this client, `modemd run`, and `modemd simulate` (network_delay 0). The
simulator stamps each handset record with `wire_monotonic`, time.monotonic() when the whole PDU was in (after
Ctrl-Z); CLOCK_MONOTONIC is system-wide on Linux, so it is compared with this process's own time.monotonic()
stamps. (The record's `time` field is wall-clock ISO 8601 with millisecond resolution: too coarse for a 10 ms
target.) The bench polls the handset file for the record; the polling delays only the next message, not the stamp.

    python bench/bench_latency.py [--messages 200] [--gap 0.05] [--device ec25|asg-phone]
"""

from __future__ import annotations

import asyncio
import json
import random
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import _common as c
import aiohttp


class HandsetReader:
    """New records of the simulator's handset file (JSON lines), read from where the last call stopped."""

    def __init__(self, path):
        self.path, self.offset, self.buffer = path, 0, b""

    def new(self) -> list[dict]:
        try:
            with open(self.path, "rb") as f:
                f.seek(self.offset)
                chunk = f.read()
        except FileNotFoundError:
            return []
        self.offset += len(chunk)
        *lines, self.buffer = (self.buffer + chunk).split(b"\n")
        return [json.loads(line) for line in lines if line.strip()]


@contextmanager
def modem_and_daemon(tmp, device: str):
    """The simulated device and a daemon driving it; yields (daemon, the device's handset file)."""
    if device == "asg-phone":
        sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
        from tests.kit.asg_phone import PASSWORD, USER, PhoneProcess
        phone = PhoneProcess(tmp)
        try:
            config = (c.NO_LIMITS + f'[auth]\ntokens = ["{c.TOKEN}"]\n[[modems]]\nname = "phone0"\n'
                      f'url = "{phone.url}"\nusername = "{USER}"\npassword = "{PASSWORD}"\n')
            with c.daemon(tmp, [], config=config) as daemon:
                yield daemon, phone.handset_path
        finally:
            phone.close()
    else:
        with c.SimProcess(tmp, "sim0") as sim, c.daemon(tmp, [sim.link]) as daemon:   # network_delay 0
            yield daemon, sim.handset


async def measure(tmp, messages: int, gap: float, text_len: int, device: str = "ec25") -> dict:
    wire: dict[str, float] = {}
    with modem_and_daemon(tmp, device) as (daemon, handset_path):
        c.wait_for(lambda: daemon.get("/readyz", auth=False)[0] == 200, 30)
        handset = HandsetReader(handset_path)
        headers = {"Authorization": f"Bearer {c.TOKEN}"}
        from_post, from_202, post_rtt = [], [], []
        async with aiohttp.ClientSession() as session:
            for i in range(messages + 10):      # the first 10 warm up and are not counted
                text = f"latency {i} " + "x" * max(0, text_len - 12)
                t0 = time.monotonic()
                async with session.post(daemon.url + "/v1/messages", json={"to": "+4915112345678", "text": text},
                                        headers=headers) as r:
                    await r.read()
                    assert r.status == 202, r.status
                t1 = time.monotonic()
                deadline = t1 + 10
                while text not in wire:
                    for record in handset.new():
                        wire[record["text"]] = record["wire_monotonic"]
                    if text not in wire:
                        if time.monotonic() > deadline:
                            raise TimeoutError(f"message {i} did not reach the handset in 10 s")
                        await asyncio.sleep(0.001)
                if i >= 10:
                    from_post.append(wire[text] - t0)
                    from_202.append(wire[text] - t1)
                    post_rtt.append(t1 - t0)
                await asyncio.sleep(gap * random.uniform(0.5, 1.5))   # idle: the worker parks between messages
        rss = c.rss_mb(daemon.proc.pid)
    return {"from_post": from_post, "from_202": from_202, "post_rtt": post_rtt, "rss": rss}


def main() -> None:
    ap = c.parser(__doc__)
    ap.add_argument("--messages", type=int, default=200)
    ap.add_argument("--gap", type=float, default=0.05, help="mean idle time between messages (s)")
    ap.add_argument("--text-length", type=int, default=40)
    ap.add_argument("--device", choices=["ec25", "asg-phone"], default="ec25",
                    help="the simulated AT modem, or the simulated phone running SMS Gateway for Android")
    args = ap.parse_args()
    tmp = c.workdir("bench-latency")
    print(f"submit-to-wire latency, idle daemon, one message at a time, {args.device}; {c.machine()}")
    r = asyncio.run(measure(tmp, args.messages, args.gap, args.text_length, args.device))
    at = "the phone" if args.device == "asg-phone" else "the modem"
    for label, key in ((f"POST sent -> on the air at {at}", "from_post"),
                       (f"202 received -> on the air at {at}", "from_202"),
                       ("POST round trip (accept, durable)", "post_rtt")):
        v = r[key]
        print(f"{label:<44} p50 {c.ms(c.pct(v, 50)):>10}   p99 {c.ms(c.pct(v, 99)):>10}   "
              f"min {c.ms(min(v)):>10}   max {c.ms(max(v)):>10}   (n={len(v)})")
    print(f"daemon RSS {r['rss']:.1f} MB; target: p50 (accept -> wire) < 10 ms")
    c.cleanup(tmp, args.keep)


if __name__ == "__main__":
    main()
