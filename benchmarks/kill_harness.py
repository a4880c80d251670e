"""Crash safety, proven by killing: SIGKILL a stage's driver and its JVM at seeded random times.

    .venv/bin/python benchmarks/kill_harness.py [--workdir DIR] [--kills 10] [--seed 24]
        [--stages clean,features,als,response,bandit]

The world is the simulator's tiny preset over 8 days; `recsys run` of the first 7 days makes
the starting warehouse. Each stage then runs for day 8, in pipeline order (similarity runs too,
unkilled, so every stage reads what the pipeline gives it), as a real `recsys <stage>`
subprocess with the project's config. Per stage:

1. reference: one unkilled run on a copy of the warehouse as it was before the stage gives the
   new tables' fingerprints (benchmarks/fingerprints.py) and how long the stage's own work takes
   (from its "stage S: run" log line to the exit);
2. kills: on a fresh copy each time, start the stage, wait a seeded random time within its work
   and SIGKILL the process group (the Python driver and the JVM it launched). Then check:
   - every table opens and reads whole with deltalake (readable);
   - each table holds its previous content or the reference's new content, nothing else
     (anything else is a partial table);
   - `pipeline_runs` is honest: the killed attempt has no 'succeeded' row unless every table
     already holds its new content (a kill after the last commit);
   - an unkilled rerun converges to the reference's fingerprints;
   - `recsys vacuum` removes the killed attempt's orphan files: after the files are aged past
     the retention window (the guard refuses a shorter one), `recsys vacuum --apply` leaves no
     file that no commit added (files a commit removed stay until their tombstone, dated by
     the commit, ages past the window) and the tables' content unchanged.

Prints a line per kill and a table per stage; exits 1 if any check failed. Times are figures,
never asserted.
"""
from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime as dt
import io
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from urllib.parse import unquote

from deltalake import DeltaTable

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fingerprints import fingerprint  # noqa: E402  (benchmarks/fingerprints.py)

REPO = Path(__file__).resolve().parents[1]
RUNS_TABLE = "pipeline_runs"
START_DATE = "2026-11-01"
BASE_DAYS = 7                       # days the starting warehouse holds; the stages run for day 8
KILL_STAGES = ("clean", "features", "als", "response", "bandit")
CHAIN = ("clean", "features", "similarity", "als", "response", "bandit")
# The tiny world's settings, as tests/conftest.py's pipeline_args (seven days, short splits).
TINY_SETTINGS = ("warehouse.backend=delta_rs", "spark.master=local[2]", "spark.shuffle_partitions=2",
                 "response.validation_days=1", "response.test_days=1",
                 "response.reg_params=[0.1]", "response.elastic_net_params=[0.0]")
AGE_SECONDS = 8 * 24 * 3600         # past the default 168 h retention
GROUP_GONE_TIMEOUT_S = 30.0


# ----------------------------------------------------------------------------- processes
def config_args(warehouse: Path, landing: Path, settings: Sequence[str] = TINY_SETTINGS) -> list[str]:
    args = ["--config", str(REPO / "conf" / "local.yaml"),
            "--set", f"warehouse.root={warehouse}", "--set", f"landing.root={landing}"]
    for item in settings:
        args += ["--set", item]
    return args


def recsys_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "recsys_spark.cli", *args]


def scratch_env(scratch: Path) -> dict[str, str]:
    """Temp files of a killed JVM (block manager, shuffle) land here, not in /tmp."""
    scratch.mkdir(parents=True, exist_ok=True)
    return {**os.environ, "TMPDIR": str(scratch), "SPARK_LOCAL_DIRS": str(scratch),
            "PYSPARK_PYTHON": sys.executable}


def run_checked(command: list[str], env: dict[str, str]) -> float:
    """Run to the end; raise with its stderr if it fails. Returns seconds."""
    started = time.perf_counter()
    result = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command[3:5])} exited {result.returncode}:\n"
                           f"{result.stderr[-3000:]}")
    return time.perf_counter() - started


