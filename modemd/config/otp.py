"""The [otp] table: the settings of the one-time passcodes (domain.policy.OtpSettings, the very object the OTP
service takes), with the template checked by the rule the service applies (domain.policy.check_template).
"""

from __future__ import annotations

from .model import OTP_LENGTHS, OTP_TTLS
from .reader import Table
from .values import region_code
from ..domain.policy import OtpError, OtpSettings, check_template


def read_otp(t: Table) -> OtpSettings:
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
        allowed_countries=frozenset(region_code(t, f"allowed_countries[{i}]", c)
                                    for i, c in enumerate(t.strings("allowed_countries"))),
        lock_after_failures=t.integer("lock_after_failures", d.lock_after_failures, 1))
    try:
        check_template(settings.template, settings.app, settings.length, settings.ttl)
    except OtpError as exc:
        t.fail("template", exc.reason)
    return settings
