"""The modemd-specific reading of each config table ([server], [auth], [[modems]], [otp], [queue],
[[webhooks]]) into the config_model objects, with the checks a value needs beyond its type (listen address, region
codes, PINs, tokens, webhook URLs and secrets). `build_config(data)` reads a whole parsed file.
"""

from __future__ import annotations

import ipaddress
import json
import re
from dataclasses import replace
from pathlib import Path
from urllib.parse import urlsplit

import phonenumbers

from .model import (BAUD_RATES, DEFAULT_APP, DEFAULT_SCOPES, EVENTS, KEYS, LOG_LEVELS, MAX_APP_NAME, MIN_SECRET,
                    OTP_LENGTHS, OTP_TTLS, RESERVED_APPS, SCOPES, AppConfig, AuthConfig, Config, LimitsConfig,
                    RetentionConfig, ModemConfig, QueueConfig, ServerConfig, WebhookConfig)
from .tokens import token_problem
from .reader import ConfigError, ReadContext, Table, num, read_secret_file, show, unknown
from ..domain.policy import OtpError, OtpSettings, check_template
from ..domain.policy import RetryPolicy

_NAME = re.compile(r"[a-z0-9_-]+\Z")
_PIN = re.compile(r"[0-9]{4,8}\Z")                 # TS 31.102: a PIN is 4 to 8 decimal digits
_E164 = re.compile(r"\+[1-9][0-9]{5,14}\Z")        # ITU-T E.164: at most 15 digits
_HOST = re.compile(r"[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?\Z")
_REGION_MISTAKES = {"UK": "GB", "EL": "GR"}        # common codes that are not ISO 3166-1


def build_config(data: dict, source: Path | None, *, world_readable: bool = False) -> Config:
    ctx = ReadContext(KEYS, world_readable)
    top = Table(data, "", KEYS[""], ctx)
    auth = _auth(top.table("auth"))
    apps = _apps(top, auth)
    config = Config(source=source, simulate=top.boolean("simulate", Config.simulate),
                    server=_server(top.table("server")), auth=auth, apps=apps,
                    limits=_limits(top.table("limits")),
                    modems=_modems(top), otp=_otp(top.table("otp")), queue=_queue(top.table("queue")),
                    retention=_retention(top.table("retention")),
                    webhooks=_webhooks(top, apps))
    return replace(config, warnings=tuple(ctx.warnings))


def _server(t: Table) -> ServerConfig:
    d = ServerConfig()
    host, port = d.listen_host, d.listen_port
    listen = t.string("listen", None)
    if listen is not None:
        try:
            host, port = parse_listen(listen)
        except ValueError as exc:
            t.fail("listen", f"{exc}, got {show(listen)}")
    if not _is_loopback(host):
        t.ctx.warnings.append(f"server.listen: {host} is not a loopback address; the API is reachable from the "
                              "network, with bearer tokens sent in clear text")
    region = t.string("default_region", None)
    return ServerConfig(listen_host=host, listen_port=port, unix_socket=t.path_value("unix_socket"),
                        state_dir=t.path_value("state_dir"),
                        default_region=_region(t, "default_region", region) if region else None,
                        log_level=t.choice("log_level", d.log_level, LOG_LEVELS),
                        max_connections=t.integer("max_connections", d.max_connections, 8),
                        idle_timeout=t.number("idle_timeout", d.idle_timeout, 0, above=True))


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


def _region(t: Table, name: str, value: str) -> str:
    """An ISO 3166-1 region phonenumbers knows; lower case is accepted (it is unambiguous)."""
    code = value.upper()
    if code not in phonenumbers.SUPPORTED_REGIONS:
        hint = f"; did you mean {json.dumps(_REGION_MISTAKES[code])}?" if code in _REGION_MISTAKES else ""
        t.fail(name, f"must be an ISO 3166 region code such as \"DE\" or \"GB\", got {show(value)}{hint}")
    return code


def _auth(t: Table) -> AuthConfig:
    tokens, files = _tokens(t)
    return AuthConfig(tokens=tokens, token_files=files)


def _tokens(t: Table) -> tuple[tuple[str, ...], tuple[Path, ...]]:
    """`tokens` (inline: the file must not be world-readable) and `token_files` of [auth] or an [[apps]] table."""
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
            raise ConfigError(key, f"must be an absolute path, got {show(name)}")
        from_files.append(_token_from_file(key, Path(name)))
    return tuple(dict.fromkeys(tokens + tuple(from_files))), tuple(map(Path, files))


def _apps(top: Table, auth: AuthConfig) -> tuple[AppConfig, ...]:
    apps: list[AppConfig] = []
    owner = {token: "[auth] (the default app)" for token in auth.tokens}
    for i, t in enumerate(top.tables("apps")):
        app = _app(t)
        if any(other.name == app.name for other in apps):
            t.fail("name", f"{json.dumps(app.name)} is already the name of another [[apps]] table")
        for token in app.tokens:       # one token, one app: otherwise who sent a message would be a guess
            if token in owner:
                t.fail("tokens", f"a token of this app is also a token of {owner[token]}; give each app its own")
            owner[token] = f"app {json.dumps(app.name)}"
        apps.append(app)
    return tuple(apps)


