"""`recsys run` on the same world with two (or more) commits, side by side in one benchmark run.

    .venv/bin/python benchmarks/compare_commits.py 5102bc6 HEAD             # the demo preset
    .venv/bin/python benchmarks/compare_commits.py 5102bc6 main HEAD --rounds 2 --preset tiny

Each commit is checked out into its own detached worktree under the scratch folder (the current
checkout is used as is for ``.``). The world is simulated once, by the newest commit named, and
copied for every run, so every commit cleans and models the same raw files. Runs alternate
between the commits (A B A B ...) so a change of load on a shared machine hits them alike; each
run is `recsys run --no-simulate` as a child process (the commit's own code on PYTHONPATH), and
per-stage seconds and Spark job counts come back from its `pipeline_runs` table. Commits that
know the native Delta backend get the pinned jars (RECSYS_JARS_DIR, default this checkout's
.jars/), as `make demo` gives a user. The load average is printed next to every run. Prints a
table and writes JSON; asserts nothing.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from deltalake import DeltaTable
from memory import RssSampler

REPO = Path(__file__).resolve().parent.parent
STAGES = ("clean", "features", "similarity", "als", "response", "bandit")


def git(*args: str, cwd: Path = REPO) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True,
                          text=True).stdout.strip()


def checkout(commit: str, scratch: Path) -> tuple[str, Path]:
    """(short sha, folder holding that commit's code)."""
    if commit == ".":
        return "worktree", REPO
    if Path(commit).is_dir():  # an existing checkout (e.g. a worktree of the old commit)
        return git("rev-parse", "--short", "HEAD", cwd=Path(commit)), Path(commit)
    sha = git("rev-parse", "--short", commit)
    folder = scratch / f"code-{sha}"
    if not folder.exists():
        git("worktree", "add", "--detach", str(folder), sha)
    return sha, folder


def recsys(code: Path, args: list[str], log_path: Path, jars: Path) -> tuple[int, float, RssSampler]:
    env = {**os.environ, "PYTHONPATH": str(code), "RECSYS_JARS_DIR": str(jars),
           "PYSPARK_PYTHON": sys.executable}
    command = [sys.executable, "-c", "import sys; from recsys_spark.cli import main; "
               "sys.exit(main(sys.argv[1:]))", *args]
    started = time.time()
    with open(log_path, "a") as log:
        child = subprocess.Popen(command, cwd=code, env=env, stdout=log, stderr=subprocess.STDOUT)
        sampler = RssSampler(child.pid).start()
        code_ = child.wait()
        sampler.stop()
    return code_, time.time() - started, sampler


def common_args(root: Path, args: argparse.Namespace) -> list[str]:
    return ["--config", "conf/local.yaml", "--set", f"warehouse.root={root / 'warehouse'}",
            "--set", f"landing.root={root / 'landing'}", "--preset", args.preset,
            "--days", str(args.days), *[x for s in args.set for x in ("--set", s)]]


def stage_figures(warehouse: Path, since: float) -> dict[str, dict[str, float]]:
    """Per stage: seconds (summed over clean's days) and Spark jobs (when the code counts them)."""
    rows = DeltaTable(str(warehouse / "pipeline_runs")).to_pyarrow_table().to_pylist()
    out: dict[str, dict[str, float]] = {}
    for row in rows:
        if row["status"] != "succeeded" or row["started_at"].timestamp() < since - 5:
            continue
        entry = out.setdefault(row["stage"], {"seconds": 0.0, "runs": 0})
        entry["seconds"] += row["duration_s"]
        entry["runs"] += 1
        jobs = dict(row["metrics"] or {}).get("spark_jobs")
        if jobs is not None:
            entry["jobs"] = entry.get("jobs", 0) + jobs
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("commits", nargs="+",
                        help="commits to compare ('.' = this checkout as is; a folder = that checkout)")
    parser.add_argument("--preset", default="demo")
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--rounds", type=int, default=1, help="runs per commit, interleaved")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="config override for every run (e.g. spark.master=local[2])")
    parser.add_argument("--scratch", default=None)
    parser.add_argument("--jars", default=os.environ.get("RECSYS_JARS_DIR", str(REPO / ".jars")))
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    scratch = Path(args.scratch or tempfile.mkdtemp(prefix="recsys-compare-"))
    scratch.mkdir(parents=True, exist_ok=True)
    codes = [checkout(c, scratch) for c in args.commits]
    world = scratch / "world"
    if not (world / "landing").exists():
        sha, code = codes[-1]
        print(f"simulating the {args.preset} world with {sha} ...", flush=True)
        rc, seconds, _ = recsys(code, ["simulate", *common_args(world, args)], scratch / "simulate.log",
                                Path(args.jars))
        if rc:
            raise SystemExit(f"compare_commits.py: simulate failed; see {scratch / 'simulate.log'}")
        print(f"  {seconds:.1f} s", flush=True)
    results: dict[str, list[dict]] = {sha: [] for sha, _ in codes}
    for round_no in range(args.rounds):
        for sha, code in codes:
            root = scratch / f"run-{sha}-{round_no}"
            shutil.rmtree(root, ignore_errors=True)
            shutil.copytree(world / "landing", root / "landing")
            load = os.getloadavg()
            started = time.time()
            rc, seconds, sampler = recsys(code, ["run", *common_args(root, args), "--no-simulate",
                                                 "--no-report"], root / "run.log", Path(args.jars))
            if rc:
                raise SystemExit(f"compare_commits.py: {sha} failed; see {root / 'run.log'}")
            stages = stage_figures(root / "warehouse", started)
            python_mb, jvm_mb = sampler.peak_between(0, float("inf"))
            result = {"seconds": seconds, "stages": stages, "load_before": load[0],
                      "load_after": os.getloadavg()[0], "peak_jvm_mb": jvm_mb,
                      "peak_python_mb": python_mb}
            results[sha].append(result)
            print(f"round {round_no + 1} {sha}: {seconds:.1f} s (load {load[0]:.1f} -> "
                  f"{result['load_after']:.1f}); " + ", ".join(
                      f"{s} {stages[s]['seconds']:.1f}" for s in STAGES if s in stages), flush=True)
            shutil.rmtree(root / "landing", ignore_errors=True)
    print_table(results)
    out = Path(args.json or scratch / "compare.json")
    out.write_text(json.dumps({"args": vars(args), "results": results}, indent=1, default=str))
    print(f"wrote {out}")
    return 0


def print_table(results: dict[str, list[dict]]) -> None:
    """Median seconds (and Spark jobs) per stage per commit, and each commit's ratio to the first."""
    shas = list(results)
    header = f"{'stage':<12}" + "".join(f"{sha + ' s':>14}{'jobs':>7}" for sha in shas)
    if len(shas) > 1:
        header += "".join(f"{sha + '/' + shas[0]:>22}" for sha in shas[1:])
    print("\n" + header)

    def median(sha: str, stage: str | None, key: str = "seconds") -> float | None:
        values = [r["seconds"] if stage is None else r["stages"].get(stage, {}).get(key)
                  for r in results[sha]]
        values = [v for v in values if v is not None]
        return statistics.median(values) if values else None

    for stage in (*STAGES, None):
        line = f"{stage or 'recsys run':<12}"
        for sha in shas:
            s, jobs = median(sha, stage), median(sha, stage, "jobs") if stage else None
            line += f"{s:>14.1f}" if s is not None else f"{'-':>14}"
            line += f"{jobs:>7.0f}" if jobs is not None else f"{'':>7}"
        base = median(shas[0], stage)
        for sha in shas[1:]:
            s = median(sha, stage)
            line += f"{s / base:>22.2f}" if s and base else f"{'-':>22}"
        print(line)


if __name__ == "__main__":
    sys.exit(main())
