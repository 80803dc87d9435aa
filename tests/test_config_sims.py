"""The [[modems]] keys of a fleet of SIMs (identity, groups, sim_number, budgets, quarantine), [discovery] and
[[routes]]: what they read into, and an error naming the key for each mistake."""

from __future__ import annotations

from pathlib import Path

import pytest

from modemd.config.loader import ConfigError, load_config
from modemd.config.model import DEFAULT_DISCOVERY_PATHS, RouteConfig
from modemd.config.modems import sim_numbers
from modemd.domain.policy import SimPolicy

IMEI, ICCID, IMSI = "866758040123453", "89490200001234567892", "262011234567890"


@pytest.fixture
def load(tmp_path):
    def load(text: str):
        path = tmp_path / "modemd.toml"
        path.write_text(text, encoding="utf-8")
        path.chmod(0o640)
        return load_config(path)
    return load


def refused(load, text: str) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load(text)
    return info.value


def test_a_modem_named_by_identity_needs_no_port(load):
    config = load(f'[[modems]]\nimei = "{IMEI}"\n[[modems]]\niccid = "{ICCID}F"\nimsi = "{IMSI}"\n')
    first, second = config.modems
    assert (first.port, first.imei, first.identity) == ("", IMEI, {"imei": IMEI})
    assert second.identity == {"iccid": ICCID, "imsi": IMSI}       # the ICCID's F filler dropped
    assert first.address == f"imei:{IMEI}"
    assert config.discovery.paths == DEFAULT_DISCOVERY_PATHS


def test_port_and_identity_together(load):
    modem, = load(f'[[modems]]\nport = "/dev/ttyUSB2"\nimei = "{IMEI}"\n').modems
    assert (modem.port, modem.imei) == ("/dev/ttyUSB2", IMEI)


@pytest.mark.parametrize("text, key, words", [
    ('[[modems]]\nname = "a"\n', "modems[0].port", "imei, iccid or imsi"),
    ('[[modems]]\nimei = "12345"\n', "modems[0].imei", "15 digits"),
    ('[[modems]]\niccid = "8949abc"\n', "modems[0].iccid", "18 to 22 digits"),
    ('[[modems]]\nimsi = "26201x"\n', "modems[0].imsi", "6 to 15 digits"),
    (f'[[modems]]\nimei = "{IMEI}"\n[[modems]]\nimei = "{IMEI}"\n', "modems[1].imei", "already the imei"),
    (f'[[modems]]\nurl = "http://127.0.0.1:8080"\nusername = "u"\npassword = "pw-1234567890"\nimei = "{IMEI}"\n',
     "modems[0].imei", "is for AT modems"),
    ('[[modems]]\nport = "/dev/ttyUSB0"\ngroups = ["DE"]\n', "modems[0].groups[0]", "lower-case"),
    ('[[modems]]\nport = "/dev/ttyUSB0"\nsms_per_day = 0\n', "modems[0].sms_per_day", "integer >= 1"),
    ('[[modems]]\nport = "/dev/ttyUSB0"\nquarantine_time = 600\nquarantine_max = 60\n', "modems[0].quarantine_max",
     ">= quarantine_time"),
    ('[[modems]]\nport = "/dev/ttyUSB0"\n[[modems]]\nport = "/dev/ttyUSB1"\nsim_number = 1\n',
     "modems[1].sim_number", "already the sim_number"),
])
def test_mistakes_name_their_key(load, text, key, words):
    error = refused(load, text)
    assert error.path == key and words in str(error), str(error)


def test_groups_budgets_quarantine_and_sim_numbers(load):
    config = load('[[modems]]\nname = "de1"\nport = "/dev/ttyUSB0"\ngroups = ["de", "prepaid", "de"]\n'
                  'sms_per_hour = 10\nsms_per_day = 100\nsms_per_month = 1000\nquarantine_after = 3\n'
                  'quarantine_time = 30\nquarantine_max = 300\n'
                  '[[modems]]\nname = "fr1"\nport = "/dev/ttyUSB1"\nsim_number = 7\n')
    de1, fr1 = config.modems
    assert de1.groups == ("de", "prepaid")
    assert de1.sim == SimPolicy(sms_per_hour=10, sms_per_day=100, sms_per_month=1000, quarantine_after=3,
                                quarantine_time=30.0, quarantine_max=300.0)
    assert fr1.sim == SimPolicy()
    assert sim_numbers(config.modems) == {1: "de1", 7: "fr1"}


def test_routes_read_in_order(load):
    config = load('[[apps]]\nname = "shop"\ntokens = ["tok-3f9c2a7be1d04c55aa61"]\n'
                  '[[modems]]\nname = "de1"\nport = "/dev/ttyUSB0"\ngroups = ["de"]\n'
                  '[[modems]]\nname = "any1"\nport = "/dev/ttyUSB1"\n'
                  '[[routes]]\ngroup = "de"\nprefixes = ["+49"]\ncountries = ["de", "AT"]\napps = ["shop"]\n'
                  'kinds = ["otp"]\npriorities = ["high"]\n'
                  '[[routes]]\nmodem = "any1"\n')
    assert config.routes == (
        RouteConfig(group="de", prefixes=("+49",), countries=frozenset({"DE", "AT"}), apps=frozenset({"shop"}),
                    kinds=frozenset({"otp"}), priorities=frozenset({"high"})),
        RouteConfig(modem="any1"))


@pytest.mark.parametrize("route, key, words", [
    ('group = "de"\nmodem = "m"\n', "routes[0].modem", "exactly one of modem or group"),
    ('prefixes = ["+49"]\n', "routes[0].modem", "exactly one of modem or group"),
    ('modem = "nope"\n', "routes[0].modem", "unknown modem"),
    ('group = "fr"\n', "routes[0].group", "unknown group"),
    ('group = "de"\nprefixes = ["49"]\n', "routes[0].prefixes[0]", '"+" and 1 to 15 digits'),
    ('group = "de"\ncountries = ["UK"]\n', "routes[0].countries", 'did you mean "GB"'),
    ('group = "de"\napps = ["shopp"]\n', "routes[0].apps[0]", "unknown app"),
    ('group = "de"\nkinds = ["mms"]\n', "routes[0].kinds[0]", "unknown kind"),
    ('group = "de"\ncolour = "red"\n', "routes[0].colour", "unknown key"),
])
def test_route_mistakes_name_their_key(load, route, key, words):
    error = refused(load, '[[modems]]\nname = "m"\nport = "/dev/ttyUSB0"\ngroups = ["de"]\n[[routes]]\n' + route)
    assert error.path == key and words in str(error), str(error)


def test_discovery_paths(load):
    config = load('[[modems]]\nimei = "866758040123453"\n[discovery]\npaths = ["/tmp/x/tty*"]\nprobe_timeout = 0.5\n')
    assert (config.discovery.paths, config.discovery.probe_timeout) == (("/tmp/x/tty*",), 0.5)
    error = refused(load, '[[modems]]\nport = "/dev/ttyUSB0"\n[discovery]\npaths = ["ttyUSB*"]\n')
    assert error.path == "discovery.paths[0]"
    assert refused(load, '[[modems]]\nport = "/dev/ttyUSB0"\n[discovery]\npaths = []\n').path == "discovery.paths"
