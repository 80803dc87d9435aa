"""Config loading: the shipped example, every validation error naming its key, secrets kept out of errors and
reprs, command-line overrides, reloads. Fast: files in tmp_path, no daemon."""

from __future__ import annotations

import base64
import os
import re
from dataclasses import replace
from pathlib import Path

import pytest

from modemd.config import reader
from modemd.config.loader import (EVENTS, KEYS, AuthConfig, Config, ConfigError, ModemConfig, QueueConfig, ServerConfig,
                                  apply_cli_overrides, load_config, reloaded, restart_required)
from modemd.services.otp import OtpSettings

EXAMPLE = Path(__file__).resolve().parent.parent / "modemd.example.toml"
MODEM = '[[modems]]\nport = "/dev/ttyUSB2"\n'
PIN = "80468024"
TOKEN = "tok-3f9c2a7be1d04c55aa61"
SECRET = "whsec-7d1e0b6a2c9f4e38"
HOOK = '[[webhooks]]\nurl = "http://127.0.0.1/x"\nevents = ["sms:sent"]\n'
KEY = bytes(range(200, 232))                                  # 32 bytes, not UTF-8: only base64 carries them
WHSEC = "whsec_" + base64.b64encode(KEY).decode()


@pytest.fixture
def write(tmp_path):
    def write(text: str, mode: int = 0o640, name: str = "modemd.toml") -> Path:
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        path.chmod(mode)
        return path
    return write


def error_of(path: Path) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load_config(path)
    return info.value


# ------------------------------------------------------------------------------------------------ the example

def test_example_loads_with_the_defaults():
    config = load_config(EXAMPLE)
    assert config.server == ServerConfig()
    assert config.auth == AuthConfig()
    assert config.otp == OtpSettings()
    assert config.queue == QueueConfig()
    assert config.modems == (ModemConfig(name="modem0", port="/dev/serial/by-id/usb-Quectel_EC25-if02-port0"),)
    assert config.webhooks == () and config.simulate is False and config.warnings == ()


def test_example_commented_defaults_are_the_real_defaults(write):
    """`#key = value` (no space) promises the default: uncommenting every such line must change nothing."""
    text = EXAMPLE.read_text(encoding="utf-8")
    uncommented = re.sub(r"(?m)^#(?=[a-z_]+ = )", "", text)
    assert uncommented.count("\n") == text.count("\n") and uncommented != text
    assert load_config(write(uncommented)) == replace(load_config(EXAMPLE), source=write(uncommented))


def test_example_documents_every_key():
    text = EXAMPLE.read_text(encoding="utf-8")
    for table, keys in KEYS.items():
        for key in keys:
            pattern = rf"(?m)^(#|# )?\[*{key}\]*( = |$)" if table == "" else rf"(?m)^(#|(# )+)?{key} = "
            assert re.search(pattern, text), f"{table}.{key} is not in the example config"


def test_every_key_of_the_schema_is_looked_up(write, monkeypatch):
    """KEYS comes from the config dataclasses' fields, so a field added to one is a key the file may hold: the reader
    must look each one up, or the setting would be accepted and ignored. Every table read once, nearly empty."""
    looked_up: dict[str, set[str]] = {}

    class Recording(dict):
        def __init__(self, data: dict, table: str):
            super().__init__(data)
            self.seen = looked_up.setdefault(table, set())

        def __contains__(self, key):
            self.seen.add(key)
            return super().__contains__(key)

        def __getitem__(self, key):
            self.seen.add(key)
            return super().__getitem__(key)

    real_init = reader.Table.__init__

    def recording_init(self, data, path, allowed, ctx):
        real_init(self, Recording(data, re.sub(r"\[\d+\]\Z", "", path)), path, allowed, ctx)
    monkeypatch.setattr(reader.Table, "__init__", recording_init)
    load_config(write(f'{MODEM}[[apps]]\nname = "shop"\ntokens = ["{TOKEN}"]\n'
                      f'[[webhooks]]\nurl = "http://127.0.0.1:9000/x"\nevents = ["sms:sent"]\nsecret = "{SECRET}"\n'
                      f'[[routes]]\nmodem = "modem0"\n'))
    never = {f"{table}.{key}" for table, keys in KEYS.items() for key in keys if key not in looked_up.get(table, ())}
    assert never == set()