def _app(t: Table) -> AppConfig:
    name = t.string("name", None)
    if name is None:
        t.fail("name", "is required: the app's name (lower-case letters, digits, '_' and '-')")
    if not _NAME.match(name) or len(name) > MAX_APP_NAME:
        t.fail("name", f"lower-case letters, digits, '_' and '-', at most {MAX_APP_NAME}, got {show(name)}")
    if name in RESERVED_APPS:
        t.fail("name", f"{json.dumps(name)} is reserved ({', '.join(RESERVED_APPS)}: the [auth] tokens and the "
                       "admin socket); choose another name")
    tokens, files = _tokens(t)
    if not tokens:
        t.fail("tokens", "an app needs at least one token (tokens or token_files)")
    scopes = t.strings("scopes") if "scopes" in t.data else tuple(sorted(DEFAULT_SCOPES))
    for scope in scopes:
        if scope not in SCOPES:
            t.fail("scopes", f"each one of {', '.join(SCOPES)}, got {show(scope)}")
    if not scopes:
        t.fail("scopes", f"at least one of {', '.join(SCOPES)}")
    return AppConfig(name=name, tokens=tokens, token_files=files, scopes=frozenset(scopes),
                     sends_per_hour=t.integer("sends_per_hour", None, 1) if "sends_per_hour" in t.data else None,
                     sends_per_day=t.integer("sends_per_day", None, 1) if "sends_per_day" in t.data else None)


def _limits(t: Table) -> LimitsConfig:
    d = LimitsConfig()
    return LimitsConfig(
        allowed_countries=frozenset(_region(t, f"allowed_countries[{i}]", c)
                                    for i, c in enumerate(t.strings("allowed_countries"))),
        sms_per_number=t.integer("sms_per_number", d.sms_per_number, 1),
        sms_per_number_window=t.number("sms_per_number_window", d.sms_per_number_window, 0, above=True),
        sends_per_hour=t.integer("sends_per_hour", d.sends_per_hour, 1),
        sends_per_day=t.integer("sends_per_day", d.sends_per_day, 1),
        max_queued=t.integer("max_queued", d.max_queued, 1),
        otp_reserve=t.number("otp_reserve", d.otp_reserve, 0, 0.9))


def _token_from_file(key: str, path: Path) -> str:
    try:
        lines = read_secret_file(key, path).decode("ascii").split()
    except UnicodeDecodeError:
        raise ConfigError(key, f"{path} must hold an ASCII token") from None
    if len(lines) != 1:
        raise ConfigError(key, f"{path} must hold exactly one token, found {len(lines)}")
    _check_token(key, lines[0], source=f"the token in {path}")
    return lines[0]


def _check_token(key: str, token: str, source: str = "the token") -> None:
    problem = token_problem(token)
    if problem:
        raise ConfigError(key, f"{source} {problem}")


def _modems(top: Table) -> tuple[ModemConfig, ...]:
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


def _modem(t: Table, default_name: str) -> ModemConfig:
    d = ModemConfig(name="", port="")
    name = t.string("name", default_name)
    if not _NAME.match(name):
        t.fail("name", f"must be lower-case letters, digits, '_' or '-', got {show(name)}")
    port = t.required("port", "the modem's serial port, e.g. /dev/serial/by-id/usb-Quectel_EC25-if02-port0")
    if not port.startswith("/"):
        t.fail("port", f"must be an absolute device path, got {show(port)}")
    pin, pin_file = _pin(t)
    smsc = t.string("smsc", None)
    if smsc is not None and not _E164.match(smsc):
        t.fail("smsc", f"must be an international number like \"+491770610000\", got {show(smsc)}")
    return ModemConfig(name=name, port=port, baud=t.choice("baud", d.baud, BAUD_RATES),
                       rtscts=t.boolean("rtscts", d.rtscts), pin=pin, pin_file=pin_file, smsc=smsc,
                       per_minute=t.number("per_minute", d.per_minute, 0),
                       registration_timeout=t.number("registration_timeout", d.registration_timeout, 1, 3600))


def _pin(t: Table) -> tuple[str | None, Path | None]:
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
        pin = read_secret_file(key, path).decode("ascii")
    except UnicodeDecodeError:
        pin = ""
    check_pin(key, pin, source=f"the PIN in {path}")
    return pin


