"""How long hostile input holds up the daemon's event loop: each request goes out with a GET /healthz on a second
connection right behind it, and the time /healthz takes is (at most) how long the loop was held up by the request.

The requests are those of tests/test_hostile_input.py (which checks the answers: 400/401/415/422, never 5xx):
JSON nested past the depth limit up to the body limit, a lone surrogate in every string field of every POST body
the OpenAPI document describes, and odd bytes in Authorization, Idempotency-Key and Content-Type. Random but
seeded (--seed). The daemon runs `--simulate`.

    python bench/bench_hostile.py [--requests 200] [--seed 1]
"""

from __future__ import annotations

import json
import random

import _common as c
from tests.kit.rawhttp import beside_healthz, raw_request

from modemd.api.app import MAX_BODY
from modemd.api.openapi import SPEC
from modemd.api.validation import MAX_DEPTH

TO = "+4915112345678"
VALID = {"/v1/messages": {"to": TO, "text": "hi"}, "/v1/otp": {"to": TO},
         "/v1/otp/verify": {"id": "otp_x", "code": "123456"}, "/v1/otp/unlock": {"to": TO}}
STALL_TARGET = 1.0      # seconds: a loaded CI machine answers /healthz in milliseconds


def deep_body(rng: random.Random) -> tuple[str, bytes]:
    opener, closer = rng.choice([("[", "]"), ('{"a":', "}"), ("[1,", "]"), ('{"to":[', "]}")])
    room = (MAX_BODY - 2) // (len(opener) + len(closer))
    depth = rng.randint(MAX_DEPTH + 1, room)
    return rng.choice(sorted(VALID)), (opener * depth + closer * depth * rng.randint(0, 1)).encode()


def string_fields() -> list[tuple[str, str]]:
    fields = []
    for path in sorted(VALID):
        ref = SPEC["paths"][path]["post"]["requestBody"]["content"]["application/json"]["schema"]["$ref"]
        schema = SPEC["components"]["schemas"][ref.rsplit("/", 1)[1]]
        fields += [(path, name) for name, prop in schema["properties"].items() if "string" in str(prop.get("type"))]
    return fields


def lone_surrogate(rng: random.Random, fields) -> tuple[str, bytes]:
    path, field = rng.choice(fields)
    body = {**VALID[path], field: "x" * rng.randint(0, 12) + chr(rng.randint(0xD800, 0xDFFF))}
    return path, json.dumps(body, ensure_ascii=rng.random() < 0.5).encode("utf-8", "surrogatepass")


def odd_header(rng: random.Random) -> dict[str, bytes]:
    value = bytes(rng.choice([b for b in range(256) if b not in (10, 13)]) for _ in range(rng.randint(0, 80)))
    if rng.random() < 0.1:
        value = b"k" * rng.randint(8100, 8300)                 # around aiohttp's 8190-byte line limit
    return {rng.choice(["Authorization", "Idempotency-Key", "Content-Type"]): value}


def measure(port: int, requests: int, rng: random.Random) -> dict[str, list[float]]:
    fields = string_fields()
    kinds = {
        "deep JSON": lambda: raw_request("POST", *deep_body(rng)),
        "lone surrogate": lambda: raw_request("POST", *lone_surrogate(rng, fields)),
        "odd header": lambda: raw_request("POST", "/v1/messages", json.dumps(VALID["/v1/messages"]).encode(),
                                          headers=odd_header(rng)),
    }
    taken: dict[str, list[float]] = {kind: [] for kind in kinds}
    for kind, make in kinds.items():
        for _ in range(requests):
            status, body, took = beside_healthz(port, make())
            assert status < 500, (kind, status, body)
            taken[kind].append(took)
    return taken


def main() -> None:
    ap = c.parser(__doc__)
    ap.add_argument("--requests", type=int, default=200, help="requests of each kind")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    tmp = c.workdir("bench-hostile")
    print(f"/healthz beside hostile requests, {args.requests} of each kind; {c.machine()}")
    with c.daemon(tmp, [], extra=["--simulate"]) as daemon:
        taken = measure(daemon.port, args.requests, random.Random(args.seed))
    for kind, v in taken.items():
        print(f"{kind:<16} /healthz p50 {c.ms(c.pct(v, 50)):>10}   p99 {c.ms(c.pct(v, 99)):>10}   "
              f"max {c.ms(max(v)):>10}")
    worst = max(max(v) for v in taken.values())
    print(f"target: every /healthz beside a hostile request under {STALL_TARGET:.0f} s: "
          f"{'MET' if worst < STALL_TARGET else 'NOT MET'} (worst {c.ms(worst)})")
    c.cleanup(tmp, args.keep)


if __name__ == "__main__":
    main()
