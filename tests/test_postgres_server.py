"""The test kit's PostgreSQL server is the real thing, set up as the PostgreSQL store's tests need it: a password
is required on TCP, commits are synchronous, and a restart keeps the data. (The store itself is tested against it
once it exists; this file proves the environment CI runs in can host the server as shipped by Debian.)"""

from __future__ import annotations

import pytest

from kit.postgres import PostgresServer, unavailable

psycopg = pytest.importorskip("psycopg")
pytestmark = pytest.mark.skipif(unavailable() is not None, reason=unavailable() or "")


@pytest.fixture(scope="module")
def server():
    with PostgresServer() as pg:
        yield pg


def test_it_answers_with_the_password_and_commits_synchronously(server):
    with psycopg.connect(server.url, password=server.password) as conn:
        assert conn.execute("SELECT current_user, current_database()").fetchone() == ("modemd", "modemd")
        assert conn.execute("SHOW synchronous_commit").fetchone()[0] == "on"
        assert conn.execute("SHOW fsync").fetchone()[0] == "on"


def test_tcp_without_the_password_is_refused(server):
    with pytest.raises(psycopg.OperationalError, match="password"):
        psycopg.connect(server.url, password="wrong", connect_timeout=5)


def test_a_restart_keeps_committed_rows_and_breaks_open_connections(server):
    with psycopg.connect(server.url, password=server.password, autocommit=True) as conn:
        conn.execute("CREATE TABLE kept (n int)")
        conn.execute("INSERT INTO kept VALUES (42)")
        server.restart()
        with pytest.raises(psycopg.OperationalError):
            conn.execute("SELECT 1")
    with psycopg.connect(server.url, password=server.password) as conn:
        assert conn.execute("SELECT n FROM kept").fetchone() == (42,)