def test_example_webhook_block_is_valid_once_uncommented(write, tmp_path):
    text = EXAMPLE.read_text(encoding="utf-8")
    block = text[text.index("# [[webhooks]]"):]
    secret = tmp_path / "webhook-secret"
    secret.write_text(SECRET + "\n")
    secret.chmod(0o600)
    body = re.sub(r"(?m)^# ", "", block).replace("/etc/modemd/webhook-secret", str(secret))
    (hook,) = load_config(write(MODEM + body)).webhooks
    assert hook.events == {"sms:received", "sms:delivered", "sms:failed"} and hook.secret == SECRET.encode()
    assert not hook.full_numbers and hook.timeout == 10.0 and hook.signatures == ("modemd", "standard")


# ------------------------------------------------------------------------------------- errors naming the key

ERRORS = [
    # (file text, key path, words of the message)
    ("[otp]\nlenght = 8\n", "otp.lenght", 'unknown key; did you mean "length"?'),
    ("[server]\nlisten_adress = \"127.0.0.1:1\"\n", "server.listen_adress", "unknown key"),
    ("[otps]\nlength = 8\n", "otps", 'did you mean "otp"?'),
    (MODEM + "bauds = 9600\n", "modems[0].bauds", 'did you mean "baud"?'),
    ("[[modem]]\nport = \"/dev/ttyUSB0\"\n", "modem", 'did you mean "modems"?'),
    (MODEM + "[[modems]]\nport = \"/dev/ttyUSB3\"\nbaud = 11520\n", "modems[1].baud",
     "must be one of 1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200, 230400, 460800, 921600, got 11520"),
    (MODEM + "baud = \"9600\"\n", "modems[0].baud", 'got "9600"'),
    ('[otp]\nlength = "6"\n', "otp.length", 'must be an integer from 4 to 10, got "6"'),
    ("[otp]\nlength = 12\n", "otp.length", "must be an integer from 4 to 10, got 12"),
    ("[otp]\nttl = 30\n", "otp.ttl", "must be an integer from 60 to 3600, got 30"),
    ("[otp]\nmax_attempts = 0\n", "otp.max_attempts", "from 1 to 10"),
    ("[otp]\nsends_window = 0\n", "otp.sends_window", "must be a number > 0, got 0"),
    ("[otp]\nresend_gap = true\n", "otp.resend_gap", "must be a number >= 0, got true"),
    ("[otp]\ntemplate = \"Your code is ready\"\n", "otp.template", "must contain {code}"),
    ("[otp]\ntemplate = \"{code} {user}\"\n", "otp.template", "only {code}, {app} and {minutes}"),
    ("[otp]\ntemplate = \"{code} ist dein Code 🔑\"\n", "otp.template", "one GSM-7 SMS part"),
    ("[otp]\nallowed_countries = [\"DE\", \"XX\"]\n", "otp.allowed_countries[1]", "ISO 3166 region code"),
    ("[server]\ndefault_region = \"UK\"\n", "server.default_region", 'did you mean "GB"?'),
    ("[server]\nlisten = \"127.0.0.1\"\n", "server.listen", "must be HOST:PORT"),
    ("[server]\nlisten = \"::1:8765\"\n", "server.listen", "in brackets"),
    ("[server]\nlisten = \"127.0.0.1:70000\"\n", "server.listen", "port from 1 to 65535"),
    ("[server]\nlog_level = \"verbose\"\n", "server.log_level", 'one of "trace", "debug"'),
    ("[server]\nstate_dir = \"var/lib/modemd\"\n", "server.state_dir", "absolute path"),
    ("server = 3\n", "server", "must be a table ([server]), got 3"),
    ("[modems]\nport = \"/dev/ttyUSB0\"\n", "modems", "must be an array of tables ([[modems]]), got a table"),
    ("simulate = \"yes\"\n", "simulate", 'must be true or false, got "yes"'),
    ("[[modems]]\nname = \"a\"\n", "modems[0].port", "required"),
    (MODEM + "name = \"Modem 1\"\n", "modems[0].name", "lower-case letters"),
    (MODEM + "[[modems]]\nport = \"/dev/ttyUSB3\"\nname = \"modem0\"\n", "modems[1].name",
     '"modem0" is already the name of modems[0]'),
    (MODEM + "[[modems]]\nport = \"/dev/ttyUSB2\"\n", "modems[1].port", "already the port of modems[0]"),
    ("[[modems]]\nport = \"ttyUSB0\"\n", "modems[0].port", "absolute device path"),
    (MODEM + "smsc = \"01770610000\"\n", "modems[0].smsc", "international number"),
    (MODEM + "per_minute = -1\n", "modems[0].per_minute", ">= 0"),
    (MODEM + f"pin = \"{PIN}\"\npin_file = \"/etc/modemd/pin\"\n", "modems[0].pin_file",
     "cannot be combined with pin"),
    (MODEM + "pin = \"12\"\n", "modems[0].pin", "4 to 8 digits"),
    (MODEM + f"pin = {PIN}\n", "modems[0].pin", "quoted string of 4 to 8 digits, got an integer"),
    ("[queue]\nbackoff_base = 60\nbackoff_cap = 10\n", "queue.backoff_cap", "must be >= backoff_base (60)"),
    ("[queue]\nkeep_sent_text = 1\n", "queue.keep_sent_text", "true or false"),
    ("[auth]\ntokens = [\"short\"]\n", "auth.tokens[0]", "at least 16 characters"),
    ("[auth]\ntoken_files = [\"token\"]\n", "auth.token_files[0]", "absolute path"),
    ("[auth]\ntoken_files = [\"/nonexistent/modemd-token\"]\n", "auth.token_files[0]", "cannot read"),
    (f"[[webhooks]]\nurl = \"ftp://example.org/x\"\nevents = [\"sms:sent\"]\nsecret = \"{SECRET}\"\n",
     "webhooks[0].url", "http:// or https://"),
    (f"[[webhooks]]\nurl = \"http://user:pw@127.0.0.1/x\"\nevents = [\"sms:sent\"]\nsecret = \"{SECRET}\"\n",
     "webhooks[0].url", "user:password"),
    (f"[[webhooks]]\nurl = \"https:///x\"\nevents = [\"sms:sent\"]\nsecret = \"{SECRET}\"\n",
     "webhooks[0].url", "must name a host"),
    (f"[[webhooks]]\nurl = \"http://127.0.0.1/x\"\nevents = [\"sms:sent\", \"sms:recieved\"]\nsecret = \"{SECRET}\"\n",
     "webhooks[0].events[1]", 'unknown event; did you mean "sms:received"?'),
    (f"[[webhooks]]\nurl = \"http://127.0.0.1/x\"\nevents = []\nsecret = \"{SECRET}\"\n",
     "webhooks[0].events", "required"),
    ("[[webhooks]]\nurl = \"http://127.0.0.1/x\"\nevents = [\"sms:sent\"]\n", "webhooks[0].secret", "required"),
    ("[[webhooks]]\nurl = \"http://127.0.0.1/x\"\nevents = [\"sms:sent\"]\nsecret = \"tooshort\"\n",
     "webhooks[0].secret", "at least 16 bytes"),
    (f"[[webhooks]]\nurl = \"http://127.0.0.1/x\"\nevents = [\"sms:sent\"]\nsecret = \"{SECRET}\"\ntimeout = 0\n",
     "webhooks[0].timeout", "> 0"),
    (f'{HOOK}secret = "{SECRET}"\nsignatures = ["modemd", "stnadard"]\n', "webhooks[0].signatures[1]",
     'unknown signature scheme; did you mean "standard"?'),
    (f'{HOOK}secret = "{SECRET}"\nsignatures = ["hmac"]\n', "webhooks[0].signatures[0]",
     'unknown signature scheme; expected one of: modemd, standard'),
    (f'{HOOK}secret = "{SECRET}"\nsignatures = []\n', "webhooks[0].signatures",
     "required: a non-empty array of modemd, standard"),
    (f'{HOOK}secret = "{SECRET}"\nsignatures = "standard"\n', "webhooks[0].signatures", "must be an array of strings"),
    (f'{HOOK}secret = "{SECRET}"\nsignature = "standard"\n', "webhooks[0].signature",
     'unknown key; did you mean "signatures"?'),
    ('[database]\nurl = "mysql://db/modemd"\n', "database.url", "must be a postgresql:// URL"),
    ('[database]\nurl = "postgresql://db:port/modemd"\n', "database.url", "is not a URL"),
    ('[database]\nurl = "postgresql://db/modemd"\nnode = "rack 1"\n', "database.node", "letters, digits"),
    ('[database]\nurl = "postgresql://db/modemd"\nlease = 1\n', "database.lease", ">= 3"),
    ('[database]\npassword_file = "/etc/modemd/db-password"\n', "database.password_file", "is for a PostgreSQL url"),
    ('[database]\nurl = "postgresql://db/modemd"\npassword_file = "/nonexistent/db-password"\n',
     "database.password_file", "cannot read"),
    ('[database]\nurl = "postgresql://db/modemd"\nhost = "db"\n', "database.host", "unknown key"),
]


