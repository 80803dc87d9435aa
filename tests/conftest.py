"""Fixtures around the test kit (tests/kit), and the e2e marker. The helpers themselves live in the kit."""

from __future__ import annotations

import subprocess

import pytest

import kit
from kit.postgres import PostgresServer, unavailable
from modemd.simulator import SimulatedModem


@pytest.fixture
def free_port() -> int:
    return kit.free_port()


@pytest.fixture
async def store(tmp_path):
    """A real Store on a fresh SQLite file (WAL, synchronous=FULL), opened and closed around the test."""
    async with kit.open_store(tmp_path / "modemd.db") as s:
        yield s


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.e2e)])
async def any_store(request, tmp_path):
    """The same tests against both backends: a real Store on a fresh SQLite file, then on PostgreSQL (the module's
    `pg` server, every table emptied, host "host-a"). The record kinds of its backend: kit.record_stores(store)."""
    if request.param == "sqlite":
        async with kit.open_store(tmp_path / "modemd.db") as s:
            yield s
    else:
        async with kit.open_pg_store(request.getfixturevalue("pg")) as s:
            yield s


@pytest.fixture(scope="module")
def pg():
    """A real PostgreSQL (kit.postgres: initdb in a temporary directory, run as user postgres) for a module's
    tests; skipped where none can run."""
    if unavailable():
        pytest.skip(unavailable())
    with PostgresServer() as server:
        yield server


@pytest.fixture
async def pg_db(pg):
    """The PostgreSQL store's Database on `pg`, migrated, its messages, events and rate-limit hits emptied."""
    from modemd.store.postgres import Database
    database = Database(pg.url, pg.password)
    await database.open()
    await database.write(lambda conn: conn.execute("TRUNCATE messages, message_events, rate_events, rate_slots"))
    yield database
    await database.close()


@pytest.fixture
async def sim(tmp_path):
    """The simulated modem in this test's event loop, on a pty linked at tmp_path/ttyUSB2."""
    modem = SimulatedModem(link=str(tmp_path / "ttyUSB2"), handset_path=str(tmp_path / "handset.jsonl"))
    await modem.start()
    yield modem
    await modem.stop()


@pytest.fixture
def sim_process(tmp_path):
    """`modemd simulate` as its own process, its link at tmp_path/ttyUSB2."""
    with kit.SimProcess(tmp_path) as sim:
        yield sim


@pytest.fixture
def daemon(sim_process, tmp_path, free_port):
    """`modemd run` on the simulator process, ready (a module may define its own `daemon` to run another way)."""
    with kit.running_daemon(tmp_path, sim=sim_process, port=free_port) as d:
        yield d


@pytest.fixture
def receiver():
    """A webhook receiver, up (kit.Receiver)."""
    with kit.Receiver() as r:
        yield r


# ---- the e2e marker ----------------------------------------------------------------------------------------------
# A test that starts processes carries the e2e marker, so `pytest -m "not e2e"` runs the in-process suite alone
# (kit.markers decides it from the code). A test without the marker that starts a process anyway fails at once,
# so the in-process suite never quietly depends on one.
def pytest_collection_modifyitems(config, items):
    finder = kit.ProcessFinder()
    for item in items:
        funcs = [getattr(item, "function", None)]
        info = getattr(item, "_fixtureinfo", None)
        if info is not None:
            funcs += [d.func for defs in info.name2fixturedefs.values() for d in defs]
        if any(f is not None and finder.starts_processes(f) for f in funcs):
            item.add_marker(pytest.mark.e2e)


_PROCESS = subprocess.Popen     # every way of starting a process from Python goes through it


@pytest.fixture(autouse=True)
def _processes_only_in_e2e(request, monkeypatch):
    if request.node.get_closest_marker("e2e") is not None:
        return

    def refuse(self, args, *rest, **kw):
        raise AssertionError(f"{request.node.nodeid} starts a process ({args!r}) but is not marked e2e: name what "
                             f"starts it in tests/kit/markers.py STARTERS, or start it through the kit")
    monkeypatch.setattr(_PROCESS, "__init__", refuse)