@dataclasses.dataclass
class StageProcess:
    """A `recsys <stage> -v` process in its own process group, its stderr watched for the line
    the stage runner logs when the stage starts."""

    process: subprocess.Popen
    started: float
    stage_started: threading.Event
    stage_started_at: list[float]
    stderr: list[str]

    @classmethod
    def start(cls, stage: str, run_date: str, warehouse: Path, landing: Path, env: dict[str, str],
              settings: Sequence[str] = TINY_SETTINGS) -> StageProcess:
        command = recsys_command(stage, "--run-date", run_date, "-v",
                                 *config_args(warehouse, landing, settings))
        process = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.PIPE, text=True, start_new_session=True)
        me = cls(process, time.perf_counter(), threading.Event(), [], [])
        marker = f"stage {stage}: run "

        def watch() -> None:
            assert process.stderr is not None
            for text in process.stderr:
                me.stderr.append(text)
                if marker in text and not me.stage_started.is_set():
                    me.stage_started_at.append(time.perf_counter())
                    me.stage_started.set()

        threading.Thread(target=watch, daemon=True).start()
        return me

    def wait_for_stage(self, timeout: float = 600.0) -> float:
        """Seconds from the process start to the stage's start line."""
        while not self.stage_started.wait(0.2):
            if self.process.poll() is not None or time.perf_counter() - self.started > timeout:
                raise RuntimeError("the stage never started:\n" + "".join(self.stderr[-40:]))
        return self.stage_started_at[0] - self.started

    def kill_group(self) -> None:
        """SIGKILL every process of the group (driver, spark-submit launcher, JVM) and wait
        until none is left alive."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()
        deadline = time.monotonic() + GROUP_GONE_TIMEOUT_S
        while live_group_members(self.process.pid):
            if time.monotonic() > deadline:
                raise RuntimeError(f"process group {self.process.pid} still alive after SIGKILL")
            time.sleep(0.1)


def live_group_members(pgid: int) -> list[int]:
    """Processes of group ``pgid`` that are not zombies (from /proc)."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        fields = text[text.rindex(")") + 2:].split()  # after "pid (comm) "
        if int(fields[2]) == pgid and fields[0] != "Z":
            members.append(int(stat.parent.name))
    return members


# ----------------------------------------------------------------------------- warehouse state
def table_dirs(warehouse: Path) -> list[Path]:
    """Folders holding a Delta table: a log with at least one commit. A log folder without one
    (a create killed before its first commit landed) is no table to any reader, as before."""
    return sorted(p for p in warehouse.iterdir()
                  if (p / "_delta_log").is_dir() and any((p / "_delta_log").glob("*.json")))


def snapshot(warehouse: Path) -> dict[str, dict | str]:
    """Every table's fingerprint, or the error text when deltalake cannot read it whole."""
    out: dict[str, dict | str] = {}
    for path in table_dirs(warehouse):
        try:
            out[path.name] = fingerprint(path)
        except Exception as exc:  # an unreadable table is a finding, not a crash of the harness
            out[path.name] = f"unreadable: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}"
    return out


def runs_rows(warehouse: Path) -> list[dict]:
    path = warehouse / RUNS_TABLE
    if not (path / "_delta_log").is_dir():
        return []
    table = DeltaTable(str(path)).to_pyarrow_table(columns=["stage", "run_date", "attempt", "status"])
    return table.to_pylist()


def commit_count(table: Path) -> int:
    log_dir = table / "_delta_log"
    return len(list(log_dir.glob("*.json"))) if log_dir.is_dir() else 0


def referenced_files(warehouse: Path) -> set[str]:
    """Data files the tables' latest versions reference, relative to the warehouse."""
    root = warehouse.resolve()
    return {str(Path(uri).resolve().relative_to(root))
            for path in table_dirs(warehouse) for uri in DeltaTable(str(path)).file_uris()}