@pytest.mark.parametrize("text,key,words", ERRORS, ids=[e[1] + ":" + e[2][:30] for e in ERRORS])
def test_error_names_the_key_and_the_problem(write, text, key, words):
    path = write(text)
    err = error_of(path)
    assert err.path == key
    assert words in err.problem
    assert str(err) == f"{path}: {key}: {err.problem}"
    assert isinstance(err, ValueError)


def test_the_database_is_sqlite_unless_a_postgresql_url_is_given(write, tmp_path, monkeypatch):
    import socket
    assert load_config(write(MODEM)).database.url is None
    assert load_config(write(MODEM)).database.node == socket.gethostname()
    password = tmp_path / "db-password"
    password.write_text("s3cret-db-password\n")
    password.chmod(0o600)
    config = load_config(write(MODEM + f'[database]\nurl = "postgresql://modemd@db.example.org:5432/modemd"\n'
                                       f'node = "rack-1"\npassword_file = "{password}"\nlease = 12\n'))
    db = config.database
    assert (db.url, db.node, db.password, db.lease) == ("postgresql://modemd@db.example.org:5432/modemd", "rack-1",
                                                        "s3cret-db-password", 12.0)
    assert "s3cret" not in repr(config)
    credentials = tmp_path / "credentials"
    credentials.mkdir()
    (credentials / "modemd-db-password").write_text("from-the-credential\n")
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(credentials))
    config = load_config(write(MODEM + '[database]\nurl = "postgresql://modemd@db/modemd"\n'))
    assert config.database.password == "from-the-credential"


