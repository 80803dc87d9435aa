"""TOML -> frozen, validated config objects, with an error that names the key path and the problem.

`/etc/modemd/modemd.toml` (or `$CONFIGURATION_DIRECTORY/modemd.toml` under systemd's ConfigurationDirectory=) is
read with tomllib and checked whole before anything starts: an unknown key is an error with a "did you mean" (a
typo such as `lenght = 8` must not be silently ignored), every value is type- and range-checked, and secret files
are read at load. `modemd.example.toml` in the repository documents every key and its default.

Secrets (SIM PINs, API tokens, webhook secrets) never appear in an error message or a repr: messages say what is
wrong with them, never what they are, and their fields are `repr=False`.

Command-line flags override the file (`apply_cli_overrides`), so `modemd run --port PATH` works without any file.
The OTP and retry settings are the very objects the services take (`otp.OtpSettings`, `outbox.RetryPolicy`), so
there is no second copy of their fields to drift; the template is checked by `otp.check_template` itself.
"""

from __future__ import annotations

import difflib
import ipaddress
import json
import os
import re
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable
from urllib.parse import urlsplit

import phonenumbers

from .otp import OtpError, OtpSettings, check_template
from .outbox import Pacing, RetryPolicy

DEFAULT_PATH = Path("/etc/modemd/modemd.toml")
BAUD_RATES = (1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200, 230400, 460800, 921600)
LOG_LEVELS = ("trace", "debug", "info", "warning", "error")
EVENTS = ("sms:received", "sms:sent", "sms:delivered", "sms:failed", "sms:expired")
MIN_SECRET = 16   # bytes; a shorter HMAC key or bearer token is guessable
_NAME = re.compile(r"[a-z0-9_-]+\Z")
_PIN = re.compile(r"[0-9]{4,8}\Z")                 # TS 31.102: a PIN is 4 to 8 decimal digits
_E164 = re.compile(r"\+[1-9][0-9]{5,14}\Z")        # ITU-T E.164: at most 15 digits
_HOST = re.compile(r"[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?\Z")
_REGION_MISTAKES = {"UK": "GB", "EL": "GR"}        # common codes that are not ISO 3166-1

# Every key the file may hold, per table. The example config documents each one (a test checks it).
KEYS: dict[str, tuple[str, ...]] = {
    "": ("simulate", "server", "auth", "modems", "otp", "queue", "webhooks"),
    "server": ("listen", "unix_socket", "state_dir", "default_region", "log_level"),
    "auth": ("tokens", "token_files"),
    "modems": ("name", "port", "baud", "rtscts", "pin", "pin_file", "smsc", "per_minute", "registration_timeout"),
    "otp": ("app", "length", "ttl", "max_attempts", "template", "sends_per_number", "sends_window", "resend_gap",
            "sends_per_token", "sends_per_token_window", "verifies_per_number", "verifies_window",
            "daily_per_country", "allowed_countries", "lock_after_failures"),
    "queue": ("max_attempts", "backoff_base", "backoff_factor", "backoff_cap", "max_ambiguous", "device_pause",
              "keep_sent_text"),
    "webhooks": ("url", "events", "secret", "secret_file", "full_numbers", "timeout"),
}
# What a SIGHUP may change in a running daemon; everything else (the modems, where it listens, where it keeps
# state) needs a restart, because changing it means closing ports or sockets the queue is working through.
RESTART_KEYS = ("simulate", "server.listen", "server.unix_socket", "server.state_dir", "modems")


class ConfigError(ValueError):
    """`path` is the key path (`modems[1].baud`, `--port`, or "" for the file as a whole)."""

    def __init__(self, path: str, problem: str, *, file: Path | None = None, line: int | None = None,
                 column: int | None = None):
        super().__init__(path, problem)
        self.path, self.problem, self.file, self.line, self.column = path, problem, file, line, column

    def __str__(self) -> str:
        where = f"{self.path}: " if self.path else ""
        return f"{self.file}: {where}{self.problem}" if self.file else f"{where}{self.problem}"


