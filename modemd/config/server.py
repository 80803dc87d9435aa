"""The tables of the API server: [server] (where it listens, its default region, its connections), [auth] and
[[apps]] (who may call it, with which tokens and scopes) and [limits] (how much they may send).
"""

from __future__ import annotations

import json
from pathlib import Path

from .model import (DEFAULT_SCOPES, LOG_LEVELS, MAX_APP_NAME, MIN_SECRET, RESERVED_APPS, SCOPES, AppConfig,
                    AuthConfig, LimitsConfig, ServerConfig)
from .reader import ConfigError, Table, inline_or_file_secret, read_secret_file, show
from .tokens import token_problem
from .twilio import read_twilio
from .values import NAME, is_loopback, parse_listen, region_code


def read_server(t: Table) -> ServerConfig:
    d = ServerConfig()
    host, port = d.listen_host, d.listen_port
    listen = t.string("listen", None)
    if listen is not None:
        try:
            host, port = parse_listen(listen)
        except ValueError as exc:
            t.fail("listen", f"{exc}, got {show(listen)}")
    if not is_loopback(host):
        t.ctx.warnings.append(f"server.listen: {host} is not a loopback address; the API is reachable from the "
                              "network, with bearer tokens sent in clear text")
    region = t.string("default_region", None)
    return ServerConfig(listen_host=host, listen_port=port, unix_socket=t.path_value("unix_socket"),
                        state_dir=t.path_value("state_dir"),
                        default_region=region_code(t, "default_region", region) if region else None,
                        log_level=t.choice("log_level", d.log_level, LOG_LEVELS),
                        max_connections=t.integer("max_connections", d.max_connections, 8),
                        idle_timeout=t.number("idle_timeout", d.idle_timeout, 0, above=True))


def read_auth(t: Table) -> AuthConfig:
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


def read_apps(top: Table, auth: AuthConfig) -> tuple[AppConfig, ...]:
    apps: list[AppConfig] = []
    owner = {token: "[auth] (the default app)" for token in auth.tokens}
    for i, t in enumerate(top.tables("apps")):
        app = read_twilio(t, _app(t), apps)
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
    if not NAME.match(name) or len(name) > MAX_APP_NAME:
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
    key, key_file = _asg_signing_key(t)
    return AppConfig(name=name, tokens=tokens, token_files=files, scopes=frozenset(scopes),
                     sends_per_hour=t.integer("sends_per_hour", None, 1) if "sends_per_hour" in t.data else None,
                     sends_per_day=t.integer("sends_per_day", None, 1) if "sends_per_day" in t.data else None,
                     asg_signing_key=key, asg_signing_key_file=key_file)


def _asg_signing_key(t: Table) -> tuple[bytes | None, Path | None]:
    """The key of the app's webhooks registered through /asg: its UTF-8 bytes as written (what android-sms-gateway
    receivers verify with), at least MIN_SECRET of them."""
    found = inline_or_file_secret(t, "asg_signing_key", "asg_signing_key_file")
    if found is None:
        return None, None
    key, where, path = found
    if len(key) < MIN_SECRET:
        raise ConfigError(where, f"must be at least {MIN_SECRET} bytes (make one: openssl rand -hex 32)")
    return key, path


def read_limits(t: Table) -> LimitsConfig:
    d = LimitsConfig()
    return LimitsConfig(
        allowed_countries=frozenset(region_code(t, f"allowed_countries[{i}]", c)
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
