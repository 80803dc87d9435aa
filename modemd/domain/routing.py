"""Which modems may send a message: its route. Pure: no I/O.

A route is a string stored with the message: "modem:NAME" (only that modem sends it), "group:NAME" (any modem in
that group) or None (any modem). A modem claims a message whose route is None or one of its own keys
(modem_keys): so a message pinned to a modem that is unplugged waits for it, within its deadline, instead of going
out through another SIM (a sender id, a tariff, a country's operator that the client chose on purpose).

The route comes from the request ("modem" or "group", or android-sms-gateway's simNumber), else from the first
[[routes]] rule that matches the message (config.model.RouteConfig; an empty key matches everything), else None.
"""

from __future__ import annotations

from typing import Collection, Iterable, Protocol

from .numbers import country_of
from .sms import Kind, Priority

MODEM = "modem"
GROUP = "group"


class Rule(Protocol):
    """One [[routes]] rule as config.model.RouteConfig holds it (domain does not import config)."""
    modem: str | None
    group: str | None
    prefixes: tuple[str, ...]
    countries: Collection[str]
    apps: Collection[str]
    kinds: Collection[str]
    priorities: Collection[str]


def route_key(kind: str, name: str) -> str:
    """The stored form of a route: route_key("modem", "de1") == "modem:de1"."""
    if kind not in (MODEM, GROUP):
        raise ValueError(f"a route is to a modem or a group, not {kind!r}")
    return f"{kind}:{name}"


def split_route(route: str) -> tuple[str, str]:
    """("modem" | "group", name) of a stored route."""
    kind, _, name = route.partition(":")
    return kind, name


def modem_keys(name: str, groups: Iterable[str] = ()) -> frozenset[str]:
    """The routes a modem serves: its own and each of its groups'."""
    return frozenset({route_key(MODEM, name)} | {route_key(GROUP, g) for g in groups})


def route_of(requested: str | None, rules: Iterable[Rule], to: str, *, app: str, kind: Kind,
             priority: Priority) -> str | None:
    """The message's route: what the request named, else the first rule that matches, else None (any modem)."""
    if requested is not None:
        return requested
    for rule in rules:
        if matches(rule, to, app=app, kind=kind, priority=priority):
            return route_key(MODEM, rule.modem) if rule.modem is not None else route_key(GROUP, rule.group)
    return None


def matches(rule: Rule, to: str, *, app: str, kind: Kind, priority: Priority) -> bool:
    """Every key the rule gives matches (an empty one matches everything). The country is looked up only when a
    rule asks for it: parsing the number is the costly part."""
    if rule.prefixes and not any(to.startswith(p) for p in rule.prefixes):
        return False
    if rule.apps and app not in rule.apps:
        return False
    if rule.kinds and kind.value not in rule.kinds:
        return False
    if rule.priorities and priority.name.lower() not in rule.priorities:
        return False
    return not rule.countries or country_of(to) in rule.countries


def route_view(route: str | None) -> dict | None:
    """A route as the API shows it: {"modem": "de1"}, {"group": "de"} or None."""
    if route is None:
        return None
    kind, name = split_route(route)
    return {kind: name}