def logged_files(warehouse: Path) -> set[str]:
    """Data files any commit of the tables' logs added (live or since removed), relative to the
    warehouse: what a vacuum inside the retention window may keep."""
    found = set()
    for path in table_dirs(warehouse):
        for commit in (path / "_delta_log").glob("*.json"):
            for text in commit.read_text().splitlines():
                add = json.loads(text).get("add") if text.strip() else None
                if add:
                    found.add(f"{path.name}/{unquote(add['path'])}")
    return found


def data_files(warehouse: Path) -> set[str]:
    """Parquet files on disk in the tables' folders, relative to the warehouse."""
    return {str(p.relative_to(warehouse)) for path in table_dirs(warehouse)
            for p in path.rglob("*.parquet") if "_delta_log" not in p.parts}


def age_files(warehouse: Path, seconds: int = AGE_SECONDS) -> None:
    """Move every file's mtime back, as if the retention window had passed."""
    old = time.time() - seconds
    for path in warehouse.rglob("*"):
        os.utime(path, (old, old), follow_symlinks=False)


# ----------------------------------------------------------------------------- one kill
@dataclasses.dataclass
class KillResult:
    stage: str
    kill_after_s: float            # after the stage's start line
    trigger: str                   # "random", or "commit:<table>" (killed right after it)
    finished_first: bool           # the stage ended before the kill: not a kill
    unreadable: list[str]
    partial: list[str]
    new_tables: list[str]          # tables already holding the new content at the kill
    runs_honest: bool
    converged: bool
    orphans: int                   # files the killed attempt wrote that no version references
    orphans_left: int              # of those, still on disk after `recsys vacuum --apply`
    # After vacuum: files on disk that no commit ever added (removed files stay on disk until
    # their tombstone, timed by the commit, passes the retention window; ageing mtimes does not
    # age a tombstone, so those are allowed here).
    unlogged_left: int
    vacuum_kept_content: bool

    @property
    def ok(self) -> bool:
        return (not self.unreadable and not self.partial and self.runs_honest and self.converged
                and self.orphans_left == 0 and self.unlogged_left == 0
                and self.vacuum_kept_content)


def classify(before: dict, after: dict, now: dict) -> tuple[list[str], list[str], list[str]]:
    """(unreadable, partial, new) table names; `pipeline_runs` is checked separately."""
    unreadable = sorted(n for n, fp in now.items() if isinstance(fp, str))
    partial, new = [], []
    for name in sorted((set(before) | set(after) | set(now)) - {RUNS_TABLE}):
        if name in unreadable:
            continue
        state = now.get(name)
        if state == after.get(name) and state != before.get(name):
            new.append(name)
        elif state != before.get(name):
            partial.append(name)
    return unreadable, partial, new


def rerun_with_cli(stage: str, run_date: str, warehouse: Path, landing: Path,
                   env: dict[str, str], settings: Sequence[str] = TINY_SETTINGS) -> None:
    run_checked(recsys_command(stage, "--run-date", run_date,
                               *config_args(warehouse, landing, settings)), env)


class InProcessRerun:
    """Reruns a stage in this process on one long-lived Spark session, with the config the CLI
    loads for the same arguments (so run ids and contents match a `recsys <stage>` run). Saves
    a JVM start per kill; the killed runs themselves stay real processes."""

    def __init__(self, landing: Path, settings: Sequence[str] = TINY_SETTINGS) -> None:
        self.landing = landing
        self.settings = settings

    def __call__(self, stage: str, run_date: str, warehouse: Path) -> None:
        from recsys_spark.config import load_config
        from recsys_spark.pipeline import load_stage
        from recsys_spark.runs import RunContext
        from recsys_spark.spark import build_spark_session
        from recsys_spark.stage_runner import run_stage
        from recsys_spark.tables import TableStore

        config = load_config(REPO / "conf" / "local.yaml",
                             [f"warehouse.root={warehouse}", f"landing.root={self.landing}",
                              *self.settings])
        # getOrCreate: the first call starts the session, later ones re-point its checkpoint dir
        spark = build_spark_session(config.spark, "kill-harness-rerun", config.warehouse.root,
                                    delta_backend=config.warehouse.backend)
        run_stage(spark, TableStore(spark, config.warehouse),
                  RunContext(config=config, run_date=dt.date.fromisoformat(run_date), stage=stage),
                  load_stage(stage))