@dataclass(frozen=True)
class ServerConfig:
    listen_host: str = "127.0.0.1"
    listen_port: int = 8765
    unix_socket: Path | None = None
    state_dir: Path | None = None        # None: the daemon's default ($STATE_DIRECTORY, else the XDG state dir)
    default_region: str | None = None    # None: numbers must be international (+...)
    log_level: str = "info"

    @property
    def listen(self) -> str:
        host = f"[{self.listen_host}]" if ":" in self.listen_host else self.listen_host
        return f"{host}:{self.listen_port}"


@dataclass(frozen=True)
class AuthConfig:
    tokens: tuple[str, ...] = field(default=(), repr=False)   # inline ones and those read from token_files
    token_files: tuple[Path, ...] = ()


@dataclass(frozen=True)
class ModemConfig:
    name: str
    port: str
    baud: int = 115200
    rtscts: bool = False
    pin: str | None = field(default=None, repr=False)
    pin_file: Path | None = None
    smsc: str | None = None
    per_minute: float = 0.0
    registration_timeout: float = 60.0

    @property
    def pacing(self) -> Pacing:
        return Pacing(self.per_minute)


@dataclass(frozen=True)
class QueueConfig:
    retry: RetryPolicy = RetryPolicy()
    keep_sent_text: bool = True          # OTP texts are purged when sent whatever this says


@dataclass(frozen=True)
class WebhookConfig:
    url: str
    events: frozenset[str]
    secret: bytes = field(repr=False)
    secret_file: Path | None = None
    full_numbers: bool = False
    timeout: float = 10.0


@dataclass(frozen=True)
class Config:
    source: Path | None = None           # the file read; None when there was none
    simulate: bool = False
    server: ServerConfig = ServerConfig()
    auth: AuthConfig = AuthConfig()
    modems: tuple[ModemConfig, ...] = ()
    otp: OtpSettings = OtpSettings()
    queue: QueueConfig = QueueConfig()
    webhooks: tuple[WebhookConfig, ...] = ()
    warnings: tuple[str, ...] = field(default=(), compare=False)   # worth logging, not worth refusing to start


# ---------------------------------------------------------------------------------------------------- loading

def default_path() -> Path:
    """systemd's ConfigurationDirectory= sets $CONFIGURATION_DIRECTORY; otherwise /etc/modemd."""
    conf_dir = os.environ.get("CONFIGURATION_DIRECTORY")
    return Path(conf_dir.split(":")[0]) / "modemd.toml" if conf_dir else DEFAULT_PATH


def load_config(path: Path | None = None) -> Config:
    """Read and validate a config file. With path=None a missing default file is no error: an empty Config comes
    back and the command line must name the modems (apply_cli_overrides checks that). Raises ConfigError."""
    if path is None:
        path = default_path()
        if not path.exists():
            return Config()
    try:
        text, mode = _read_text(path)
        data = _parse_toml(text)
        return _build(data, path, world_readable=bool(mode & 0o004))
    except ConfigError as exc:
        exc.file = path
        raise


def _read_text(path: Path) -> tuple[str, int]:
    try:
        with open(path, "rb") as f:
            mode, raw = os.fstat(f.fileno()).st_mode, f.read()
    except FileNotFoundError:
        raise ConfigError("", "no such file") from None
    except OSError as exc:
        raise ConfigError("", f"cannot read it: {exc.strerror}") from None
    try:
        return raw.decode("utf-8"), mode
    except UnicodeDecodeError as exc:
        raise ConfigError("", f"not UTF-8 text (byte {exc.start})") from None


def _parse_toml(text: str) -> dict:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        # tomllib (3.11) puts the position only in the message: "Invalid value (at line 2, column 5)".
        found = re.search(r"at line (\d+), column (\d+)", str(exc))
        line, column = (int(found[1]), int(found[2])) if found else (None, None)
        raise ConfigError("", f"not valid TOML: {exc}", line=line, column=column) from None


class _Context:
    def __init__(self, world_readable: bool):
        self.world_readable = world_readable
        self.warnings: list[str] = []


def _build(data: dict, source: Path | None, *, world_readable: bool = False) -> Config:
    ctx = _Context(world_readable)
    top = _Table(data, "", KEYS[""], ctx)
    config = Config(source=source, simulate=top.boolean("simulate", False),
                    server=_server(top.table("server")), auth=_auth(top.table("auth")),
                    modems=_modems(top), otp=_otp(top.table("otp")), queue=_queue(top.table("queue")),
                    webhooks=_webhooks(top))
    return replace(config, warnings=tuple(ctx.warnings))


