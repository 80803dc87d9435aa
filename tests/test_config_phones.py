"""The [[modems]] contract for phones running SMS Gateway for Android: url, username, password or password_file,
adb_serial; exactly one of port and url; every error naming its key, the password never in an error or a repr."""

from __future__ import annotations

import pytest

import test_config
from modemd.config.loader import load_config

PASSWORD = "s3cret-phone-pass"
PHONE = '[[modems]]\nname = "phone0"\nurl = "http://127.0.0.1:8080"\nusername = "sms"\n'


# The config tests' fixture that writes a config file, and their helper that loads one expecting a ConfigError.
write = test_config.write
error_of = test_config.error_of


def test_a_phone_with_an_inline_password(write):
    modem = load_config(write(PHONE + f'password = "{PASSWORD}"\n')).modems[0]
    assert (modem.name, modem.url, modem.username, modem.password, modem.port) == \
        ("phone0", "http://127.0.0.1:8080", "sms", PASSWORD, "")
    assert modem.is_phone and modem.address == "http://127.0.0.1:8080" and modem.adb_serial is None
    assert PASSWORD not in repr(modem)


def test_a_phone_with_a_password_file_and_adb(write, tmp_path):
    secret = tmp_path / "phone.password"
    secret.write_text(PASSWORD + "\n")
    secret.chmod(0o600)
    modem = load_config(write(PHONE + f'password_file = "{secret}"\nadb_serial = "R58M123ABC"\n')).modems[0]
    assert (modem.password, modem.password_file, modem.adb_serial) == (PASSWORD, secret, "R58M123ABC")


def test_a_group_readable_password_file_is_refused(write, tmp_path):
    secret = tmp_path / "phone.password"
    secret.write_text(PASSWORD)
    secret.chmod(0o640)
    err = error_of(write(PHONE + f'password_file = "{secret}"\n'))
    assert err.path == "modems[0].password_file" and "chmod 600" in err.problem


def test_an_inline_password_needs_a_private_config_file(write):
    err = error_of(write(PHONE + f'password = "{PASSWORD}"\n', mode=0o644))
    assert err.path == "modems[0].password" and "others cannot read" in err.problem
    assert PASSWORD not in str(err)


def test_an_at_modem_and_a_phone_side_by_side(write):
    config = load_config(write('[[modems]]\nport = "/dev/ttyUSB2"\n' + PHONE + f'password = "{PASSWORD}"\n'))
    assert [(m.name, m.is_phone) for m in config.modems] == [("modem0", False), ("phone0", True)]


@pytest.mark.parametrize("text,key,problem", [
    (PHONE + f'password = "{PASSWORD}"\nport = "/dev/ttyUSB0"\n', "modems[0].url", "cannot be combined with port"),
    ('[[modems]]\nname = "p"\nusername = "sms"\n', "modems[0].username", "for phones"),
    ('[[modems]]\nport = "/dev/ttyUSB0"\nadb_serial = "X1"\n', "modems[0].adb_serial", "for phones"),
    (PHONE, "modems[0].password", "required"),
    ('[[modems]]\nurl = "http://127.0.0.1:8080"\npassword = "x"\n', "modems[0].username", "required"),
    (PHONE + f'password = "{PASSWORD}"\npassword_file = "/etc/p"\n', "modems[0].password_file",
     "cannot be combined with password"),
    (PHONE + f'password = "{PASSWORD}"\npin = "1234"\n', "modems[0].pin", "for AT modems"),
    (PHONE + f'password = "{PASSWORD}"\nbaud = 9600\n', "modems[0].baud", "for AT modems"),
    (PHONE.replace("http://127.0.0.1:8080", "ftp://phone:21") + f'password = "{PASSWORD}"\n', "modems[0].url",
     "http://HOST:PORT"),
    (PHONE.replace("127.0.0.1:8080", "127.0.0.1") + f'password = "{PASSWORD}"\n', "modems[0].url",
     "must name the port"),
    (PHONE.replace("8080", "80x") + f'password = "{PASSWORD}"\n', "modems[0].url", "not a number"),
    (PHONE + f'password = "{PASSWORD}"\nadb_serial = "a b"\n', "modems[0].adb_serial", "adb devices"),
    (PHONE + f'password = "{PASSWORD}"\n' + PHONE.replace("phone0", "phone1") + 'password = "y"\n',
     "modems[1].url", "already the url of modems[0]"),
])
def test_phone_errors_name_their_key(write, text, key, problem):
    err = error_of(write(text, mode=0o600))
    assert err.path == key and problem in err.problem, str(err)
    assert PASSWORD not in str(err)
