"""domain/routing.py: the route of a message (request first, then the first matching [[routes]] rule, then any
modem), each rule key on its own, and the keys a modem serves."""

from __future__ import annotations

import pytest

from modemd.config.model import RouteConfig
from modemd.domain.routing import matches, modem_keys, route_key, route_of, route_view, split_route
from modemd.domain.sms import Kind, Priority

DE = "+4915112345678"
AT = "+436641234567"
FR = "+33612345678"


def route(to=DE, rules=(), requested=None, app="default", kind=Kind.SMS, priority=Priority.NORMAL):
    return route_of(requested, rules, to, app=app, kind=kind, priority=priority)


def test_no_rule_and_no_request_is_any_modem():
    assert route() is None


def test_the_request_wins_over_every_rule():
    rules = (RouteConfig(group="de"),)
    assert route(rules=rules, requested="modem:fr1") == "modem:fr1"


def test_the_first_matching_rule_wins():
    rules = (RouteConfig(group="fr", countries=frozenset({"FR"})), RouteConfig(modem="de1"),
             RouteConfig(group="de"))
    assert route(FR, rules) == "group:fr"
    assert route(DE, rules) == "modem:de1"


def test_no_matching_rule_is_any_modem():
    assert route(FR, (RouteConfig(group="de", prefixes=("+49",)),)) is None


@pytest.mark.parametrize("rule, hit, miss", [
    (RouteConfig(group="g", prefixes=("+4915", "+43")), dict(to=AT), dict(to="+4930123456")),
    (RouteConfig(group="g", countries=frozenset({"DE", "AT"})), dict(to=AT), dict(to=FR)),
    (RouteConfig(group="g", apps=frozenset({"shop"})), dict(app="shop"), dict(app="bank")),
    (RouteConfig(group="g", kinds=frozenset({"otp"})), dict(kind=Kind.OTP), dict(kind=Kind.SMS)),
    (RouteConfig(group="g", priorities=frozenset({"high"})), dict(priority=Priority.HIGH),
     dict(priority=Priority.NORMAL)),
])
def test_each_key_matches_alone(rule, hit, miss):
    assert route(rules=(rule,), **hit) == "group:g"
    assert route(rules=(rule,), **miss) is None


def test_every_key_given_must_match():
    rule = RouteConfig(modem="m", countries=frozenset({"DE"}), kinds=frozenset({"otp"}))
    assert matches(rule, DE, app="a", kind=Kind.OTP, priority=Priority.HIGH)
    assert not matches(rule, DE, app="a", kind=Kind.SMS, priority=Priority.HIGH)
    assert not matches(rule, FR, app="a", kind=Kind.OTP, priority=Priority.HIGH)


def test_a_modems_keys_are_its_name_and_its_groups():
    assert modem_keys("de1", ("de", "eu")) == {"modem:de1", "group:de", "group:eu"}
    assert modem_keys("solo") == {"modem:solo"}


def test_route_text_and_view():
    assert route_key("group", "de") == "group:de" and split_route("modem:de1") == ("modem", "de1")
    assert route_view("modem:de1") == {"modem": "de1"} and route_view(None) is None
    with pytest.raises(ValueError):
        route_key("host", "a")
