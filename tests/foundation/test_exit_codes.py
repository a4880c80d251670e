"""The exit-code table (recsys_spark/errors.py) through the real `recsys` CLI and spark-submit.

0 success, 1 a bug (traceback kept), 2 the user's mistake, 3 a gate stopped the publish, 4 a
concurrent writer won, 5 input unreadable. Every case is a real process on real Delta tables;
the failures are the cheap ones (before any heavy work), so each process costs one JVM start.
"""
from __future__ import annotations

import datetime as dt
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from deltalake import CommitProperties, DeltaTable, Transaction
from pyspark.errors import AnalysisException

from recsys_spark.clean.reader import CleanInputError
from recsys_spark.clean.stage import ConservationError, EmptyInputError
from recsys_spark.errors import (
    EXIT_BUG,
    EXIT_CONCURRENT_WRITE,
    EXIT_INPUT_UNREADABLE,
    EXIT_OK,
    EXIT_QUALITY_GATE,
    EXIT_USER_ERROR,
    ConcurrentWriteError,
    ConfigError,
    DataQualityError,
    InputUnreadableError,
    UnknownTableError,
    exit_code_for,
    one_line,
)
from recsys_spark.pipeline import PipelineError
from recsys_spark.tables import TableStore
from tests.clean.helpers import RUN_DATE, event, line, run_clean, write_lines
from tests.cluster.standalone import cluster_env
from tests.conftest import REPO_ROOT
from tests.factories import make_config

pytestmark = pytest.mark.stage
DAY = RUN_DATE.isoformat()
DAY_BEFORE = RUN_DATE - dt.timedelta(days=1)


def roots(tmp_path: Path) -> list[str]:
    return ["--set", f"warehouse.root={tmp_path / 'warehouse'}",
            "--set", f"landing.root={tmp_path / 'landing'}",
            "--set", "warehouse.backend=delta_rs",  # no fallback notice when the jars are absent
            "--set", "spark.master=local[1]", "--set", "spark.shuffle_partitions=1"]


def recsys(*args: str, prelude: str = "") -> subprocess.CompletedProcess:
    """`python -m recsys_spark.cli ARGS` from the repository root (``prelude``: Python run
    first in the same process, to plant a bug)."""
    code = f"{prelude}\nimport sys\nfrom recsys_spark.cli import main\nsys.exit(main(sys.argv[1:]))"
    return subprocess.run([sys.executable, "-c", code, *args], cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=300)


def spark_submit(job: str, *args: str, work: Path) -> subprocess.CompletedProcess:
    env = {**cluster_env(work), "PYTHONPATH": str(REPO_ROOT)}
    command = [str(Path(sys.executable).parent / "spark-submit"), "--master", "local[1]",
               "--driver-memory", "1g", str(REPO_ROOT / "jobs" / job), *args]
    return subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True, text=True,
                          timeout=300)


def _without_jvm_log(text: str) -> list[str]:
    return [x for x in text.strip().splitlines()
            if x and not x.startswith(("WARNING", "Using ", "Setting default log level", "To adjust"))
            and " WARN " not in x and " INFO " not in x]


def stderr_lines(result: subprocess.CompletedProcess) -> list[str]:
    """stderr without the JVM's own log lines."""
    return _without_jvm_log(result.stderr)


def driver_lines(result: subprocess.CompletedProcess) -> list[str]:
    """What the Python driver printed under spark-submit (its stdout and stderr, merged)."""
    return _without_jvm_log(result.stdout)


def land(tmp_path: Path, day: dt.date, lines: list[str]) -> Path:
    return write_lines(tmp_path / "landing" / "events" / f"date={day.isoformat()}" / "p.jsonl.gz",
                       lines)


@pytest.fixture
def cleaned_day_before(spark, tmp_path) -> Path:
    """A warehouse with `events` holding DAY_BEFORE's three events (cleaned in-process)."""
    config = make_config(tmp_path)
    land(tmp_path, DAY_BEFORE, [line(event(n, event_time="2026-11-01T09:00:00Z"))
                                for n in range(1, 4)])
    run_clean(spark, config, DAY_BEFORE)
    return tmp_path / "warehouse" / "events"


# ----------------------------------------------------------------- the table, class by class
@pytest.mark.unit
@pytest.mark.parametrize(("error", "code"), [
    (ConfigError("--set x=1: unknown key"), EXIT_USER_ERROR),
    (CleanInputError("input not found: /landing/events/date=2026-11-02"), EXIT_USER_ERROR),
    (UnknownTableError("unknown table 'nope'"), EXIT_USER_ERROR),
    (PipelineError("unknown stage 'nope'"), EXIT_USER_ERROR),
    (DataQualityError("clean: QuarantineShare 0.4 (max 0.35)"), EXIT_QUALITY_GATE),
    (EmptyInputError("clean 2026-11-02: no input records"), EXIT_QUALITY_GATE),
    (ConservationError("clean: conservation breached"), EXIT_BUG),
    (ConcurrentWriteError("table events: changed from version 3 to 4"), EXIT_CONCURRENT_WRITE),
    (InputUnreadableError("events: data file gone"), EXIT_INPUT_UNREADABLE),
    (KeyError("users"), EXIT_BUG),
    (ValueError("a bug"), EXIT_BUG),
])
def test_each_error_class_has_its_code(error, code):
    assert exit_code_for(error) == code


