"""OTP throughput: POST /v1/otp (sends accepted) and POST /v1/otp/verify with 50 concurrent clients over loopback,
durable store on; and the same through OtpService in-process (no HTTP) as a second figure.

Rate limits: the daemon runs with `--config` (a TOML written 0600 in the temp dir: the bench token, and the limits
that one client sending to many numbers would hit raised: sends_per_token, daily_per_country, verifies_per_number,
verifies_per_app).
Every limit is still checked on every request: only the numbers are bigger. Every send goes to its own number
(the per-number limits and the resend gap stay at their defaults and are checked, never reached). Verify goes to
numbers that have a pending code, with a wrong code (0-2 tries per code: never max_attempts_reached).
The in-process run raises the same limits through OtpSettings.

    python bench/bench_otp.py [--sends 10000] [--verifies 10000] [--clients 50] [--inproc-sends 10000]
"""

from __future__ import annotations

import asyncio
import time

import _common as c
import aiohttp


BIG = 10 ** 9
# Three apps for the multi-app phase (--apps): each its own token, the per-app allowances raised like the rest.
APP_TOKENS = {name: f"{name}-bench-token-0123456789" for name in ("shop", "bank", "games")}
APPS = "".join(f"""
[[apps]]
name = "{name}"
tokens = ["{token}"]
sends_per_hour = {BIG}
sends_per_day = {BIG}
""" for name, token in APP_TOKENS.items())
CONFIG = c.NO_LIMITS + f"""
[auth]
tokens = ["{c.TOKEN}"]

[otp]
sends_per_token = {BIG}
daily_per_country = {BIG}
verifies_per_number = {BIG}
verifies_per_app = {BIG}
"""
CONFIG += APPS


def number(i: int) -> str:
    return "+4915112%06d" % i


async def http_run(url: str, total: int, clients: int, make, pid: int) -> dict:
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    counter = iter(range(total))

    async def client(session: aiohttp.ClientSession) -> None:
        for i in counter:
            path, body, token = make(i)
            t0 = time.perf_counter()
            async with session.post(url + path, json=body, headers={"Authorization": f"Bearer {token}"}) as r:
                await r.read()
            latencies.append(time.perf_counter() - t0)
            statuses[r.status] = statuses.get(r.status, 0) + 1

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=clients)) as session:
        cpu0, mine0 = c.cpu_seconds(pid), time.process_time()
        started = time.perf_counter()
        await asyncio.gather(*(client(session) for _ in range(clients)))
        elapsed = time.perf_counter() - started
        cpu, mine = c.cpu_seconds(pid) - cpu0, time.process_time() - mine0
    return {"n": total, "elapsed": elapsed, "rate": total / elapsed, "p50": c.pct(latencies, 50),
            "p99": c.pct(latencies, 99), "statuses": statuses,
            "cpu": f"daemon CPU {cpu / elapsed:.2f} cores, {1e6 * cpu / total:.0f} us/request; "
                   f"client CPU {mine / elapsed:.2f} cores"}


HAMMERS = 10      # concurrent clients of the app that checks junk ids