def vacuum_apply(warehouse: Path, landing: Path, settings: Sequence[str] = TINY_SETTINGS) -> None:
    """`recsys vacuum --apply` (it reads the logs with delta-rs only: no Spark, so in-process)."""
    from recsys_spark.cli import main as recsys_main

    with contextlib.redirect_stdout(io.StringIO()):
        code = recsys_main(["vacuum", "--apply", *config_args(warehouse, landing, settings)])
    if code != 0:
        raise RuntimeError(f"recsys vacuum --apply exited {code}")


def kill_once(stage: str, run_date: str, before_dir: Path, trial_dir: Path, landing: Path,
              before: dict, after: dict, kill_after_s: float, env: dict[str, str],
              settings: Sequence[str] = TINY_SETTINGS,
              rerun: Callable[[Path], None] | None = None,
              kill_on_commit: str | None = None) -> KillResult:
    """Copy the before-state, kill the stage ``kill_after_s`` after it starts (or, with
    ``kill_on_commit``, as soon as that table has a new commit), check, rerun
    (``rerun(warehouse)``; default: the same `recsys` command, unkilled), vacuum, check again."""
    shutil.rmtree(trial_dir, ignore_errors=True)
    shutil.copytree(before_dir, trial_dir)
    runs_before = {r["attempt"] for r in runs_rows(trial_dir)}
    proc = StageProcess.start(stage, run_date, trial_dir, landing, env, settings)
    proc.wait_for_stage()
    if kill_on_commit is None:
        deadline = proc.stage_started_at[0] + kill_after_s
        while time.perf_counter() < deadline and proc.process.poll() is None:
            time.sleep(0.01)
    else:
        commits = commit_count(trial_dir / kill_on_commit)
        while commit_count(trial_dir / kill_on_commit) == commits and proc.process.poll() is None:
            time.sleep(0.005)
        kill_after_s = time.perf_counter() - proc.stage_started_at[0]
    finished_first = proc.process.poll() is not None
    proc.kill_group()

    orphans = data_files(trial_dir) - data_files(before_dir) - referenced_files(trial_dir)
    now = snapshot(trial_dir)
    unreadable, partial, new = classify(before, after, now)
    outputs = sorted(n for n in set(after) - {RUNS_TABLE} if after.get(n) != before.get(n))
    attempt_rows = [r for r in runs_rows(trial_dir) if r["attempt"] not in runs_before]
    claims_success = any(r["status"] == "succeeded" and r["stage"] == stage for r in attempt_rows)
    runs_honest = not claims_success or sorted(new) == outputs

    if rerun is None:
        rerun_with_cli(stage, run_date, trial_dir, landing, env, settings)
    else:
        rerun(trial_dir)
    rerun_state = snapshot(trial_dir)
    converged = ({n: fp for n, fp in rerun_state.items() if n != RUNS_TABLE}
                 == {n: fp for n, fp in after.items() if n != RUNS_TABLE})
    converged = converged and any(r["status"] == "succeeded" and r["stage"] == stage
                                  and r["attempt"] not in runs_before for r in runs_rows(trial_dir))

    age_files(trial_dir)
    vacuum_apply(trial_dir, landing, settings)
    on_disk = data_files(trial_dir)
    kept = ({n: fp for n, fp in snapshot(trial_dir).items() if n != RUNS_TABLE}
            == {n: fp for n, fp in rerun_state.items() if n != RUNS_TABLE})
    trigger = "random" if kill_on_commit is None else f"commit:{kill_on_commit}"
    return KillResult(stage, kill_after_s, trigger, finished_first, unreadable, partial, new, runs_honest,
                      converged, len(orphans), len(orphans & on_disk),
                      len(on_disk - logged_files(trial_dir)), kept)


