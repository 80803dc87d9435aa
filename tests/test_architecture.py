"""The dependency direction of DESIGN.md, enforced: imports only point down, services never import each other,
pure modules do no I/O, and no module imports itself back through another (no cycles)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "modemd"

# Layer of each top-level module; a module may import only from its own layer or below.
LAYERS = {
    0: {"errors", "sms", "quirks", "gsm7", "pdu", "pdu_fields", "pdu_split", "pdu_userdata", "at_codec", "at_urc",
        "at_redact", "redact", "numbers", "log", "paths", "openapi", "auth", "notify", "policy", "gsm7_national",
        "config", "config_reader", "config_model", "config_sections", "config_overrides", "db", "journal",
        "pin_memory", "peer_auth", "state_lock", "file_access", "otp_seal", "__init__"},
    1: {"at_serial", "at_port_check", "store_limits", "store_retention", "at_router", "at_channel", "modem", "modem_state", "modem_commands", "store", "schema",
        "store_otp", "store_inbox", "store_webhook", "metrics", "webhook_payload"},
    2: {"outbox", "inbox", "otp", "webhook", "supervisor"},
    3: {"http_api", "api_connections", "api_messages", "api_otp", "api_validation", "client", "install"},
    4: {"daemon", "oneshot", "simulator"},
    5: {"cli", "cli_client", "cli_pin", "__main__"},
}
RANK = {name: layer for layer, names in LAYERS.items() for name in names}
SERVICES = {"outbox", "inbox", "otp", "webhook"}
# these touch files, sockets or threads
PURE = LAYERS[0] - {"log", "notify", "db", "paths", "auth", "journal", "pin_memory", "peer_auth", "state_lock",
                    "file_access"}
IO_MODULES = {"asyncio", "aiohttp", "serial", "serial_asyncio_fast", "sqlite3", "socket", "subprocess", "threading"}


def modules() -> dict[str, Path]:
    found = {p.stem: p for p in PACKAGE.glob("*.py")}
    found["simulator"] = PACKAGE / "simulator" / "__init__.py"
    return found


def imports_of(path: Path) -> tuple[set[str], set[str]]:
    """(modemd modules, other top-level modules) imported anywhere in the file, lazy imports included.
    Inside the simulator package, `from .x` is its own submodule and `from ..x` is modemd's."""
    ours, others = set(), set()
    own_level = 2 if path.parent.name == "simulator" else 1
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.level == own_level:
            names = [node.module.split(".")[0]] if node.module else [a.name for a in node.names]
            ours.update(n for n in names if n != "__version__")
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            top = node.module.split(".")[0]
            (ours.add(node.module.split(".")[1]) if top == "modemd" and "." in node.module else others.add(top))
        elif isinstance(node, ast.Import):
            others.update(a.name.split(".")[0] for a in node.names)
    return ours, others


GRAPH = {name: imports_of(path) for name, path in modules().items()}


def test_every_module_has_a_layer():
    assert set(GRAPH) - set(RANK) == set()


@pytest.mark.parametrize("name", sorted(GRAPH))
def test_imports_point_down(name):
    upward = {dep for dep in GRAPH[name][0] if RANK.get(dep, 99) > RANK[name]}
    assert not upward, f"{name} (layer {RANK[name]}) imports from higher layers: {sorted(upward)}"


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_services_do_not_import_each_other(name):
    assert GRAPH[name][0] & (SERVICES - {name}) == set()


@pytest.mark.parametrize("name", sorted(PURE & set(GRAPH)))
def test_pure_modules_do_no_io(name):
    assert GRAPH[name][1] & IO_MODULES == set(), f"{name} imports I/O modules"


def test_no_import_cycles():
    def visit(node, trail):
        if node in trail:
            raise AssertionError("import cycle: " + " -> ".join(trail[trail.index(node):] + [node]))
        for dep in sorted(GRAPH.get(node, (set(), set()))[0]):
            if dep in GRAPH:
                visit(dep, trail + [node])
    for name in GRAPH:
        visit(name, [])
