"""GET /openapi.json describes exactly the routes the server has, and a bounded fuzz run (schemathesis) against the
real daemon finds no 5xx and no response that breaks the description."""

from __future__ import annotations

import os

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from openapi_spec_validator import validate
from schemathesis.specs.openapi.checks import positive_data_acceptance

from conftest import TOKEN, DaemonProcess, http_get, wait_for
from modemd.http_api import build_app
from modemd.openapi import SPEC


def test_the_document_is_valid_openapi_3_1():
    validate(SPEC)
    assert SPEC["openapi"].startswith("3.1")


def test_the_document_and_the_routes_agree():
    class Nothing:
        pass
    app = build_app(Nothing())
    routes = {(r.method.lower(), r.resource.canonical) for r in app.router.routes() if r.method != "HEAD"}
    documented = {(method, path) for path, item in SPEC["paths"].items()
                  for method in item if method in ("get", "post", "put", "delete", "patch")}
    assert routes == documented


def test_the_server_serves_the_document(tmp_path, free_port):
    daemon = DaemonProcess(tmp_path, free_port, "--simulate")
    try:
        wait_for(lambda: http_get(daemon.url + "/healthz")[0] == 200, timeout=20)
        assert http_get(daemon.url + "/openapi.json") == (200, SPEC)
    finally:
        assert daemon.terminate() == 0


@pytest.fixture(scope="module")
def live_daemon(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("fuzz")
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    daemon = DaemonProcess(tmp, port, "--simulate")
    wait_for(daemon.ready, timeout=30)
    yield daemon
    code = daemon.terminate()
    output = daemon.output()
    assert code == 0, output
    assert "Traceback" not in output, output


@pytest.fixture(scope="module")
def api_schema(live_daemon):
    schema = schemathesis.openapi.from_dict(SPEC)
    # Auth through the config, not per call: then a negative case that drops the header really goes without it.
    schema.config.update(base_url=live_daemon.url, headers={"Authorization": f"Bearer {TOKEN}"})
    return schema


schema = schemathesis.pytest.from_fixture("api_schema")
FUZZ_EXAMPLES = int(os.environ.get("MODEMD_FUZZ_EXAMPLES", "40"))


@schema.parametrize()
@settings(max_examples=FUZZ_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
def test_fuzz_no_server_errors_and_responses_match_the_spec(case):
    # positive_data_acceptance is left out on purpose: JSON Schema cannot say which digit strings are dialable
    # numbers or which templates fit one SMS, so a schema-valid body can rightly get a 422 naming the field.
    case.call_and_validate(excluded_checks=[positive_data_acceptance])