# ------------------------------------------------------------------------------------------- typed key reader

class _Table:
    """One TOML table: unknown keys are refused up front; typed getters name the key path in every error."""

    def __init__(self, data: dict, path: str, allowed: tuple[str, ...], ctx: _Context):
        self.data, self.path, self.ctx = data, path, ctx
        for key in data:
            if key not in allowed:
                raise ConfigError(self.key(key), _unknown("key", key, allowed))

    def key(self, name: str) -> str:
        return f"{self.path}.{name}" if self.path else name

    def fail(self, name: str, problem: str) -> None:
        raise ConfigError(self.key(name), problem)

    def get(self, name: str, default: Any, accepts: Callable[[Any], bool], expected: str, *,
            secret: bool = False) -> Any:
        if name not in self.data:
            return default
        value = self.data[name]
        if not accepts(value):
            self.fail(name, f"must be {expected}, got {_show(value, secret)}")
        return value

    def integer(self, name: str, default: int, low: int, high: int | None = None) -> int:
        expected = f"an integer from {low} to {high}" if high is not None else f"an integer >= {low}"
        return self.get(name, default, lambda v: _is_int(v) and low <= v <= (high if high is not None else v),
                        expected)

    def number(self, name: str, default: float, low: float, high: float | None = None, *,
               above: bool = False) -> float:
        """A number of seconds (or per minute); `above` makes `low` exclusive."""
        bound = f"> {_num(low)}" if above else f">= {_num(low)}"
        expected = f"a number {bound}" + (f" and <= {_num(high)}" if high is not None else "")

        def ok(v):
            return _is_number(v) and (v > low if above else v >= low) and (high is None or v <= high)
        return float(self.get(name, default, ok, expected))

    def boolean(self, name: str, default: bool) -> bool:
        return self.get(name, default, lambda v: isinstance(v, bool), "true or false")

    def string(self, name: str, default: str | None, *, secret: bool = False) -> str | None:
        return self.get(name, default, lambda v: isinstance(v, str) and v != "", "a non-empty string",
                        secret=secret)

    def required(self, name: str, hint: str, *, secret: bool = False) -> str:
        value = self.string(name, None, secret=secret)
        if value is None:
            self.fail(name, f"required: {hint}")
        return value

    def choice(self, name: str, default: Any, allowed: tuple) -> Any:
        value = self.get(name, default, lambda v: v in allowed and type(v) is type(allowed[0]),
                         "one of " + ", ".join(_show(a) for a in allowed))
        return value

    def strings(self, name: str, *, secret: bool = False) -> tuple[str, ...]:
        return tuple(self.get(name, [], lambda v: isinstance(v, list) and all(isinstance(s, str) for s in v),
                              "an array of strings", secret=secret))

    def path_value(self, name: str) -> Path | None:
        value = self.string(name, None)
        if value is not None and not value.startswith("/"):
            self.fail(name, f"must be an absolute path, got {_show(value)}")
        return Path(value) if value is not None else None

    def table(self, name: str) -> _Table:
        value = self.get(name, {}, lambda v: isinstance(v, dict), f"a table ([{self.key(name)}])")
        return _Table(value, self.key(name), KEYS[name], self.ctx)

    def tables(self, name: str) -> list[_Table]:
        value = self.get(name, [], lambda v: isinstance(v, list) and all(isinstance(t, dict) for t in v),
                         f"an array of tables ([[{self.key(name)}]])")
        return [_Table(t, f"{self.key(name)}[{i}]", KEYS[name], self.ctx) for i, t in enumerate(value)]

    def inline_secret(self, name: str) -> None:
        """A secret written into the config file itself needs a file other users cannot read."""
        if self.ctx.world_readable:
            self.fail(name, "a secret written in the config file needs a file others cannot read: chmod o-r the "
                            "config file (e.g. 640 root:modemd), or move the secret to a file of its own")


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and v == v   # v == v: not NaN


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


def _show(value: Any, secret: bool = False) -> str:
    """How an offending value appears in an error: TOML-like, short, and never the content of a secret."""
    kinds = {bool: "a boolean", int: "an integer", float: "a number", str: "a string", list: "an array",
             dict: "a table"}
    if secret or isinstance(value, (list, dict)):
        return kinds.get(type(value), "a date/time")
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value if len(value) <= 60 else value[:57] + "...", ensure_ascii=False)
    return "a date/time"


