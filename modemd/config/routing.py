"""[[routes]] (which modem or group a message goes through) and [discovery] (where modems named by identity are
looked for). Checked against the [[modems]] tables: a rule naming a modem or group that no table has is a typo,
refused at start rather than a message waiting forever.

[discovery] `paths` is a contract: checks outside this repo write it.
"""

from __future__ import annotations

import json

from .model import DiscoveryConfig, ModemConfig, RouteConfig
from .reader import ConfigError, Table, show, unknown
from .values import region_code

KINDS = ("sms", "otp")
PRIORITY_WORDS = ("high", "normal")


def read_discovery(t: Table) -> DiscoveryConfig:
    d = DiscoveryConfig()
    paths = t.strings("paths") if "paths" in t.data else d.paths
    if not paths:
        t.fail("paths", "required: a non-empty array of globs such as \"/dev/ttyUSB*\"")
    for i, path in enumerate(paths):
        if not path.startswith("/dev/") and not path.startswith("/"):
            raise ConfigError(t.key(f"paths[{i}]"), f"must be an absolute path or glob, got {show(path)}")
    return DiscoveryConfig(paths=tuple(dict.fromkeys(paths)),
                           probe_timeout=t.number("probe_timeout", d.probe_timeout, 0.1, 30))


def read_routes(top: Table, modems: tuple[ModemConfig, ...], apps: tuple[str, ...]) -> tuple[RouteConfig, ...]:
    """`apps`: the names an app may have here (the [[apps]] and the reserved ones)."""
    names = tuple(m.name for m in modems)
    groups = tuple(dict.fromkeys(g for m in modems for g in m.groups))
    return tuple(_route(t, names, groups, apps) for t in top.tables("routes"))


def _route(t: Table, names: tuple[str, ...], groups: tuple[str, ...], known_apps: tuple[str, ...]) -> RouteConfig:
    modem, group = t.string("modem", None), t.string("group", None)
    if (modem is None) == (group is None):
        t.fail("modem", "a route names exactly one of modem or group: where the messages it matches go")
    if modem is not None and modem not in names:
        t.fail("modem", f"{json.dumps(modem)}: " + unknown("modem", modem, names or ("(no [[modems]] table)",)))
    if group is not None and group not in groups:
        t.fail("group", f"{json.dumps(group)}: " + unknown("group", group, groups or ("(no modem has groups)",)))
    prefixes = t.strings("prefixes")
    for i, prefix in enumerate(prefixes):
        if not (prefix.startswith("+") and prefix[1:].isdigit() and 1 <= len(prefix) - 1 <= 15):
            raise ConfigError(t.key(f"prefixes[{i}]"), f"must be \"+\" and 1 to 15 digits, like \"+49\", got "
                                                      f"{show(prefix)}")
    countries = frozenset(region_code(t, "countries", c) for c in t.strings("countries"))
    apps = t.strings("apps")
    for i, app in enumerate(apps):
        if app not in known_apps:
            raise ConfigError(t.key(f"apps[{i}]"), f"{show(app)}: " + unknown("app", app, known_apps))
    kinds = t.names("kinds", KINDS, KINDS, "kind")
    priorities = t.names("priorities", PRIORITY_WORDS, PRIORITY_WORDS, "priority")
    return RouteConfig(modem=modem, group=group, prefixes=tuple(prefixes), countries=countries,
                       apps=frozenset(apps),
                       kinds=frozenset(kinds) if "kinds" in t.data else frozenset(),
                       priorities=frozenset(priorities) if "priorities" in t.data else frozenset())
