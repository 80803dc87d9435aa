"""Replug: how soon a modem is back after its port reappears, on a different path.

A `modemd run` with [discovery] paths = <tmp>/dev/tty* and one modem named by its IMEI, on a `modemd simulate`
process with that IMEI. Each round: the modem is unplugged (control op `vanish`), the daemon sees it offline, one
SMS is queued, then the modem comes back on another path (`move`: a new pty, a new link name). Measured from the
moment the move is asked for (the new link appears within it):
- port -> ready:     until GET /v1/modems shows the modem ready on the new path (polled every 5 ms);
- port -> first SMS: until the queued SMS reached the handset (the simulator's wire_monotonic stamp).
Target: both under 2 s. --by-port measures the same for a modem named by port, replugged on the same path after
--away seconds (the hot-plug event cuts the reopen backoff short: --away 25 shows it past the old 30 s step).

    python bench/bench_replug.py [--rounds 10] [--by-port] [--away 0.5]
"""

from __future__ import annotations

import time

import _common as c

IMEI = "866758040000011"
TO = "+4915112345678"


def _config(dev, link: str | None) -> str:
    modem = f'port = "{link}"' if link else f'imei = "{IMEI}"'
    return (f'{c.NO_LIMITS}\n[auth]\ntokens = ["{c.TOKEN}"]\n\n[discovery]\npaths = ["{dev}/tty*"]\n'
            f'probe_timeout = 0.5\n\n[[modems]]\nname = "m"\n{modem}\n')


def _modem(daemon) -> dict:
    return daemon.call("GET", "/v1/modems")[1]["data"][0]


def one_round(daemon, sim, dev, n: int, by_port: bool, away: float) -> tuple[float, float]:
    sim.control.request("vanish")
    c.wait_for(lambda: _modem(daemon)["state"] == "offline", 10, 0.01)
    sent = sim.handset_count()
    daemon.call("POST", "/v1/messages", {"to": TO, "text": f"replug round {n}"})
    time.sleep(away)                     # the scenario: how long the modem stays unplugged
    link = sim.link if by_port else str(dev / f"ttyUSB{7 + n % 2}")
    started = time.monotonic()
    sim.control.request("move", link=link)
    c.wait_for(lambda: (m := _modem(daemon))["state"] == "ready" and m["port"] == link, 30, 0.005)
    ready = time.monotonic() - started
    c.wait_for(lambda: sim.handset_count() > sent, 30, 0.005)
    return ready, sim.messages()[-1]["wire_monotonic"] - started


def main() -> None:
    ap = c.parser(__doc__)
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--by-port", action="store_true", help="a modem named by port, replugged on the same path")
    ap.add_argument("--away", type=float, default=0.5, metavar="SECONDS", help="how long each unplug lasts")
    args = ap.parse_args()
    tmp = c.workdir("replug")
    dev = tmp / "dev"
    dev.mkdir()
    try:
        with c.SimProcess(tmp, "ttyUSB2", link=str(dev / "ttyUSB2"), imei=IMEI) as sim, \
                c.daemon(tmp, [], config=_config(dev, sim.link if args.by_port else None)) as daemon:
            results = [one_round(daemon, sim, dev, n, args.by_port, args.away) for n in range(args.rounds)]
    finally:
        c.cleanup(tmp, args.keep)
    kind = "named by port, same path" if args.by_port else "named by IMEI, another path each time"
    print(f"replug ({kind}; away {args.away:g} s), {args.rounds} rounds; {c.machine()}")
    for label, values in (("port appears -> ready (/v1/modems)", [r for r, _ in results]),
                          ("port appears -> first SMS on the handset", [s for _, s in results])):
        verdict = "MET" if max(values) < 2.0 else "NOT MET"
        print(f"  {label:<42} p50 {c.ms(c.pct(values, 50)):>10}   max {c.ms(max(values)):>10}   target < 2 s: "
              f"{verdict}")


if __name__ == "__main__":
    main()