def _unknown(what: str, name: str, allowed: tuple[str, ...]) -> str:
    close = difflib.get_close_matches(name, allowed, n=1, cutoff=0.6)
    if close:
        return f"unknown {what}; did you mean {json.dumps(close[0])}?"
    return f"unknown {what}; expected one of: " + ", ".join(allowed)


def _read_secret_file(key: str, path: Path) -> bytes:
    """A secret file must be readable by modemd alone (0600 or 0400): refuse group- or world-accessible ones."""
    try:
        with open(path, "rb") as f:
            mode, data = os.fstat(f.fileno()).st_mode, f.read()
    except OSError as exc:
        raise ConfigError(key, f"cannot read {path}: {exc.strerror}") from None
    if mode & 0o077:
        raise ConfigError(key, f"{path} is accessible to group or others (mode {mode & 0o777:04o}): chmod 600 it "
                               "and give it to the user modemd runs as, or use a systemd credential")
    return data.strip()


# ------------------------------------------------------------------------------------------------- sections

def _server(t: _Table) -> ServerConfig:
    d = ServerConfig()
    host, port = d.listen_host, d.listen_port
    listen = t.string("listen", None)
    if listen is not None:
        try:
            host, port = parse_listen(listen)
        except ValueError as exc:
            t.fail("listen", f"{exc}, got {_show(listen)}")
    if not _is_loopback(host):
        t.ctx.warnings.append(f"server.listen: {host} is not a loopback address; the API is reachable from the "
                              "network, with bearer tokens sent in clear text")
    region = t.string("default_region", None)
    return ServerConfig(listen_host=host, listen_port=port, unix_socket=t.path_value("unix_socket"),
                        state_dir=t.path_value("state_dir"),
                        default_region=_region(t, "default_region", region) if region else None,
                        log_level=t.choice("log_level", d.log_level, LOG_LEVELS))


def parse_listen(text: str) -> tuple[str, int]:
    """"127.0.0.1:8765", "[::1]:8765", "localhost:8765" -> (host, port). Raises ValueError(reason)."""
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise ValueError("must be HOST:PORT with a port from 1 to 65535")
    bracketed = host.startswith("[") and host.endswith("]")
    host = host[1:-1] if bracketed else host
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        if not _HOST.match(host):
            raise ValueError("must be HOST:PORT with an IP address or a host name") from None
    else:
        if address.version == 6 and not bracketed:
            raise ValueError("must put an IPv6 address in brackets: [::1]:8765")
    return host, int(port)


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def _region(t: _Table, name: str, value: str) -> str:
    """An ISO 3166-1 region phonenumbers knows; lower case is accepted (it is unambiguous)."""
    code = value.upper()
    if code not in phonenumbers.SUPPORTED_REGIONS:
        hint = f"; did you mean {json.dumps(_REGION_MISTAKES[code])}?" if code in _REGION_MISTAKES else ""
        t.fail(name, f"must be an ISO 3166 region code such as \"DE\" or \"GB\", got {_show(value)}{hint}")
    return code


def _auth(t: _Table) -> AuthConfig:
    tokens = t.strings("tokens", secret=True)
    if tokens:
        t.inline_secret("tokens")
    for i, token in enumerate(tokens):
        _check_token(t.key(f"tokens[{i}]"), token)
    files = t.strings("token_files")
    from_files = []
    for i, name in enumerate(files):
        key = t.key(f"token_files[{i}]")
        if not name.startswith("/"):
            raise ConfigError(key, f"must be an absolute path, got {_show(name)}")
        from_files.append(_token_from_file(key, Path(name)))
    return AuthConfig(tokens=tuple(dict.fromkeys(tokens + tuple(from_files))), token_files=tuple(map(Path, files)))


def _token_from_file(key: str, path: Path) -> str:
    try:
        lines = _read_secret_file(key, path).decode("ascii").split()
    except UnicodeDecodeError:
        raise ConfigError(key, f"{path} must hold an ASCII token") from None
    if len(lines) != 1:
        raise ConfigError(key, f"{path} must hold exactly one token, found {len(lines)}")
    _check_token(key, lines[0], source=f"the token in {path}")
    return lines[0]


