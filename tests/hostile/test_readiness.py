"""``/livez`` and ``/readyz``: a SQLite file deleted (or replaced) under a running daemon was reported "ok" by
``/healthz`` (the open connections keep answering from the old inode) while every worker process failed.

Readiness now checks that the file is still the one opened at start and that the database answers within
a timeout; liveness checks nothing but the process, so an orchestrator does not restart ticketbot only
because the database is briefly away. ``/healthz`` answers as ``/readyz``.
"""

from __future__ import annotations

import os
import shutil
import threading

from fastapi.testclient import TestClient

from bot.daemon.health import DatabaseProbe
from bot.inbox.spool import IntakeFile, intake_path
from tests.support.daemon import onboarding_site


def _database_file(daemon) -> str:
    return daemon.store.engine.url.database


def test_deleting_the_sqlite_file_under_a_running_daemon_makes_it_unready_but_still_live(make_daemon):
    daemon = make_daemon(onboarding_site(["SS-1"]))
    path = _database_file(daemon)
    with TestClient(daemon.app) as http:  # the lifespan runs: workers and scheduler are up
        assert http.get("/readyz").status_code == 200
        assert http.get("/healthz").json()["status"] == "ok"
        for suffix in ("", "-wal", "-shm"):
            if os.path.exists(path + suffix):
                os.remove(path + suffix)
        ready = http.get("/readyz")
        assert ready.status_code == 503
        report = ready.json()
        assert report["status"] == "unhealthy" and path in report["database"] and "is gone" in report["database"]
        assert report["problems"] == [f"database: {report['database']}"]
        assert (http.get("/healthz").status_code, http.get("/healthz").json()) == (503, report)
        assert (http.get("/livez").status_code, http.get("/livez").json()) == (200, {"status": "alive"})


def test_a_sqlite_file_replaced_by_another_makes_the_daemon_unready(make_daemon, tmp_path):
    daemon = make_daemon(onboarding_site(["SS-1"]))
    path = _database_file(daemon)
    with TestClient(daemon.app) as http:
        assert http.get("/readyz").status_code == 200
        shutil.copy(path, tmp_path / "restored.sqlite3")  # a backup restored over it: another inode
        os.replace(tmp_path / "restored.sqlite3", path)
        report = http.get("/readyz").json()
        assert "was replaced" in report["database"] and "restart ticketbot" in report["database"]
        assert http.get("/livez").status_code == 200


def test_a_deleted_intake_file_makes_the_daemon_unready(make_daemon):
    daemon = make_daemon(onboarding_site(["SS-1"]))
    spool = intake_path(str(daemon.store.engine.url))
    assert spool is not None
    daemon.inbox.receive_through(IntakeFile(spool))  # as `ticketbot run` does with worker processes on SQLite
    with TestClient(daemon.app) as http:
        assert http.get("/readyz").json()["intake"] == "ok"
        os.remove(spool)
        ready = http.get("/readyz")
        assert ready.status_code == 503 and "the intake file" in ready.json()["intake"]
        assert http.get("/livez").status_code == 200


def test_a_database_that_does_not_answer_gets_one_query_and_is_ready_once_it_answers(make_daemon):
    daemon = make_daemon(onboarding_site(["SS-1"]))
    release, asked = threading.Event(), []

    def hung_query() -> None:
        asked.append(1)
        release.wait(10)

    probe = DatabaseProbe(daemon.store.engine, timeout=0, query=hung_query)
    try:
        assert probe.problem() == "unreachable: no answer to SELECT 1 within 0s"
        # the hung query is waited for again, not joined by another one
        assert probe.problem() == "unreachable: SELECT 1 still unanswered after 2 checks"
        assert len(asked) == 1
    finally:
        release.set()
    probe.timeout = 10  # an upper bound: the answer is there already (the wait ends at once)
    assert probe.problem() is None  # the slow answer counts