def test_world_readable_config_with_a_pin_is_refused(write):
    err = error_of(write(MODEM + f'pin = "{PIN}"\n', mode=0o644))
    assert err.path == "modems[0].pin" and "others cannot read" in err.problem
    assert load_config(write(MODEM + f'pin = "{PIN}"\n', mode=0o640)).modems[0].pin == PIN


@pytest.mark.parametrize("text,key", [
    (f'[auth]\ntokens = ["{TOKEN}"]\n', "auth.tokens"),
    (f'{MODEM}[[webhooks]]\nurl = "http://127.0.0.1/x"\nevents = ["sms:sent"]\nsecret = "{SECRET}"\n',
     "webhooks[0].secret"),
    ('[database]\nurl = "postgresql://modemd:hunter2hunter2@db/modemd"\n', "database.url"),
])
def test_world_readable_config_with_other_inline_secrets_is_refused(write, text, key):
    assert error_of(write(text, mode=0o644)).path == key


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o660])
def test_secret_files_accessible_to_others_are_refused(write, tmp_path, mode):
    pin = write(PIN + "\n", mode=mode, name="pin")
    err = error_of(write(MODEM + f'pin_file = "{pin}"\n'))
    assert err.path == "modems[0].pin_file" and "chmod 600" in err.problem and f"{mode:04o}" in err.problem


def test_secret_files_are_read_at_load(write):
    pin = write(PIN + "\n", mode=0o600, name="pin")
    token = write(TOKEN + "\n", mode=0o400, name="token")
    secret = write(SECRET, mode=0o600, name="hook")
    config = load_config(write(
        MODEM + f'pin_file = "{pin}"\n[auth]\ntokens = ["{TOKEN}x"]\ntoken_files = ["{token}"]\n'
        f'[[webhooks]]\nurl = "https://hooks.example.org/sms"\nevents = ["sms:received"]\nsecret_file = "{secret}"\n'))
    assert config.modems[0].pin == PIN and config.modems[0].pin_file == pin
    assert config.auth.tokens == (TOKEN + "x", TOKEN)
    assert config.webhooks[0].secret == SECRET.encode()


@pytest.mark.parametrize("content,words", [("12ab", "4 to 8 digits"), ("", "4 to 8 digits")])
def test_bad_pin_file_content_is_not_echoed(write, content, words):
    pin = write(content, mode=0o600, name="pin")
    err = error_of(write(MODEM + f'pin_file = "{pin}"\n'))
    assert err.path == "modems[0].pin_file" and words in err.problem
    assert content not in str(err) or content == ""