async def paced_run(url: str, rate: float, seconds: float, clients: int, first: int,
                    tokens: tuple[str, ...] = (c.TOKEN,), junk_token: str | None = None, junk_rate: float = 0.0
                    ) -> dict:
    """POST /v1/otp at a fixed total rate from `clients` concurrent clients: request j is due at start + j / rate,
    on client j % clients. Latency runs from the due time, not from when the client got round to sending, so a
    stall shows in full (no coordinated omission: the same correction wrk2 makes)."""
    total = int(rate * seconds)
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    junk: dict[int, int] = {}

    async def client(session: aiohttp.ClientSession, k: int, start: float) -> None:
        for j in range(k, total, clients):
            due = start + j / rate
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            headers = {"Authorization": f"Bearer {tokens[j % len(tokens)]}"}    # the apps take turns
            async with session.post(url + "/v1/otp", json={"to": number(first + j)}, headers=headers) as r:
                await r.read()
            latencies.append(time.perf_counter() - due)
            statuses[r.status] = statuses.get(r.status, 0) + 1

    async def hammer(session: aiohttp.ClientSession, k: int, start: float) -> None:
        """An app checking random verification ids at `junk_rate` in all (10 of these, j on hammer j % 10): codes
        that never existed."""
        headers = {"Authorization": f"Bearer {junk_token}"}
        for j in range(k, int(junk_rate * seconds), HAMMERS):
            delay = start + j / junk_rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            body = {"id": f"otp_junk{j:022d}", "code": "123456"}
            async with session.post(url + "/v1/otp/verify", json=body, headers=headers) as r:
                await r.read()
            junk[r.status] = junk.get(r.status, 0) + 1

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=clients + 10)) as session:
        start = time.perf_counter() + 0.1
        jobs = [client(session, k, start) for k in range(clients)]
        if junk_token and junk_rate > 0:
            jobs += [hammer(session, k, start) for k in range(HAMMERS)]
        await asyncio.gather(*jobs)
        elapsed = time.perf_counter() - start
    return {"n": total, "elapsed": elapsed, "rate": total / elapsed, "p50": c.pct(latencies, 50),
            "p99": c.pct(latencies, 99), "p999": c.pct(latencies, 99.9), "max": max(latencies),
            "statuses": statuses, "junk": junk}


async def inproc_run(tmp, sends: int, verifies: int, clients: int) -> tuple[dict, dict]:
    from modemd.services.otp import OtpService, OtpSettings
    from modemd.store.sqlite.queue import Store
    from modemd.store.sqlite.otp import OtpStore
    store = Store(tmp / "inproc.db")
    await store.open()
    service = OtpService(OtpStore(store), b"k" * 32, OtpSettings(sends_per_token=BIG, daily_per_country=BIG,
                                                                   verifies_per_number=BIG, verifies_per_app=BIG))

    async def run(total, op):
        latencies = []
        counter = iter(range(total))

        async def client():
            for i in counter:
                t0 = time.perf_counter()
                await op(i)
                latencies.append(time.perf_counter() - t0)
        started = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(clients)))
        elapsed = time.perf_counter() - started
        return {"n": total, "elapsed": elapsed, "rate": total / elapsed, "p50": c.pct(latencies, 50),
                "p99": c.pct(latencies, 99), "statuses": {}}

    issued = await run(sends, lambda i: service.issue(number(i), token_id="bench"))
    verified = await run(verifies, lambda i: service.verify("000000", to=number(i % sends)))
    await store.close()
    return issued, verified


async def timing_run(url: str, pending: int, rounds: int) -> dict:
    """One client, one request at a time: verify latency for numbers with a pending code vs numbers without one,
    interleaved so both see the same machine load. The issue asks that they answer in the same time."""
    groups: dict[str, list[float]] = {"pending": [], "not_found": []}
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {c.TOKEN}"}) as session:
        for i in range(rounds):
            for kind, to in (("pending", number(i % pending)), ("not_found", number(900000 + i))):
                t0 = time.perf_counter()
                async with session.post(url + "/v1/otp/verify", json={"to": to, "code": "000000"}) as r:
                    body = await r.json()
                groups[kind].append(time.perf_counter() - t0)
                assert body["status"] in ("pending", "max_attempts_reached" if kind == "pending" else "not_found")
    return {kind: (c.pct(v, 50), c.pct(v, 90)) for kind, v in groups.items()}


def wrk_run(url: str, clients: int) -> None:
    """POST /v1/otp for 4 s from wrk (Debian package `wrk`), numbers from +4915112500000 up (not used by the first part)."""
    import shutil
    import subprocess
    from pathlib import Path
    if not shutil.which("wrk"):
        print("wrk: not installed (apt-get install wrk)")
        return
    script = Path(__file__).with_name("otp_send.lua")
    out = subprocess.run(["wrk", "-t2", f"-c{clients}", "-d4s", "--latency", "-s", str(script), url, "--", c.TOKEN,
                          "500000"], capture_output=True, text=True, timeout=60).stdout
    wanted = [line.strip() for line in out.splitlines() if line.strip().startswith(("50%", "90%", "99%", "Req", "Non"))]
    print("wrk POST /v1/otp, 2 threads, %d connections, 4 s:  %s" % (clients, ";  ".join(wanted)))


