"""The [[apps]] keys of the Twilio Verify layer: twilio_service_sid (Twilio's VA + 32 hex, one app each) and
twilio_custom_code; what the API's apps carry of them. Files in tmp_path, no daemon."""

from __future__ import annotations

import pytest

from modemd.api.auth import TokenSet
from modemd.config.loader import ConfigError, load_config

MODEM = '[[modems]]\nport = "/dev/ttyUSB2"\n'
SID = "VA0123456789abcdef0123456789abcdef"


def apps_config(tmp_path, *tables: str):
    path = tmp_path / "modemd.toml"
    body = "".join(f'\n[[apps]]\nname = "app{i}"\ntokens = ["app{i}-token-0123456789abcdef"]\n{t}'
                   for i, t in enumerate(tables))
    path.write_text(MODEM + body)
    path.chmod(0o600)
    return path


def test_an_apps_service_sid_and_custom_code_reach_its_tokens(tmp_path):
    config = load_config(apps_config(tmp_path, f'twilio_service_sid = "{SID}"\ntwilio_custom_code = true\n', ""))
    shop, plain = config.apps
    assert (shop.twilio_service_sid, shop.twilio_custom_code) == (SID, True)
    assert (plain.twilio_service_sid, plain.twilio_custom_code) == (None, False)
    app = TokenSet([], config.apps).check_basic("app0", "app0-token-0123456789abcdef")
    assert (app.twilio_service_sid, app.twilio_custom_code) == (SID, True)


@pytest.mark.parametrize("table,words", [
    ('twilio_service_sid = "VA0123"\n', "VA and 32 hex digits"),
    ('twilio_service_sid = "AC0123456789abcdef0123456789abcdef"\n', "VA and 32 hex digits"),
    ('twilio_service_sid = "VA0123456789abcdef0123456789abcdeg"\n', "VA and 32 hex digits"),
    (f'twilio_service_sid = "{SID}\\n"\n', "VA and 32 hex digits"),
    ("twilio_service_sid = 7\n", "a non-empty string"),
    ('twilio_custom_code = "yes"\n', "true or false"),
])
def test_a_bad_value_is_refused_naming_the_key(tmp_path, table, words):
    with pytest.raises(ConfigError) as refused:
        load_config(apps_config(tmp_path, table))
    assert refused.value.path == f"apps[0].{table.split(' ')[0]}" and words in refused.value.problem


def test_two_apps_cannot_share_a_service_sid_whatever_its_case(tmp_path):
    with pytest.raises(ConfigError) as refused:
        load_config(apps_config(tmp_path, f'twilio_service_sid = "{SID}"\n',
                                f'twilio_service_sid = "VA{SID[2:].upper()}"\n'))
    assert refused.value.path == "apps[1].twilio_service_sid"
    assert 'already the Service SID of app "app0"' in refused.value.problem