def _check_token(key: str, token: str, source: str = "the token") -> None:
    if len(token) < MIN_SECRET:
        raise ConfigError(key, f"{source} must be at least {MIN_SECRET} characters (make one: openssl rand -hex 32)")
    if not token.isascii() or not token.isprintable() or any(c.isspace() for c in token):
        raise ConfigError(key, f"{source} must be printable ASCII without spaces (it travels in an HTTP header)")


def _modems(top: _Table) -> tuple[ModemConfig, ...]:
    modems: list[ModemConfig] = []
    for i, t in enumerate(top.tables("modems")):
        modem = _modem(t, f"modem{i}")
        for j, other in enumerate(modems):
            if other.name == modem.name:
                t.fail("name", f"{json.dumps(modem.name)} is already the name of modems[{j}]; names must be unique")
            if other.port == modem.port:
                t.fail("port", f"{json.dumps(modem.port)} is already the port of modems[{j}]")
        modems.append(modem)
    return tuple(modems)


def _modem(t: _Table, default_name: str) -> ModemConfig:
    d = ModemConfig(name="", port="")
    name = t.string("name", default_name)
    if not _NAME.match(name):
        t.fail("name", f"must be lower-case letters, digits, '_' or '-', got {_show(name)}")
    port = t.required("port", "the modem's serial port, e.g. /dev/serial/by-id/usb-Quectel_EC25-if02-port0")
    if not port.startswith("/"):
        t.fail("port", f"must be an absolute device path, got {_show(port)}")
    pin, pin_file = _pin(t)
    smsc = t.string("smsc", None)
    if smsc is not None and not _E164.match(smsc):
        t.fail("smsc", f"must be an international number like \"+491770610000\", got {_show(smsc)}")
    return ModemConfig(name=name, port=port, baud=t.choice("baud", d.baud, BAUD_RATES),
                       rtscts=t.boolean("rtscts", d.rtscts), pin=pin, pin_file=pin_file, smsc=smsc,
                       per_minute=t.number("per_minute", d.per_minute, 0),
                       registration_timeout=t.number("registration_timeout", d.registration_timeout, 1, 3600))


def _pin(t: _Table) -> tuple[str | None, Path | None]:
    if "pin" in t.data and "pin_file" in t.data:
        t.fail("pin_file", "cannot be combined with pin; keep one of them")
    if "pin" in t.data:
        pin = t.get("pin", None, lambda v: isinstance(v, str), "a quoted string of 4 to 8 digits", secret=True)
        t.inline_secret("pin")
        check_pin(t.key("pin"), pin)
        return pin, None
    pin_file = t.path_value("pin_file")
    if pin_file is None:
        return None, None
    return read_pin_file(t.key("pin_file"), pin_file), pin_file


def check_pin(key: str, pin: str, source: str = "the PIN") -> None:
    if not _PIN.match(pin):
        raise ConfigError(key, f"{source} must be 4 to 8 digits")


def read_pin_file(key: str, path: Path) -> str:
    """A PIN file (0600): its digits, checked, or ConfigError naming `key` (never the PIN)."""
    try:
        pin = _read_secret_file(key, path).decode("ascii")
    except UnicodeDecodeError:
        pin = ""
    check_pin(key, pin, source=f"the PIN in {path}")
    return pin


def _otp(t: _Table) -> OtpSettings:
    d = OtpSettings()
    settings = OtpSettings(
        app=t.string("app", d.app), length=t.integer("length", d.length, 4, 10),
        ttl=t.integer("ttl", d.ttl, 60, 3600), max_attempts=t.integer("max_attempts", d.max_attempts, 1, 10),
        template=t.string("template", d.template),
        sends_per_number=t.integer("sends_per_number", d.sends_per_number, 1),
        sends_window=t.number("sends_window", d.sends_window, 0, above=True),
        resend_gap=t.number("resend_gap", d.resend_gap, 0),
        sends_per_token=t.integer("sends_per_token", d.sends_per_token, 1),
        sends_per_token_window=t.number("sends_per_token_window", d.sends_per_token_window, 0, above=True),
        verifies_per_number=t.integer("verifies_per_number", d.verifies_per_number, 1),
        verifies_window=t.number("verifies_window", d.verifies_window, 0, above=True),
        daily_per_country=t.integer("daily_per_country", d.daily_per_country, 1),
        allowed_countries=frozenset(_region(t, f"allowed_countries[{i}]", c)
                                    for i, c in enumerate(t.strings("allowed_countries"))),
        lock_after_failures=t.integer("lock_after_failures", d.lock_after_failures, 1))
    try:
        check_template(settings.template, settings.app, settings.length, settings.ttl)
    except OtpError as exc:
        t.fail("template", exc.reason)
    return settings