def test_token_file_with_two_tokens_is_refused(write):
    token = write(f"{TOKEN}\n{TOKEN}y\n", mode=0o600, name="token")
    err = error_of(write(f'[auth]\ntoken_files = ["{token}"]\n'))
    assert err.path == "auth.token_files[0]" and "exactly one token" in err.problem and TOKEN not in str(err)


# ------------------------------------------------------------------------- webhook keys and signature schemes

@pytest.mark.parametrize("line,signatures", [
    ("", ("modemd", "standard")),
    ('signatures = ["standard"]\n', ("standard",)),
    ('signatures = ["modemd"]\n', ("modemd",)),
    ('signatures = ["standard", "modemd", "standard"]\n', ("standard", "modemd")),
])
def test_signatures_name_the_schemes_a_webhook_is_signed_in_both_by_default(write, line, signatures):
    (hook,) = load_config(write(f'{MODEM}{HOOK}secret = "{SECRET}"\n{line}')).webhooks
    assert hook.signatures == signatures


@pytest.mark.parametrize("secret", [WHSEC, WHSEC.rstrip("="), "whsec_" + base64.b64encode(KEY[:16]).decode()])
def test_a_whsec_secret_signs_with_the_bytes_its_base64_decodes_to(write, secret):
    (hook,) = load_config(write(f'{MODEM}{HOOK}secret = "{secret}"\n')).webhooks
    assert hook.secret == base64.b64decode(secret.removeprefix("whsec_") + "==")


def test_a_whsec_secret_file_is_decoded_too(write):
    path = write(WHSEC + "\n", mode=0o600, name="hook")
    (hook,) = load_config(write(f'{MODEM}{HOOK}secret_file = "{path}"\n')).webhooks
    assert hook.secret == KEY and hook.secret_file == path


def test_any_other_secret_signs_with_its_own_utf8_bytes(write):
    for secret in (SECRET, "whsec-but-not-the-prefix-0123", "Whsec_ZZZZZZZZZZZZZZZZZZZZZZZZ", "sécret-élevé-0123"):
        (hook,) = load_config(write(f'{MODEM}{HOOK}secret = "{secret}"\n')).webhooks
        assert hook.secret == secret.encode("utf-8")


@pytest.mark.parametrize("secret,words", [
    ("whsec_" + base64.urlsafe_b64encode(KEY).decode(), "must be base64 after the prefix"),   # - and _
    ("whsec_" + base64.b64encode(KEY).decode()[:-2] + "*=", "must be base64 after the prefix"),
    ("whsec_" + base64.b64encode(KEY).decode()[:5], "must be base64 after the prefix"),      # 5 characters: no
    ("whsec_" + base64.b64encode(KEY).decode() + "A", "must be base64 after the prefix"),     # length 4n+1
    ("whsec_Zm9v" + "=" + base64.b64encode(KEY).decode(), "must be base64 after the prefix"),  # = inside
    ("whsec_" + base64.b64encode(KEY[:15]).decode(), "must decode to at least 16 bytes"),
    ("whsec_", "must decode to at least 16 bytes"),
])
def test_a_bad_whsec_secret_is_refused_without_being_echoed(write, secret, words):
    for where in ("inline", "file"):
        if where == "inline":
            text, key = f'{MODEM}{HOOK}secret = "{secret}"\n', "webhooks[0].secret"
        else:
            path = write(secret + "\n", mode=0o600, name="hook")
            text, key = f'{MODEM}{HOOK}secret_file = "{path}"\n', "webhooks[0].secret_file"
        err = error_of(write(text))
        assert (err.path, words in err.problem) == (key, True)
        encoded = secret.removeprefix("whsec_")
        assert encoded[:8] not in str(err) or not encoded


# --------------------------------------------------------------------------------------- secrets stay secret

def test_secrets_are_not_in_repr(write):
    config = load_config(write(
        MODEM + f'pin = "{PIN}"\n[auth]\ntokens = ["{TOKEN}"]\n'
        f'[[webhooks]]\nurl = "http://127.0.0.1/x"\nevents = ["sms:sent"]\nsecret = "{SECRET}"\n'))
    for text in (repr(config), str(config)):
        assert PIN not in text and TOKEN not in text and SECRET not in text
    assert "/dev/ttyUSB2" in repr(config)


