"""The operator's commands reach the database through one psql kept open on its host, over the lab's docker
connector and over SSH alike: each script its own transaction, an error rolled back and reported without losing
the session's next scripts, rows with tabs and line breaks read as they were."""

from __future__ import annotations

import secrets
import threading

import pytest
from pyinfra.api import Config, Inventory, State
from pyinfra.context import ctx_host, ctx_state

from rtcstack.lab import Lab
from rtcstack.roles.database import primary
from rtcstack.runtime.database import Database, PsqlPool, PsqlSession
from rtcstack.runtime.remote import RemoteError, RemoteHost, connect
from rtcstack.site import Site
from tests.conftest import PROJECT_ROOT

pytestmark = pytest.mark.integration
INVENTORY = "inventories/lab.py"


def over_ssh(site: Site, name: str) -> RemoteHost:
    """The database host reached over SSH with the lab's key, as an operator's inventory reaches its hosts."""
    inventory = Inventory(([(name, Lab(site.deployment, site.name, key_dir=PROJECT_ROOT / "inventories")
                                     .ssh_data(name))], {}))
    host = inventory.get_host(name)
    with ctx_state.use(State(inventory, Config())), ctx_host.use(host):
        host.connect(raise_exceptions=True)
    return RemoteHost(name, host)


@pytest.fixture(scope="module", params=["docker", "ssh"])
def database(request, lab_runner) -> Database:
    lab_runner(INVENTORY)
    site = Site.load(INVENTORY)
    name = primary(site.deployment).name
    host = connect(site, [name])[name] if request.param == "docker" else over_ssh(site, name)
    return Database(site.deployment, host)


def test_scripts_share_one_psql_each_in_its_own_transaction_and_an_error_rolls_back_only_its_own(database):
    table = f"session_check_{secrets.token_hex(4)}"
    assert database.run(f"CREATE TABLE {table} (x text); INSERT INTO {table} VALUES ('kept'); SELECT 1") == [["1"]]
    pool = database._session()
    assert isinstance(pool, PsqlPool), "this connector keeps no psql open"
    (session,) = pool.idle
    first = session.stream
    with pytest.raises(RemoteError, match="division by zero") as failed:
        database.run(f"INSERT INTO {table} VALUES ('lost'); SELECT 1/0")
    assert "psql failed" in str(failed.value) and table not in str(failed.value)
    try:
        assert database.run(f"SELECT x FROM {table} ORDER BY x") == [["kept"]]  # the failed script left nothing
        assert database.run("SELECT 'a\tb', E'one\\ntwo'") == [["a", "b", "one"], ["two"]]
        assert database.run("SELECT 1") == [["1"]]
        assert session.stream is not None and session.stream is not first  # (a new psql after the error)
        backends = {database.run("SELECT pg_backend_pid()")[0][0] for _ in range(20)}
        assert len(backends) == 1, "each script started its own psql (its own connection)"
    finally:
        database.run(f"DROP TABLE {table}")


def test_a_long_script_with_a_long_answer_before_its_end_does_not_block_the_pipes(database):
    """psql's answer to an early statement fills its output pipe while the rest of the script is still being
    written: both are moved at once, not one after the other."""
    padding = "-- " + "p" * 400_000 + "\n"
    rows = database.run(f"SELECT repeat('x', 300000);\n{padding}SELECT 2")
    assert [len(row[0]) for row in rows] == [300_000, 1]


def test_a_script_left_open_is_rolled_back_and_reported_not_taken_for_done(database, monkeypatch):
    """An unbalanced parenthesis would leave the COMMIT unsent, an unclosed quote would swallow the end marker:
    neither may pass for a committed script, nor cost the next one."""
    table = f"session_open_{secrets.token_hex(4)}"
    database.run(f"CREATE TABLE {table} (x int)")
    try:
        with pytest.raises(RemoteError, match="did not end"):
            database.run(f"INSERT INTO {table} VALUES (1); SELECT (1")
        monkeypatch.setattr(PsqlSession, "SCRIPT_SECONDS", 3)
        with pytest.raises(RemoteError, match="no answer in 3 s"):
            database.run(f"INSERT INTO {table} VALUES (2); SELECT 'unclosed")
        assert database.run(f"SELECT count(*) FROM {table}") == [["0"]]
    finally:
        database.run(f"DROP TABLE {table}")


def test_nothing_a_script_sets_outlives_it_and_an_early_error_in_a_long_script_is_reported(database):
    database.run("SET search_path = nowhere; CREATE TEMP TABLE session_temp (x int)")
    assert database.run("SHOW search_path") == [['"$user", public']]
    database.run("CREATE TEMP TABLE session_temp (x int)")  # (the first one ended with its script)
    with pytest.raises(RemoteError, match="division by zero"):
        database.run("SELECT 1/0; -- " + "p" * 4_000_000)
    assert database.run("SELECT 7") == [["7"]]


def test_two_threads_at_once_each_get_a_psql_and_one_waits_for_no_other(database):
    """A test or a service may ask from two threads at once (one holding a lock while the other looks): each gets
    its own psql, as each got its own process before; the idle ones are used again."""
    holder = threading.Thread(target=database.run, args=("SELECT pg_sleep(2)",))
    holder.start()
    try:
        seen = False
        while holder.is_alive() and not seen:  # (until the holder's statement runs)
            seen = database.run("SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep(2)%'"
                                ) == [["1"]]
        assert seen and holder.is_alive(), "the second thread's script waited for the first one's"
    finally:
        holder.join()
    assert len(database._session().idle) == 2
    backends = {database.run("SELECT pg_backend_pid()")[0][0] for _ in range(6)}
    assert len(backends) <= 2