def show(label: str, r: dict) -> None:
    c.show(label, r, width=46, rate="{:7.0f}/s", note=f", HTTP statuses {r['statuses']}" if r["statuses"] else "")


def main() -> None:
    ap = c.parser(__doc__)
    ap.add_argument("--sends", type=int, default=10000, help="HTTP OTP sends, each to its own number (<= 10^6)")
    ap.add_argument("--verifies", type=int, default=10000)
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--inproc-sends", type=int, default=10000)
    ap.add_argument("--rate", type=float, default=1500.0,
                    help="also send at this fixed total rate (the target's 1,500/s) and measure latency from each "
                         "request's due time; 0 to skip")
    ap.add_argument("--paced-seconds", type=float, default=10.0)
    ap.add_argument("--apps", action="store_true",
                    help="also the paced sends from three apps taking turns, one of them hammering verify with "
                         "junk ids (--junk-rate)")
    ap.add_argument("--junk-rate", type=float, default=500.0, help="junk verifies per second in the --apps phase")
    ap.add_argument("--wrk", action="store_true",
                    help="also measure sends with wrk (C client: the client's own CPU does not blur the tail)")
    args = ap.parse_args()
    tmp = c.workdir("bench-otp")
    print(f"OTP send/verify, {args.clients} concurrent clients, durable store; {c.machine()}")
    # The codes trickle out meanwhile (network_delay 0.25 s), as they would on a real modem.
    with c.SimProcess(tmp, "sim0", network_delay=0.25) as sim, c.daemon(tmp, [sim.link], config=CONFIG) as daemon:
        sends = asyncio.run(http_run(daemon.url, args.sends, args.clients,
                                     lambda i: ("/v1/otp", {"to": number(i)}, c.TOKEN), daemon.proc.pid))
        show("HTTP POST /v1/otp (accepted sends)", sends)
        if args.verifies > 0:
            verifies = asyncio.run(http_run(daemon.url, args.verifies, args.clients,
                                            lambda i: ("/v1/otp/verify", {"to": number(i % args.sends),
                                                                          "code": "000000"}, c.TOKEN),
                                            daemon.proc.pid))
            show("HTTP POST /v1/otp/verify", verifies)
            timing = asyncio.run(timing_run(daemon.url, min(args.sends, 1000), 1000))
            print("verify latency, 1 client, 1000 each, interleaved:  " + ";  ".join(
                f"{kind} p50 {c.ms(p50)} p90 {c.ms(p90)}" for kind, (p50, p90) in timing.items()))
        if args.rate > 0:
            paced = asyncio.run(paced_run(daemon.url, args.rate, args.paced_seconds, args.clients, 200000))
            show(f"HTTP POST /v1/otp paced at {args.rate:.0f}/s", paced)
            print(f"{'':<46} from the due time: p99.9 {c.ms(paced['p999'])}, max {c.ms(paced['max'])}")
        if args.apps and args.rate > 0:
            tokens = tuple(APP_TOKENS.values())
            mixed = asyncio.run(paced_run(daemon.url, args.rate, args.paced_seconds, args.clients, 400000,
                                          tokens=tokens, junk_token=APP_TOKENS["games"], junk_rate=args.junk_rate))
            show(f"3 apps, POST /v1/otp paced at {args.rate:.0f}/s", mixed)
            print(f"{'':<46} while app games checks {args.junk_rate:.0f} junk ids/s (10 clients; answers "
                  f"{mixed['junk']}); from the due time: p99.9 {c.ms(mixed['p999'])}, max {c.ms(mixed['max'])}")
        if args.wrk:
            wrk_run(daemon.url, args.clients)
        print(f"daemon RSS {c.rss_mb(daemon.proc.pid):.1f} MB")
    if args.inproc_sends > 0:
        issued, verified = asyncio.run(inproc_run(tmp, args.inproc_sends, max(args.verifies, 1), args.clients))
        show("in-process OtpService.issue (limits raised)", issued)
        show("in-process OtpService.verify", verified)
    print("targets: >= 1500 accepted sends/s with p99 < 25 ms; verify >= 3000/s")
    c.cleanup(tmp, args.keep)


if __name__ == "__main__":
    main()