# ----------------------------------------------------------------- 2, 3 through the CLI
def test_empty_day_exits_3_and_commits_nothing(tmp_path):
    land(tmp_path, RUN_DATE, [])
    result = recsys("clean", "--run-date", DAY, *roots(tmp_path))
    assert result.returncode == EXIT_QUALITY_GATE, result.stderr
    assert stderr_lines(result) == [
        f"recsys: data-quality gate failed: clean {DAY}: no input records under "
        f"{tmp_path}/landing/events/date={DAY} (1 files, 0 blank lines); nothing was committed "
        "(if the day is really empty, rerun with --allow-empty)"]
    assert not (tmp_path / "warehouse" / "events").exists()
    runs = DeltaTable(str(tmp_path / "warehouse" / "pipeline_runs")).to_pyarrow_table()
    assert runs.select(["stage", "status"]).to_pylist() == [{"stage": "clean", "status": "failed"}]


def test_run_with_an_unknown_stage_exits_2_before_spark(tmp_path):
    result = recsys("run", "--only", "clean,nope", *roots(tmp_path))
    assert result.returncode == EXIT_USER_ERROR
    assert stderr_lines(result) == [
        "recsys: error: unknown stage 'nope' (stages: clean, features, similarity, als, "
        "response, bandit, readout)"]


# ----------------------------------------------------------------- 1: a bug keeps its traceback
# A features stage with a programming error, planted in the CLI's process.
BUGGY_FEATURES = """
import recsys_spark.pipeline as pipeline
def features_with_a_bug(spark, store, ctx):
    return {"rows": 1}["users"]
pipeline.STAGES["features"] = "__main__:features_with_a_bug"
"""


def test_a_bug_in_a_stage_exits_1_with_its_traceback_and_a_failed_row(tmp_path):
    (tmp_path / "landing" / "events" / f"date={DAY}").mkdir(parents=True)
    result = recsys("run", "--no-simulate", "--no-report", "--start-date", DAY, "--days", "1",
                    "--only", "features", *roots(tmp_path), prelude=BUGGY_FEATURES)
    assert result.returncode == EXIT_BUG, result.stderr
    assert "Traceback (most recent call last)" in result.stderr
    assert 'line 4, in features_with_a_bug' in result.stderr
    assert stderr_lines(result)[-1] == (
        f"recsys: stage features failed for {DAY} (exit 1): KeyError: 'users'; later stages were "
        "not run (fix and resume with --from-stage features)")
    runs = DeltaTable(str(tmp_path / "warehouse" / "pipeline_runs")).to_pyarrow_table()
    assert runs.select(["stage", "status", "error"]).to_pylist() == [
        {"stage": "features", "status": "failed", "error": "KeyError: 'users'"}]


# ----------------------------------------------------------------- 4: a concurrent writer won
@pytest.fixture
def same_day_writer(cleaned_day_before: Path) -> Iterator[threading.Event]:
    """Another writer of RUN_DATE's `events` transaction, committing every 50 ms (metadata-only
    commits: the rows do not change) until the test ends. Returns the stop event."""
    stop = threading.Event()
    uri = str(cleaned_day_before)

    def commit_forever() -> None:
        version = 0
        while not stop.is_set():
            version += 1
            table = DeltaTable(uri)
            table.create_write_transaction(
                [], mode="append", schema=table.schema(), partition_by=["event_date", "run_date"],
                commit_properties=CommitProperties(
                    app_transactions=[Transaction(f"events/clean/{DAY}", version)]))
            stop.wait(0.05)

    writer = threading.Thread(target=commit_forever, daemon=True)
    writer.start()
    yield stop
    stop.set()
    writer.join()


def test_a_concurrent_writer_of_the_same_day_wins_and_the_loser_exits_4(tmp_path, same_day_writer):
    land(tmp_path, RUN_DATE, [line(event(n)) for n in range(10, 14)])
    result = recsys("clean", "--run-date", DAY, *roots(tmp_path))
    same_day_writer.set()
    assert result.returncode == EXIT_CONCURRENT_WRITE, result.stderr
    [message] = stderr_lines(result)
    assert message.startswith("recsys: concurrent write (nothing committed; safe to retry): "
                              "table events: ")
    events = DeltaTable(str(tmp_path / "warehouse" / "events")).to_pyarrow_table()
    assert sorted(events["event_id"].to_pylist()) == [f"e{n:016x}" for n in range(1, 4)]


