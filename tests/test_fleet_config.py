"""Hosts of one fleet tell when their configs disagree (config/digest.py, daemon/backend.py Fleet): a digest per
section (apps, limits, OTP settings, routes, webhooks), the same in every process for the same config, blind to
secrets; a live host whose routes differ from this one's is named in a WARNING, once, and an INFO says when they
agree again."""

from __future__ import annotations

import json
import logging
import subprocess
import sys

import pytest

import kit
from modemd.config.digest import SECTIONS, differing, section_digests
from modemd.config.loader import load_config

BASE = """
[[apps]]
name = "shop"
tokens = ["{token}"]
scopes = ["send", "otp"]

[[modems]]
name = "de"
port = "/dev/ttyUSB0"
groups = ["eu"]
"""
ROUTE = """
[[routes]]
group = "eu"
countries = ["DE", "FR", "AT", "CH", "NL", "BE"]
"""


def config(tmp_path, name: str, *, token: str = "shop-token-0123456789abcdef0123456789", routes: str = ROUTE):
    return load_config(kit.write_config(tmp_path, BASE.format(token=token) + routes, name=f"{name}.toml"))


def test_the_same_config_gives_the_same_digests_in_every_process(tmp_path):
    path = kit.write_config(tmp_path, BASE.format(token="shop-token-0123456789abcdef0123456789") + ROUTE)
    script = ("import json, sys; from modemd.config.loader import load_config; from modemd.config.digest import "
              "section_digests; print(json.dumps(section_digests(load_config(__import__('pathlib').Path(sys.argv[1])))))")
    seen = {subprocess.run([sys.executable, "-c", script, str(path)], capture_output=True, text=True, check=True,
                           env=kit.clean_environment(PYTHONHASHSEED=str(seed))).stdout for seed in (1, 2, 3)}
    assert len(seen) == 1 and set(json.loads(seen.pop())) == set(SECTIONS)     # sets in a stable order


def test_a_digest_changes_with_its_section_only_and_never_with_a_secret(tmp_path):
    one = section_digests(config(tmp_path, "one"))
    other_token = section_digests(config(tmp_path, "token", token="another-token-0123456789abcdef01234567"))
    other_routes = section_digests(config(tmp_path, "routes", routes=ROUTE.replace('"BE"', '"LU"')))
    assert other_token == one                                    # tokens are secrets: not in any digest
    assert differing(one, other_routes) == ["routes"]
    assert differing(one, {"routes": "old"}) == ["routes"]         # a section the other does not report: not counted
    assert differing(one, {}) == []


@pytest.mark.e2e
async def test_a_host_with_other_routes_is_named_once_and_agreeing_again_is_said(pg, tmp_path, caplog):
    from modemd.daemon.backend import Fleet
    mine, theirs = section_digests(config(tmp_path, "a")), section_digests(config(tmp_path, "b", routes=""))
    caplog.set_level(logging.INFO, logger="modemd.daemon.backend")
    async with kit.open_pg_store(pg, node="a") as a_store, kit.open_pg_store(pg, node="b") as b_store:
        a, b = Fleet(a_store, 30.0), Fleet(b_store, 30.0)
        await a.join(b"s" * 32, [], mine)
        await b.join(b"s" * 32, [], theirs)
        await a.renew([])
        await a.renew([])
        warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
        # Each host names the other, once (both log here: one process plays both hosts).
        assert warnings == [f"host {name} has other [[routes]] than this host: a message is routed, limited and "
                            "announced by the host that accepts it, so give every host the same (docs/fleet.md)"
                            for name in ("a", "b")]
        b.config = mine                                            # b's config reloaded with a's routes
        await b.renew([])
        await a.renew([])
        assert "host b's config agrees with this host's again" in caplog.text