# ----------------------------------------------------------------------------- the world
def build_world(work: Path, env: dict[str, str]) -> tuple[Path, Path]:
    """Landing with BASE_DAYS + 1 simulated days and a warehouse after `recsys run` of the
    first BASE_DAYS (kept in ``work`` and reused when present)."""
    landing, warehouse = work / "landing", work / "base0"
    if (work / "base0.done").exists():
        return landing, warehouse
    shutil.rmtree(landing, ignore_errors=True)
    shutil.rmtree(warehouse, ignore_errors=True)
    print(f"simulating {BASE_DAYS + 1} tiny days into {landing}", flush=True)
    run_checked(recsys_command("simulate", "--preset", "tiny", "--days", str(BASE_DAYS + 1),
                               "--start-date", START_DATE, "--landing", str(landing),
                               *config_args(warehouse, landing)), env)
    print(f"recsys run of the first {BASE_DAYS} days into {warehouse}", flush=True)
    run_checked(recsys_command("run", "--no-simulate", "--no-report", "--start-date", START_DATE,
                               "--days", str(BASE_DAYS), *config_args(warehouse, landing)), env)
    (work / "base0.done").touch()
    return landing, warehouse


@dataclasses.dataclass
class StageFigures:
    stage: str
    reference_s: float
    work_s: float
    kills: list[KillResult]


def run_stage_kills(stage: str, run_date: str, before_dir: Path, after_dir: Path, work: Path,
                    landing: Path, kills: int, rng: random.Random, env: dict[str, str],
                    settings: Sequence[str] = TINY_SETTINGS,
                    rerun: InProcessRerun | None = None) -> StageFigures:
    """The reference run into ``after_dir`` (the next stage's before-state), then ``kills``
    killed runs, each on a fresh copy of ``before_dir``."""
    shutil.rmtree(after_dir, ignore_errors=True)
    shutil.copytree(before_dir, after_dir)
    proc = StageProcess.start(stage, run_date, after_dir, landing, env, settings)
    startup = proc.wait_for_stage()
    code = proc.process.wait()
    total = time.perf_counter() - proc.started
    if code != 0:
        raise RuntimeError(f"reference {stage} exited {code}:\n" + "".join(proc.stderr[-40:]))
    work_s = total - startup
    before, after = snapshot(before_dir), snapshot(after_dir)
    print(f"{stage}: reference {total:.1f} s (stage work {work_s:.1f} s); tables changed: "
          + ", ".join(n for n in sorted(after) if after[n] != before.get(n) and n != RUNS_TABLE),
          flush=True)
    results: list[KillResult] = []

    def kill(kill_after: float, on_commit: str | None = None) -> None:
        result = kill_once(stage, run_date, before_dir, work / f"trial-{stage}", landing,
                           before, after, kill_after, env, settings,
                           rerun=None if rerun is None else (lambda wh: rerun(stage, run_date, wh)),
                           kill_on_commit=on_commit)
        results.append(result)
        print(f"  kill {len(results):2d} ({result.trigger}) at +{result.kill_after_s:5.1f} s: "
              + ("finished first; " if result.finished_first else "")
              + f"new {','.join(result.new_tables) or '-'}; unreadable {len(result.unreadable)}, "
              f"partial {len(result.partial)}{' ' + str(result.partial) if result.partial else ''}, "
              f"runs honest {result.runs_honest}, rerun converged {result.converged}, "
              f"orphans {result.orphans} -> {result.orphans_left} after vacuum",
              flush=True)

    attempts = 0
    while sum(not r.finished_first for r in results) < kills and attempts < 3 * kills:
        attempts += 1
        kill(rng.uniform(0.0, work_s))
    # Random times rarely hit the moments between two commits; these kills do, once per table
    # the stage writes (pipeline_runs last: then the attempt is complete and says so).
    for table in sorted(n for n in after if after[n] != before.get(n)):
        kill(0.0, on_commit=table)
    return StageFigures(stage, total, work_s, results)


