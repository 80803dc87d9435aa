"""What a host's config says about the fleet's shared behaviour, as one short digest per section, so hosts on one
database can tell they disagree (daemon/backend.py Fleet: a WARNING naming the host and the sections).

Every host of a fleet should have the same apps, limits, OTP settings, routes and webhooks (docs/fleet.md): a client
may call any host, and a message is routed, limited and announced by the host that accepts it. Two hosts with other
[[routes]] route the same message differently depending on which one the client reached.

The digest leaves out what a dataclass keeps out of its repr (tokens, signing keys, webhook secrets: `repr=False`):
a digest of a weak secret could be guessed from the database. Sets are sorted and the text is canonical JSON, so two
processes with the same config agree (a frozenset's order changes from one process to the next).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path
from typing import Any

from .model import Config

SECTIONS = ("apps", "limits", "otp", "routes", "webhooks")


def section_digests(config: Config) -> dict[str, str]:
    """{section: digest} for SECTIONS."""
    return {name: _digest(getattr(config, name)) for name in SECTIONS}


def differing(mine: dict[str, str], theirs: dict[str, str]) -> list[str]:
    """The sections both hosts report and that differ (a host too old to report a section is not counted)."""
    return [name for name in SECTIONS if name in mine and name in theirs and mine[name] != theirs[name]]


def _digest(value: Any) -> str:
    text = json.dumps(_canonical(value), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _canonical(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _canonical(getattr(value, f.name)) for f in dataclasses.fields(value) if f.repr}
    if isinstance(value, (set, frozenset)):
        return sorted((_canonical(v) for v in value), key=repr)
    if isinstance(value, (list, tuple)):
        return [_canonical(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _canonical(v) for k, v in value.items()}
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, bytes):
        return None             # a secret not marked repr=False is still not written
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return repr(value)          # an enum, a compiled template: its repr is stable