# ----------------------------------------------------------------- 5: input unreadable
def test_a_corrupt_data_file_of_an_input_table_exits_5(tmp_path, cleaned_day_before: Path):
    data_files = list(cleaned_day_before.rglob("*.parquet"))
    for data_file in data_files:
        data_file.write_bytes(b"not parquet" * 64)
    land(tmp_path, RUN_DATE, [line(event(20))])
    result = recsys("clean", "--run-date", DAY, *roots(tmp_path))
    assert result.returncode == EXIT_INPUT_UNREADABLE, result.stderr
    assert "Traceback" not in result.stderr  # above our line: only Spark's own task log
    message = stderr_lines(result)[-1]
    prefix = ("recsys: input unreadable: [FAILED_READ_FILE.NO_HINT] Encountered error while "
              "reading file file://")
    assert message.startswith(prefix) and any(str(f) in message for f in data_files), message


def test_a_data_file_gone_from_an_input_table_is_unreadable_input(spark, tmp_path,
                                                                  cleaned_day_before: Path):
    for data_file in cleaned_day_before.rglob("*.parquet"):
        data_file.unlink()
    store = TableStore(spark, make_config(tmp_path).warehouse)
    with pytest.raises(AnalysisException) as raised:
        store.read("events").count()
    assert exit_code_for(raised.value) == EXIT_INPUT_UNREADABLE
    assert one_line(raised.value).startswith("input unreadable: [PATH_NOT_FOUND] Path does not "
                                             f"exist: file:{cleaned_day_before}/")


def test_a_corrupt_delta_log_exits_5_without_spark(tmp_path):
    log_dir = tmp_path / "warehouse" / "events" / "_delta_log"
    log_dir.mkdir(parents=True)
    (log_dir / f"{0:020d}.json").write_text("{not json")
    result = recsys("tables", *roots(tmp_path))
    assert result.returncode == EXIT_INPUT_UNREADABLE
    assert stderr_lines(result) == [
        "recsys: input unreadable: Kernel error: Json error: Encountered unexpected 'n' whilst "
        "parsing object"]


# ----------------------------------------------------------------- the same codes under spark-submit
def test_spark_submit_jobs_exit_with_the_same_codes(tmp_path):
    # spark-submit merges the Python driver's stderr into its stdout.
    land(tmp_path, RUN_DATE, [])
    work = tmp_path / "submit"
    work.mkdir()

    bad_date = spark_submit("clean_events.py", "--run-date", "2026-13-01", *roots(tmp_path), work=work)
    assert bad_date.returncode == EXIT_USER_ERROR
    assert driver_lines(bad_date)[-1] == (
        "recsys clean: error: argument --run-date: '2026-13-01': expected a date as YYYY-MM-DD")

    # `run` stops at the failing stage (features never runs) and exits with its code.
    gated = spark_submit("run_pipeline.py", "--no-simulate", "--no-report", "--start-date", DAY,
                         "--days", "1", "--only", "clean,features", *roots(tmp_path), work=work)
    assert gated.returncode == EXIT_QUALITY_GATE, gated.stdout[-3000:]
    lines = driver_lines(gated)
    assert [row.split()[:3] for row in lines if row.startswith(("clean ", "features "))] == [
        ["clean", DAY, "failed"]]
    assert lines[-1].startswith(
        f"recsys: stage clean failed for {DAY} (exit 3): data-quality gate failed: clean {DAY}: "
        "no input records under ")

    allowed = spark_submit("clean_events.py", "--run-date", DAY, "--allow-empty",
                           *roots(tmp_path), work=work)
    assert allowed.returncode == EXIT_OK, allowed.stdout[-3000:]
    assert driver_lines(allowed)[-1] == (
        f"clean {DAY}: no input records ({tmp_path}/landing/events/date={DAY}); empty day "
        "accepted (--allow-empty), nothing committed but its pipeline_runs row")
    runs = DeltaTable(str(tmp_path / "warehouse" / "pipeline_runs")).to_pyarrow_table()
    assert [r["status"] for r in sorted(runs.to_pylist(), key=lambda r: r["attempt"])] == [
        "failed", "succeeded"]


@pytest.mark.unit
def test_the_exit_codes_are_what_the_readme_documents():
    readme = (REPO_ROOT / "README.md").read_text()
    for code, meaning in [(EXIT_OK, "success"), (EXIT_BUG, "a bug"),
                          (EXIT_USER_ERROR, "your mistake"), (EXIT_QUALITY_GATE, "gate stopped"),
                          (EXIT_CONCURRENT_WRITE, "concurrent writer"),
                          (EXIT_INPUT_UNREADABLE, "unreadable")]:
        assert any(row.startswith(f"| {code} |") and meaning in row
                   for row in readme.splitlines()), code