def print_summary(figures: list[StageFigures]) -> None:
    header = ("stage", "trigger", "ref_s", "kills", "new_tables", "readable", "partial",
              "runs_honest", "converged", "orphans", "orphans_left", "unlogged")
    print(" ".join(f"{h:>12}" for h in header))
    for f, trigger in [(f, t) for f in figures for t in ("random", "commit")]:
        killed = [k for k in f.kills if not k.finished_first and k.trigger.startswith(trigger)]
        row = (f.stage, trigger, f"{f.reference_s:.1f}", len(killed),
               sum(bool(k.new_tables) for k in killed),
               f"{sum(not k.unreadable for k in killed)}/{len(killed)}",
               sum(len(k.partial) for k in killed),
               f"{sum(k.runs_honest for k in killed)}/{len(killed)}",
               f"{sum(k.converged for k in killed)}/{len(killed)}",
               sum(k.orphans for k in killed), sum(k.orphans_left for k in killed),
               sum(k.unlogged_left for k in killed))
        print(" ".join(f"{str(v):>12}" for v in row))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, default=None,
                        help="kept between runs: the simulated world is reused")
    parser.add_argument("--stages", default=",".join(KILL_STAGES))
    parser.add_argument("--kills", type=int, default=10, help="kills per stage")
    parser.add_argument("--seed", type=int, default=24)
    parser.add_argument("--json", type=Path, default=None, help="write every kill's result here")
    parser.add_argument("--rerun", choices=("in-process", "cli"), default="in-process",
                        help="how the rerun after a kill runs: on this process's Spark session "
                             "(default, saves a JVM start per kill) or as a `recsys` process")
    args = parser.parse_args(argv)
    stages = [s.strip() for s in args.stages.split(",") if s.strip()]
    unknown = sorted(set(stages) - set(CHAIN))
    if unknown:
        parser.error(f"unknown stage(s) {', '.join(unknown)}")
    work = args.workdir or Path(tempfile.mkdtemp(prefix="kill-harness-"))
    work.mkdir(parents=True, exist_ok=True)
    env = scratch_env(work / "scratch")
    landing, before_dir = build_world(work, env)
    run_date = (dt.date.fromisoformat(START_DATE) + dt.timedelta(days=BASE_DAYS)).isoformat()
    rng = random.Random(args.seed)
    rerun = InProcessRerun(landing) if args.rerun == "in-process" else None
    figures: list[StageFigures] = []
    last_needed = max(CHAIN.index(s) for s in stages)
    for stage in CHAIN[: last_needed + 1]:
        after_dir = work / f"after-{stage}"
        if stage in stages:
            figures.append(run_stage_kills(stage, run_date, before_dir, after_dir, work, landing,
                                           args.kills, rng, env, rerun=rerun))
        else:  # run unkilled so the next stage reads what the pipeline gives it
            shutil.rmtree(after_dir, ignore_errors=True)
            shutil.copytree(before_dir, after_dir)
            seconds = run_checked(recsys_command(stage, "--run-date", run_date,
                                                 *config_args(after_dir, landing)), env)
            print(f"{stage}: run unkilled in {seconds:.1f} s", flush=True)
        shutil.rmtree(work / "scratch", ignore_errors=True)
        env = scratch_env(work / "scratch")
        before_dir = after_dir
    print_summary(figures)
    if args.json:
        args.json.write_text(json.dumps([dataclasses.asdict(k) for f in figures for k in f.kills],
                                        indent=1))
    failed = [k for f in figures for k in f.kills if not k.finished_first and not k.ok]
    print(f"checks failed: {len(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
