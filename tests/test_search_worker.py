"""course_utils.search_worker: two worker processes share one Optuna study, in SQLite and in a real PostgreSQL.

Chapter 7 says the same worker code runs against a PostgreSQL URL across machines; these tests run it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import optuna
import pytest

from course_utils.grader.pgserver import PostgresServer, PostgresUnavailable
from course_utils.search_worker import load_objective, main

OBJECTIVE = '''
def objective(trial):
    x = trial.suggest_float("x", -3.0, 3.0)
    y = trial.suggest_int("y", 0, 4)
    return (x - 1.0) ** 2 + (y - 2) ** 2
'''
TRIALS = 15


def run_two_workers(storage: str, workdir: Path) -> optuna.Study:
    (workdir / "toy_objective.py").write_text(OBJECTIVE)
    optuna.create_study(study_name="toy", storage=storage, direction="minimize")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(workdir), os.environ.get("PYTHONPATH", "")]))
    workers = [subprocess.Popen([sys.executable, "-m", "course_utils.search_worker", "--storage", storage, "--study", "toy",
                                 "--objective", "toy_objective:objective", "--trials", str(TRIALS), "--worker", str(k),
                                 "--seed", str(k), "--wait-for", "2"],
                                cwd=workdir, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
               for k in range(2)]
    for worker in workers:
        _, errors = worker.communicate(timeout=300)
        assert worker.returncode == 0, errors
    return optuna.load_study(study_name="toy", storage=storage)


def check_shared(study: optuna.Study) -> None:
    trials = study.trials
    assert len(trials) == 2 * TRIALS
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in trials)
    by_worker = {k: sorted(t.number for t in trials if t.user_attrs["worker"] == k) for k in (0, 1)}
    assert [len(numbers) for numbers in by_worker.values()] == [TRIALS, TRIALS]
    assert sorted(by_worker[0] + by_worker[1]) == list(range(2 * TRIALS))  # one counter in the database
    # both ran at the same time: each worker has trials numbered before the other's last one
    assert by_worker[0][0] < by_worker[1][-1] and by_worker[1][0] < by_worker[0][-1]
    assert study.best_value == min(t.value for t in trials)


def test_two_workers_share_a_sqlite_study(tmp_path):
    check_shared(run_two_workers(f"sqlite:///{tmp_path / 'search.db'}", tmp_path))


@pytest.fixture(scope="module")
def postgres():
    server = None
    try:
        server = PostgresServer()
        server.start()
    except (PostgresUnavailable, OSError, subprocess.SubprocessError) as err:
        if server is not None:
            server.stop()
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the PostgreSQL search test, but the server did not start: {err}")
        pytest.skip(f"no PostgreSQL server on this machine ({err}); `apt-get install postgresql` to run this test")
    yield server
    server.stop()


def test_two_workers_share_a_postgresql_study(tmp_path, postgres):
    url = postgres.url.replace("postgresql://", "postgresql+psycopg://", 1)  # SQLAlchemy with the psycopg 3 driver
    check_shared(run_two_workers(url, tmp_path))


def test_bad_objective_spec_is_refused(tmp_path):
    with pytest.raises(ValueError, match="module:function"):
        load_objective("no_colon_here")
    with pytest.raises(SystemExit):
        main(["--study", "toy"])  # argparse: --storage, --objective and --trials are required


def test_a_lone_worker_waiting_for_a_partner_times_out(tmp_path):
    from course_utils.search_worker import run_worker

    storage = f"sqlite:///{tmp_path / 'alone.db'}"
    optuna.create_study(study_name="alone", storage=storage)
    with pytest.raises(TimeoutError, match="fewer than 2 workers"):
        run_worker(storage, "alone", lambda trial: 0.0, 1, worker=0, wait_for=2, timeout=0.3)