def _otp(t: Table) -> OtpSettings:
    d = OtpSettings()
    settings = OtpSettings(
        app=t.string("app", d.app), length=t.integer("length", d.length, *OTP_LENGTHS),
        ttl=t.integer("ttl", d.ttl, *OTP_TTLS), max_attempts=t.integer("max_attempts", d.max_attempts, 1, 10),
        template=t.string("template", d.template),
        sends_per_number=t.integer("sends_per_number", d.sends_per_number, 1),
        sends_window=t.number("sends_window", d.sends_window, 0, above=True),
        resend_gap=t.number("resend_gap", d.resend_gap, 0),
        sends_per_token=t.integer("sends_per_token", d.sends_per_token, 1),
        sends_per_token_window=t.number("sends_per_token_window", d.sends_per_token_window, 0, above=True),
        verifies_per_number=t.integer("verifies_per_number", d.verifies_per_number, 1),
        verifies_window=t.number("verifies_window", d.verifies_window, 0, above=True),
        verifies_per_app=t.integer("verifies_per_app", d.verifies_per_app, 1),
        daily_per_country=t.integer("daily_per_country", d.daily_per_country, 1),
        allowed_countries=frozenset(_region(t, f"allowed_countries[{i}]", c)
                                    for i, c in enumerate(t.strings("allowed_countries"))),
        lock_after_failures=t.integer("lock_after_failures", d.lock_after_failures, 1))
    try:
        check_template(settings.template, settings.app, settings.length, settings.ttl)
    except OtpError as exc:
        t.fail("template", exc.reason)
    return settings


def _retention(t: Table) -> RetentionConfig:
    d = RetentionConfig()
    numbers = t.number("numbers", d.numbers, 3600)
    records = t.number("records", d.records, 3600)
    if records < numbers:
        t.fail("records", f"must be at least numbers ({num(numbers)}): a record is masked before it is deleted")
    return RetentionConfig(numbers=numbers, records=records)


def _queue(t: Table) -> QueueConfig:
    d = RetryPolicy()
    retry = RetryPolicy(base=t.number("backoff_base", d.base, 0, above=True),
                        factor=t.number("backoff_factor", d.factor, 1),
                        cap=t.number("backoff_cap", d.cap, 0, above=True),
                        max_attempts=t.integer("max_attempts", d.max_attempts, 1, 100),
                        max_ambiguous=t.integer("max_ambiguous", d.max_ambiguous, 0, 10),
                        device_pause=t.number("device_pause", d.device_pause, 0))
    if retry.cap < retry.base:
        t.fail("backoff_cap", f"must be >= backoff_base ({num(retry.base)}), got {num(retry.cap)}")
    return QueueConfig(retry=retry, keep_sent_text=t.boolean("keep_sent_text", QueueConfig.keep_sent_text),
                       retention=t.number("retention", QueueConfig.retention, 0))


def _webhooks(top: Table, apps: tuple[AppConfig, ...]) -> tuple[WebhookConfig, ...]:
    scopes = {app.name: app.scopes for app in apps} | {DEFAULT_APP: frozenset(SCOPES)}
    return tuple(_subscribed(t, _webhook(t), scopes) for t in top.tables("webhooks"))


def _subscribed(t: Table, hook: WebhookConfig, apps: dict[str, frozenset[str]]) -> WebhookConfig:
    """A webhook with `app` gets that app's events only; received SMS belong to no app, so they need its inbox
    scope (or admin)."""
    app = t.string("app", None)
    if app is None:
        return hook
    if app not in apps:
        t.fail("app", f"{show(app)} is not an app of this config ({', '.join(sorted(apps))})")
    if "sms:received" in hook.events and not {"inbox", "admin"} & apps[app]:
        t.fail("events", f"sms:received needs the inbox scope, which app {show(app)} does not have")
    return replace(hook, app=app)


def _webhook(t: Table) -> WebhookConfig:
    url = t.required("url", "where to POST events, e.g. \"http://127.0.0.1:9000/sms\"")
    _check_url(t, url)
    events = t.strings("events")
    if not events:
        t.fail("events", "required: a non-empty array of " + ", ".join(EVENTS))
    for i, event in enumerate(events):
        if event not in EVENTS:
            raise ConfigError(t.key(f"events[{i}]"), f"{show(event)}: " + unknown("event", event, EVENTS))
    secret, secret_file = _webhook_secret(t)
    return WebhookConfig(url=url, events=frozenset(events), secret=secret, secret_file=secret_file,
                         full_numbers=t.boolean("full_numbers", WebhookConfig.full_numbers),
                         timeout=t.number("timeout", WebhookConfig.timeout, 0, 60, above=True))


def _check_url(t: Table, url: str) -> None:
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


def _webhook_secret(t: Table) -> tuple[bytes, Path | None]:
    if "secret" in t.data and "secret_file" in t.data:
        t.fail("secret_file", "cannot be combined with secret; keep one of them")
    if "secret" in t.data:
        t.inline_secret("secret")
        secret = t.string("secret", None, secret=True).encode("utf-8")
        key, path = t.key("secret"), None
    elif "secret_file" in t.data:
        path = t.path_value("secret_file")
        key, secret = t.key("secret_file"), read_secret_file(t.key("secret_file"), path)
    else:
        t.fail("secret", "required: secret or secret_file, the HMAC key receivers verify signatures with")
    if len(secret) < MIN_SECRET:
        raise ConfigError(key, f"the secret must be at least {MIN_SECRET} bytes (make one: openssl rand -hex 32)")
    return secret, path
