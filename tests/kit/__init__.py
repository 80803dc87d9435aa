"""The test kit, shared by tests/ and bench/ (DESIGN.md, "Style": one kit).

  wait        wait_for (blocking) and until (async): one meaning, wait for an event, never for nothing to happen
  processes   modemd as a user runs it: SimProcess (`modemd simulate`, driven through modemd's ControlClient),
              DaemonProcess (`modemd run`), running_daemon() (ready, and stopped at the end), run_modemd (the CLI),
              free_port, http_get, write_config, config_toml, TOKEN, MODEMD
  store       open_store (a real Store on a fresh file), open_pg_store (on an emptied PostgreSQL database),
              record_stores / record_store (the other record kinds of a store's backend), outbound (a queued message),
              in_state / recorded (waits)
  services    running_outbox (an Outbox on scripted modems, stopped at the end), FAST (its retry policy)
  api         FakeDaemon and api_client: the HTTP API in this process over a real store
  rawhttp     raw_request, exchange, beside_healthz: HTTP byte for byte (hostile input)
  webhooks    Receiver: one webhook receiver, every signature checked with docs/webhooks.md's own code
  notify      NotifySocket: systemd's notify socket
  postgres    PostgresServer: a real PostgreSQL (initdb in a temporary directory, run as user postgres)
  fleet       fleet(): several `modemd run` hosts on one PostgreSQL, each with its own simulated modem;
              TcpProxy: a relay to the database the test can cut (a partition)
  markers     ProcessFinder: which tests start processes (the e2e marker)

Imports: modemd's public names and the standard library (aiohttp for the API client); not pytest, so bench/ can use
it too (tests/conftest.py wraps it in fixtures). Tests import it as `kit`, bench/ as `tests.kit`.
"""

import importlib

# Each name's module, imported when the name is first used (PEP 562): a benchmark that needs only the process
# helpers does not load the API, the store or aiohttp's test server into the process whose memory it measures.
_HOMES = {
    "api": ("FakeDaemon", "api_client"),
    "fleet": ("FLEET_LEASE", "Host", "TcpProxy", "fleet", "start_host"),
    "markers": ("ProcessFinder",),
    "notify": ("NotifySocket",),
    "postgres": ("PostgresServer",),
    "processes": ("MODEMD", "TOKEN", "DaemonProcess", "SimProcess", "clean_environment", "config_toml", "free_port",
                  "http_get", "run_modemd", "running_daemon", "stop_process", "write_config"),
    "services": ("FAST", "running_outbox"),
    "store": ("empty_pg", "in_state", "open_pg_store", "open_store", "outbound", "record_store", "record_stores",
              "recorded"),
    "wait": ("until", "wait_for"),
    "webhooks": ("SECRET", "Receiver", "doc_blocks", "signed_by", "verify_asg_signature", "verify_signature",
                 "verify_webhook"),
}
_MODULE_OF = {name: module for module, names in _HOMES.items() for name in names}
__all__ = sorted(_MODULE_OF)


def __getattr__(name: str):
    if name not in _MODULE_OF:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_MODULE_OF[name]}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