def _queue(t: _Table) -> QueueConfig:
    d = RetryPolicy()
    retry = RetryPolicy(base=t.number("backoff_base", d.base, 0, above=True),
                        factor=t.number("backoff_factor", d.factor, 1),
                        cap=t.number("backoff_cap", d.cap, 0, above=True),
                        max_attempts=t.integer("max_attempts", d.max_attempts, 1, 100),
                        max_ambiguous=t.integer("max_ambiguous", d.max_ambiguous, 0, 10),
                        device_pause=t.number("device_pause", d.device_pause, 0))
    if retry.cap < retry.base:
        t.fail("backoff_cap", f"must be >= backoff_base ({_num(retry.base)}), got {_num(retry.cap)}")
    return QueueConfig(retry=retry, keep_sent_text=t.boolean("keep_sent_text", QueueConfig.keep_sent_text))


def _webhooks(top: _Table) -> tuple[WebhookConfig, ...]:
    return tuple(_webhook(t) for t in top.tables("webhooks"))


def _webhook(t: _Table) -> WebhookConfig:
    url = t.required("url", "where to POST events, e.g. \"http://127.0.0.1:9000/sms\"")
    _check_url(t, url)
    events = t.strings("events")
    if not events:
        t.fail("events", "required: a non-empty array of " + ", ".join(EVENTS))
    for i, event in enumerate(events):
        if event not in EVENTS:
            raise ConfigError(t.key(f"events[{i}]"), f"{_show(event)}: " + _unknown("event", event, EVENTS))
    secret, secret_file = _webhook_secret(t)
    return WebhookConfig(url=url, events=frozenset(events), secret=secret, secret_file=secret_file,
                         full_numbers=t.boolean("full_numbers", False), timeout=t.number("timeout", 10.0, 0, 60,
                                                                                          above=True))


