"""The far end: every SMS the simulated network accepted, reassembled and recorded as JSON lines.

A phone shows a concatenated message once all parts are in (TS 23.040 9.2.3.24.1: same reference, same
originator, parts 1..total), so parts are grouped by (destination, reference, total) and one record is written
per complete message. A part that arrives twice (a retry after an ambiguous send) replaces the earlier copy, as
handsets show it once.

Each record carries two times: `time`, wall-clock ISO 8601 with millisecond resolution (for people), and
`wire_monotonic`, time.monotonic() when the part that completed the message reached the handset (after the
network_delay fault, if any). CLOCK_MONOTONIC is system-wide on Linux, so another process on the same machine (a
benchmark) can subtract its own time.monotonic() stamps from it.
"""
from __future__ import annotations

import json
import threading
import time
from dataclasses import asdict, dataclass
from datetime import datetime, timezone

from .actions import SubmittedPart


@dataclass(frozen=True)
class HandsetSms:
    to: str
    text: str
    parts: int
    encoding: str
    time: str                                  # ISO 8601 UTC, when the last part arrived
    message_references: list[int]              # TP-MR of each part, in part order
    status_report_requested: bool
    validity: int | None
    wire_monotonic: float | None = None        # time.monotonic() when the last part arrived; None in old files

    @classmethod
    def from_dict(cls, data: dict) -> "HandsetSms":
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})


class Handset:
    def __init__(self, path: str | None = None):
        self.path = path
        self._messages: list[HandsetSms] = []
        self._parts: list[SubmittedPart] = []
        self._incomplete: dict[tuple, dict[int, SubmittedPart]] = {}
        self._lock = threading.Lock()          # tests read from another thread while the loop appends

    def receive(self, part: SubmittedPart) -> HandsetSms | None:
        """Take one submitted part; returns the message when it completes it."""
        arrived = time.monotonic()
        with self._lock:
            self._parts.append(part)
            if part.concat is None:
                return self._record([part], arrived)
            ref, total, seq = part.concat
            key = (part.to, ref, total)
            group = self._incomplete.setdefault(key, {})
            group[seq] = part
            if len(group) < total:
                return None
            del self._incomplete[key]
            return self._record([group[n] for n in sorted(group)], arrived)

    def _record(self, parts: list[SubmittedPart], arrived: float) -> HandsetSms:
        sms = HandsetSms(
            to=parts[0].to, text="".join(p.text for p in parts), parts=len(parts), encoding=parts[0].encoding,
            time=datetime.now(timezone.utc).isoformat(timespec="milliseconds"),
            message_references=[p.message_reference for p in parts],
            status_report_requested=any(p.status_report_requested for p in parts), validity=parts[0].validity,
            wire_monotonic=arrived)
        self._messages.append(sms)
        if self.path:
            with open(self.path, "a", encoding="utf-8") as f:
                f.write(json.dumps(asdict(sms), ensure_ascii=False) + "\n")
        return sms

    def messages(self) -> list[HandsetSms]:
        """Every complete message; read back from the file when there is one (it may predate this process)."""
        if not self.path:
            with self._lock:
                return list(self._messages)
        return read_messages(self.path)

    def parts(self) -> list[SubmittedPart]:
        with self._lock:
            return list(self._parts)

    def incomplete(self) -> int:
        """Messages still waiting for parts."""
        with self._lock:
            return len(self._incomplete)


def read_messages(path: str) -> list[HandsetSms]:
    try:
        with open(path, encoding="utf-8") as f:
            return [HandsetSms.from_dict(json.loads(line)) for line in f if line.strip()]
    except FileNotFoundError:
        return []