@pytest.mark.parametrize("text", [
    MODEM + f'pin = "{PIN[:3]}"\n',
    MODEM + 'pin = "12345678901"\n',
    MODEM + f'pin = ["{PIN}"]\n',
    MODEM + f'pin = "{PIN}"\npin_file = "/x"\n',
    f'[auth]\ntokens = ["{TOKEN[:10]}"]\n',
    f'[auth]\ntokens = "{TOKEN}"\n',
    f'[auth]\ntokens = ["{TOKEN} x"]\n',
    f'[[webhooks]]\nurl = "http://127.0.0.1/x"\nevents = ["sms:sent"]\nsecret = "{SECRET[:10]}"\n',
    f'[[webhooks]]\nurl = "http://127.0.0.1/x"\nevents = ["sms:sent"]\nsecret = "{SECRET}"\nsecret_file = "/x"\n',
    f'[[webhooks]]\nurl = "ftp://127.0.0.1/{SECRET}"\nevents = ["sms:sent"]\nsecret = "{SECRET}"\n',
])
def test_secrets_are_not_in_errors(write, text):
    err = error_of(write(text))
    for secret in (PIN, PIN[:3], "12345678901", TOKEN, TOKEN[:10], SECRET, SECRET[:10]):
        assert secret not in str(err) and secret not in repr(err)


# ------------------------------------------------------------------------------------------- file problems

def test_toml_syntax_error_reports_line_and_column(write):
    path = write('[server]\nlisten = "127.0.0.1:8765"\nlog_level = \n')
    err = error_of(path)
    assert (err.line, err.column) == (3, 13)
    assert "not valid TOML" in str(err) and "line 3, column 13" in str(err) and str(path) in str(err)


def test_missing_explicit_file_is_an_error(tmp_path):
    with pytest.raises(ConfigError, match="no such file") as info:
        load_config(tmp_path / "nope.toml")
    assert info.value.file == tmp_path / "nope.toml"


def test_missing_default_file_and_no_flags_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("CONFIGURATION_DIRECTORY", str(tmp_path))
    config = load_config(None)
    assert config == Config()
    with pytest.raises(ConfigError) as info:
        apply_cli_overrides(config)
    assert info.value.path == "modems"
    assert "no config file" in str(info.value) and "--port" in str(info.value) and "--simulate" in str(info.value)


def test_default_file_comes_from_configuration_directory(tmp_path, monkeypatch, write):
    write(MODEM)
    monkeypatch.setenv("CONFIGURATION_DIRECTORY", str(tmp_path))
    assert load_config(None).modems[0].port == "/dev/ttyUSB2"


def test_file_without_modems_needs_a_port_or_simulate(write):
    path = write("[otp]\nlength = 8\n")
    with pytest.raises(ConfigError, match="no modem configured"):
        apply_cli_overrides(load_config(path))
    assert apply_cli_overrides(load_config(write("simulate = true\n", name="sim.toml"))).simulate
    assert apply_cli_overrides(load_config(path), simulate=True).otp.length == 8


def test_not_utf8_is_an_error(tmp_path):
    path = tmp_path / "modemd.toml"
    path.write_bytes(b"[otp]\napp = \"\xff\"\n")
    assert "not UTF-8" in error_of(path).problem


def test_warnings_for_exposed_listen_and_plain_http_webhook(write):
    config = load_config(write(
        '[server]\nlisten = "0.0.0.0:8765"\n'
        f'[[webhooks]]\nurl = "http://hooks.example.org/x"\nevents = ["sms:sent"]\nsecret = "{SECRET}"\n'))
    assert [w.split(":")[0] for w in config.warnings] == ["server.listen", "webhooks[0].url"]


def test_values_are_converted(write):
    config = load_config(write(
        '[server]\nlisten = "[::1]:9000"\ndefault_region = "gb"\nunix_socket = "/run/modemd/api.sock"\n'
        '[otp]\nallowed_countries = ["de", "AT"]\nsends_window = 60\n'
        f'{MODEM}baud = 9600\nrtscts = true\nper_minute = 6\nsmsc = "+491770610000"\nname = "eg25-a"\n'))
    assert config.server.listen == "[::1]:9000" and config.server.listen_host == "::1"
    assert config.server.default_region == "GB" and config.server.unix_socket == Path("/run/modemd/api.sock")
    assert config.otp.allowed_countries == frozenset({"DE", "AT"}) and config.otp.sends_window == 60.0
    modem = config.modems[0]
    assert (modem.name, modem.baud, modem.rtscts, modem.pacing.interval) == ("eg25-a", 9600, True, 10.0)
    assert set(EVENTS) == {"sms:received", "sms:sent", "sms:delivered", "sms:failed", "sms:expired"}