def _check_url(t: _Table, url: str) -> None:
    """The URL itself is never echoed: a query string may carry the receiver's own credentials."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        t.fail("url", f"must be an http:// or https:// URL, got a URL with scheme {json.dumps(parts.scheme)}")
    try:
        parts.port
    except ValueError:
        t.fail("url", "has an invalid port")
    if not parts.hostname:
        t.fail("url", "must name a host")
    if parts.username or parts.password:
        t.fail("url", "must not carry user:password; receivers check the X-Modemd-Signature header instead")
    if parts.scheme == "http" and not _is_loopback(parts.hostname):
        t.ctx.warnings.append(f"{t.key('url')}: plain http to a host that is not loopback; events travel "
                              "unencrypted (use https)")


def _webhook_secret(t: _Table) -> tuple[bytes, Path | None]:
    if "secret" in t.data and "secret_file" in t.data:
        t.fail("secret_file", "cannot be combined with secret; keep one of them")
    if "secret" in t.data:
        t.inline_secret("secret")
        secret = t.string("secret", None, secret=True).encode("utf-8")
        key, path = t.key("secret"), None
    elif "secret_file" in t.data:
        path = t.path_value("secret_file")
        key, secret = t.key("secret_file"), _read_secret_file(t.key("secret_file"), path)
    else:
        t.fail("secret", "required: secret or secret_file, the HMAC key receivers verify signatures with")
    if len(secret) < MIN_SECRET:
        raise ConfigError(key, f"the secret must be at least {MIN_SECRET} bytes (make one: openssl rand -hex 32)")
    return secret, path


# --------------------------------------------------------------------------------- command line and reloads

def apply_cli_overrides(config: Config, *, ports: list[str] | tuple[str, ...] = (), state_dir: Path | None = None,
                        listen: str | None = None, simulate: bool = False, baud: int | None = None,
                        rtscts: bool = False, pin: str | None = None, pin_file: Path | None = None,
                        log_level: str | None = None) -> Config:
    """Command-line flags win over the file; a flag left at None/False/() leaves the file's value alone.

    `ports` (repeated --port) replaces the file's modem list: a port the file also lists keeps that modem's name
    and settings, others become modem0, modem1, .... `baud`, `rtscts`, `pin`/`pin_file` apply to every modem
    in the result. `simulate` adds the simulated modem. Finally at least one modem (or simulate) is required: this
    is also what `check-config` runs. Errors name the flag (`--baud: ...`). Raises ConfigError."""
    server = config.server
    if listen is not None:
        try:
            host, port = parse_listen(listen)
        except ValueError as exc:
            raise ConfigError("--listen", f"{exc}, got {_show(listen)}") from None
        server = replace(server, listen_host=host, listen_port=port)
    if state_dir is not None:
        server = replace(server, state_dir=Path(state_dir).absolute())
    if log_level is not None:
        if log_level not in LOG_LEVELS:
            raise ConfigError("--log-level", "must be one of " + ", ".join(LOG_LEVELS))
        server = replace(server, log_level=log_level)
    modems = _override_modems(config.modems, list(ports), _modem_changes(baud, rtscts, pin, pin_file))
    result = replace(config, server=server, modems=modems, simulate=config.simulate or simulate)
    require_modem(result)
    return result


def _modem_changes(baud: int | None, rtscts: bool, pin: str | None, pin_file: Path | None) -> dict:
    changes: dict[str, Any] = {}
    if baud is not None:
        if baud not in BAUD_RATES:
            raise ConfigError("--baud", "must be one of " + ", ".join(map(str, BAUD_RATES)) + f", got {baud}")
        changes["baud"] = baud
    if rtscts:
        changes["rtscts"] = True
    if pin_file is not None:
        changes.update(pin=read_pin_file("--pin-file", Path(pin_file)), pin_file=Path(pin_file))
    elif pin is not None:
        check_pin("--pin", pin)
        changes.update(pin=pin, pin_file=None)
    return changes


def _override_modems(modems: tuple[ModemConfig, ...], ports: list[str], changes: dict) -> tuple[ModemConfig, ...]:
    if ports:
        if len(set(ports)) != len(ports):
            raise ConfigError("--port", "the same port is given twice")
        by_port = {m.port: m for m in modems}
        taken = {by_port[p].name for p in ports if p in by_port}
        fresh = (f"modem{i}" for i in range(len(ports) * 2 + len(taken)) if f"modem{i}" not in taken)
        modems = tuple(by_port.get(p) or ModemConfig(name=next(fresh), port=p) for p in ports)
    return tuple(replace(m, **changes) for m in modems)


def require_modem(config: Config) -> None:
    if config.modems or config.simulate:
        return
    if config.source is None:
        raise ConfigError("modems", f"nothing to run: no config file at {default_path()} and no --port PATH or "
                                    "--simulate given (or pass --config FILE)")
    raise ConfigError("modems", "no modem configured: add a [[modems]] table with a port, or give --port PATH, "
                                "or set simulate = true", file=config.source)


def restart_required(running: Config, new: Config) -> tuple[str, ...]:
    """The keys in RESTART_KEYS whose values differ: a reload leaves them as they are and says so."""
    values = {"simulate": lambda c: c.simulate, "server.listen": lambda c: c.server.listen,
              "server.unix_socket": lambda c: c.server.unix_socket, "server.state_dir": lambda c: c.server.state_dir,
              "modems": lambda c: c.modems}
    return tuple(k for k in RESTART_KEYS if values[k](running) != values[k](new))


def reloaded(running: Config, new: Config) -> tuple[Config, tuple[str, ...]]:
    """What a SIGHUP applies: `new` with the restart-only parts kept from `running`, and the keys that were kept
    although the file changed them (log them: "server.listen changed; takes effect after a restart")."""
    kept = restart_required(running, new)
    server = replace(new.server, listen_host=running.server.listen_host, listen_port=running.server.listen_port,
                     unix_socket=running.server.unix_socket, state_dir=running.server.state_dir)
    return replace(new, simulate=running.simulate, modems=running.modems, server=server), kept
