"""GET /v1/admin/ports (api/ports.py) and `modemd modems`' rendering (cli/modems.py): admin only, identities whole,
the [[modems]] table to paste for an unconfigured modem and for nothing else."""

from __future__ import annotations

import pytest

from kit import FakeDaemon, api_client
from modemd.api.auth import TokenSet
from modemd.api.ports import config_lines
from modemd.cli.modems import format_ports
from modemd.config.loader import AppConfig

ADMIN, SHOP = "admin-token-0123456789", "shop-token-0123456789"
NEW = {"path": "/dev/serial/by-id/usb-Quectel_EC25-if02-port0", "realpath": "/dev/ttyUSB2", "status": "modem",
       "detail": "", "manufacturer": "Quectel", "model": "EC25", "imei": "866758040000037",
       "iccid": "89490200003333333333", "imsi": "262013333333333", "modem": None}
OURS = {**NEW, "path": "/dev/ttyUSB6", "realpath": "/dev/ttyUSB6", "status": "ours", "modem": "a",
        "detail": "held by modem 'a' (ready)", "imei": "866758040000011"}
BUSY = {**NEW, "path": "/dev/ttyUSB3", "realpath": "/dev/ttyUSB3", "status": "in use", "manufacturer": "",
        "model": "", "imei": "", "iccid": "", "imsi": "",
        "detail": "in use by another process: pid 812 ModemManager holds it exclusively (TIOCEXCL)"}
SILENT = {**BUSY, "path": "/dev/ttyUSB0", "realpath": "/dev/ttyUSB0", "status": "not a modem",
          "detail": "no answer to AT within 1 s"}


class PortsDaemon(FakeDaemon):
    async def port_findings(self):
        return [NEW, OURS, BUSY, SILENT]


@pytest.fixture
async def api(store):
    tokens = TokenSet([ADMIN], (AppConfig("shop", tokens=(SHOP,)),))
    async with api_client(PortsDaemon(store, tokens=tokens)) as client:
        yield client


async def test_admins_see_every_port_with_whole_identities_and_config_for_the_new_modem(api):
    async with api.get("/v1/admin/ports", headers={"Authorization": f"Bearer {ADMIN}"}) as resp:
        assert resp.status == 200
        ports = (await resp.json())["data"]
    assert [p["path"] for p in ports] == [NEW["path"], "/dev/ttyUSB6", "/dev/ttyUSB3", "/dev/ttyUSB0"]
    assert ports[0]["imei"] == "866758040000037"
    assert ports[0]["config"] == '[[modems]]\nname = "ec25-37"\niccid = "89490200003333333333"\n'
    assert [p["config"] for p in ports[1:]] == [None, None, None]


async def test_other_apps_may_not_list_ports(api):
    async with api.get("/v1/admin/ports", headers={"Authorization": f"Bearer {SHOP}"}) as resp:
        assert resp.status == 403


def test_a_modem_without_a_sim_is_named_by_its_imei():
    assert config_lines({**NEW, "iccid": ""}) == '[[modems]]\nname = "ec25-37"\nimei = "866758040000037"\n'


def test_the_listing_says_what_each_port_is():
    text = format_ports({"data": [{**p, "config": config_lines(p)} for p in (NEW, OURS, BUSY, SILENT)]})
    assert f"{NEW['path']} -> /dev/ttyUSB2: not configured" in text
    assert '    iccid = "89490200003333333333"' in text
    assert "/dev/ttyUSB6: modem 'a' (held by modem 'a' (ready))" in text
    assert "/dev/ttyUSB3: in use by pid 812 ModemManager" in text
    assert "/dev/ttyUSB0: not a modem: no answer to AT within 1 s" in text
    assert format_ports({"data": []}) == "no serial ports match the [discovery] paths"