def test_config_is_frozen(write):
    config = load_config(write(MODEM))
    with pytest.raises(AttributeError):
        config.simulate = True


# ---------------------------------------------------------------------------------------- command-line flags

def test_flags_override_the_file(write, tmp_path):
    pin = write(PIN, mode=0o600, name="pin")
    config = load_config(write('[server]\nlisten = "127.0.0.1:1111"\nstate_dir = "/var/lib/modemd"\n'
                               '[[modems]]\nname = "main"\nport = "/dev/ttyUSB2"\nsmsc = "+491770610000"\n'
                               '[[modems]]\nport = "/dev/ttyUSB5"\n'))
    out = apply_cli_overrides(config, ports=["/dev/ttyACM0", "/dev/ttyUSB2"], listen="127.0.0.1:2222",
                              state_dir=tmp_path, baud=9600, rtscts=True, pin_file=pin, log_level="debug")
    assert out.server.listen == "127.0.0.1:2222" and out.server.state_dir == tmp_path
    assert out.server.log_level == "debug"
    assert [(m.name, m.port, m.baud, m.rtscts, m.pin) for m in out.modems] == [
        ("modem0", "/dev/ttyACM0", 9600, True, PIN), ("main", "/dev/ttyUSB2", 9600, True, PIN)]
    assert out.modems[1].smsc == "+491770610000"     # a port the file knows keeps its settings


def test_no_flags_change_nothing(write):
    config = load_config(write(MODEM + 'baud = 9600\n[server]\nlisten = "127.0.0.1:1111"\n'))
    assert apply_cli_overrides(config) == config


def test_flags_alone_work_without_a_file(tmp_path, monkeypatch):
    monkeypatch.setenv("CONFIGURATION_DIRECTORY", str(tmp_path))
    out = apply_cli_overrides(load_config(None), ports=["/dev/ttyUSB0"], pin="1234")
    assert out.modems == (ModemConfig(name="modem0", port="/dev/ttyUSB0", pin="1234"),)
    assert out.source is None


def test_generated_names_do_not_clash_with_kept_ones(write):
    config = load_config(write('[[modems]]\nname = "modem0"\nport = "/dev/ttyUSB9"\n'))
    out = apply_cli_overrides(config, ports=["/dev/ttyUSB1", "/dev/ttyUSB9"])
    assert [m.name for m in out.modems] == ["modem1", "modem0"]


@pytest.mark.parametrize("flags,key", [
    ({"baud": 11520}, "--baud"), ({"listen": "localhost"}, "--listen"), ({"pin": "12"}, "--pin"),
    ({"ports": ["/dev/a", "/dev/a"]}, "--port"), ({"log_level": "loud"}, "--log-level"),
])
def test_bad_flags_name_the_flag(write, flags, key):
    with pytest.raises(ConfigError) as info:
        apply_cli_overrides(load_config(write(MODEM)), **flags)
    assert info.value.path == key and "12" not in str(info.value).replace("1200", "")


def test_world_readable_pin_file_flag_is_refused(write):
    pin = write(PIN, mode=0o644, name="pin")
    with pytest.raises(ConfigError) as info:
        apply_cli_overrides(load_config(write(MODEM)), pin_file=pin)
    assert info.value.path == "--pin-file" and PIN not in str(info.value)


# --------------------------------------------------------------------------------------------------- reloads

def test_reload_applies_tokens_and_limits_but_keeps_modems_and_listen(write):
    running = load_config(write(MODEM + '[otp]\nlength = 6\n'))
    new = load_config(write(f'[[modems]]\nport = "/dev/ttyUSB7"\n[server]\nlisten = "127.0.0.1:9999"\n'
                            f'log_level = "debug"\n[otp]\nlength = 8\n[auth]\ntokens = ["{TOKEN}"]\n',
                            name="new.toml"))
    assert restart_required(running, new) == ("server.listen", "modems")
    applied, kept = reloaded(running, new)
    assert kept == ("server.listen", "modems")
    assert applied.otp.length == 8 and applied.auth.tokens == (TOKEN,) and applied.server.log_level == "debug"
    assert applied.modems == running.modems and applied.server.listen == running.server.listen
    assert restart_required(running, running) == ()
