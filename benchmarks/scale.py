"""Whole-pipeline scale benchmark: per-stage seconds, events/s/core, peak memory, growth exponents.

    .venv/bin/python benchmarks/scale.py                       # 1M, 4M and 16M events
    .venv/bin/python benchmarks/scale.py --events 250k,1m      # any sizes (k / m suffixes)

For each size it simulates a shop of that many raw events over ``--days`` days (the bench-1m
world with the user count scaled; catalog and promotions stay the same size, as when a shop gets
more traffic), then runs exactly what a user runs — ``recsys simulate`` and ``recsys run`` as
child processes on Spark local mode — and reads the per-stage wall seconds back from the
``pipeline_runs`` table with deltalake. Peak memory is sampled from /proc every 0.5 s and
attributed to the stage running at the time (in local mode the driver JVM also runs the
executors, so its RSS is the job's memory; "python" is the driver's Python process).

Growth exponent between two sizes a < b: log(t_b / t_a) / log(events_b / events_a); 1.0 means
the stage's time grows linearly with the events. Prints a table, writes JSON; asserts nothing.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from deltalake import DeltaTable
from memory import RssSampler

REPO = Path(__file__).resolve().parent.parent
USERS_PER_MILLION = 20_000      # the bench-1m preset: 20k users ~ 1M events over 7 days
STAGE_ORDER = ("simulate", "clean", "features", "similarity", "als", "response", "bandit")


def parse_size(text: str) -> int:
    """'16m' -> 16_000_000, '250k' -> 250_000, '1200000' -> 1_200_000."""
    text = text.strip().lower()
    scale = {"k": 1_000, "m": 1_000_000}.get(text[-1:], 1)
    number = text[:-1] if scale != 1 else text
    try:
        value = int(float(number) * scale)
    except ValueError:
        raise SystemExit(f"scale.py: error: --events: cannot read size {text!r}") from None
    if value < 10_000:
        raise SystemExit(f"scale.py: error: --events: {text!r} is below 10k events")
    return value


def recsys(args: list[str], log_path: Path) -> tuple[float, RssSampler]:
    """Run `recsys <args>` in a child process; returns its wall seconds and the memory samples."""
    command = [sys.executable, "-c", "import sys; from recsys_spark.cli import main; "
               "sys.exit(main(sys.argv[1:]))", *args]
    started = time.time()
    with open(log_path, "a") as log:
        child = subprocess.Popen(command, cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
        sampler = RssSampler(child.pid).start()
        code = child.wait()
        sampler.stop()
    if code != 0:
        raise SystemExit(f"scale.py: error: `recsys {args[0]}` exited {code}; see {log_path}")
    return time.time() - started, sampler


def run_size(target: int, args: argparse.Namespace, scratch: Path) -> dict:
    """Simulate and run the whole pipeline for one size; returns per-stage figures."""
    users = max(100, round(USERS_PER_MILLION * target / 1_000_000))
    root = scratch / f"events-{target}"
    common = ["--config", str(REPO / "conf" / "local.yaml"),
              "--set", f"warehouse.root={root / 'warehouse'}", "--set", f"landing.root={root / 'landing'}",
              "--set", f"spark.master=local[{args.cores}]",
              "--set", f"spark.shuffle_partitions={args.shuffle_partitions}",
              "--set", f"spark.driver_memory={args.driver_memory}",
              "--set", f"simulate.n_users={users}"]
    log_path = root / "run.log"
    root.mkdir(parents=True, exist_ok=True)
    sim_seconds, sim_sampler = recsys(["simulate", *common, "--preset", "bench-1m",
                                       "--days", str(args.days)], log_path)
    run_started = time.time()
    _, run_sampler = recsys(["run", *common, "--preset", "bench-1m", "--days", str(args.days),
                             "--no-simulate"], log_path)
    rows = DeltaTable(str(root / "warehouse" / "pipeline_runs")).to_pyarrow_table().to_pylist()
    sim_python_mb, sim_jvm_mb = sim_sampler.peak_between(0, math.inf)
    stages: dict[str, dict] = {"simulate": {"seconds": sim_seconds,
                                            "peak_mb": {"python": sim_python_mb, "jvm": sim_jvm_mb}}}
    events = 0
    for row in sorted(rows, key=lambda r: r["started_at"]):
        if row["status"] != "succeeded" or row["started_at"].timestamp() < run_started - 5:
            continue
        start = row["started_at"].timestamp()
        python_mb, jvm_mb = run_sampler.peak_between(start, start + row["duration_s"])
        entry = stages.setdefault(row["stage"], {"seconds": 0.0, "peak_mb": {"python": 0.0, "jvm": 0.0}})
        entry["seconds"] += row["duration_s"]
        entry["peak_mb"] = {"python": max(entry["peak_mb"]["python"], python_mb),
                            "jvm": max(entry["peak_mb"]["jvm"], jvm_mb)}
        if row["stage"] == "clean":
            events += row["rows_in"] or 0
    for entry in stages.values():
        entry["events_per_s_per_core"] = events / entry["seconds"] / args.cores if entry["seconds"] else None
    if not args.keep:
        shutil.rmtree(root, ignore_errors=True)
    return {"target_events": target, "events": events, "users": users, "days": args.days,
            "stages": stages, "total_seconds": sum(s["seconds"] for s in stages.values())}


def growth_exponents(results: list[dict]) -> dict[str, list[float | None]]:
    """Per stage, the exponent between each pair of consecutive sizes."""
    out: dict[str, list[float | None]] = {}
    for a, b in zip(results, results[1:], strict=False):
        ratio = b["events"] / a["events"]
        for stage in STAGE_ORDER:
            ta, tb = a["stages"].get(stage, {}).get("seconds"), b["stages"].get(stage, {}).get("seconds")
            value = math.log(tb / ta) / math.log(ratio) if ta and tb and ratio > 1 else None
            out.setdefault(stage, []).append(value)
    return out


def print_table(results: list[dict], exponents: dict[str, list[float | None]]) -> None:
    sizes = [f"{r['events'] / 1e6:.2f}M" for r in results]
    print(f"\n{'stage':<11}" + "".join(f"{'s @' + s:>13}{'ev/s/core':>11}{'jvm MB':>8}" for s in sizes)
          + "".join(f"{'growth ' + str(i + 1):>10}" for i in range(len(results) - 1)))
    for stage in STAGE_ORDER:
        line = f"{stage:<11}"
        for r in results:
            entry = r["stages"].get(stage)
            if entry is None:
                line += f"{'-':>13}{'-':>11}{'-':>8}"
                continue
            line += (f"{entry['seconds']:>13.1f}{entry['events_per_s_per_core'] or 0:>11,.0f}"
                     f"{entry['peak_mb']['jvm']:>8,.0f}")
        line += "".join(f"{e:>10.2f}" if e is not None else f"{'-':>10}" for e in exponents.get(stage, []))
        print(line)
    print(f"{'total':<11}" + "".join(f"{r['total_seconds']:>13.1f}{'':>19}" for r in results))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", default="1m,4m,16m", help="comma-separated sizes (default 1m,4m,16m)")
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--cores", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--shuffle-partitions", type=int, default=8)
    parser.add_argument("--driver-memory", default="6g")
    parser.add_argument("--json", default=None, help="where to write the JSON "
                        "(default benchmarks/results/scale-<date>.json)")
    parser.add_argument("--scratch", default=None, help="work folder (default: a temp dir)")
    parser.add_argument("--keep", action="store_true", help="keep each size's warehouse and landing")
    args = parser.parse_args()
    sizes = sorted({parse_size(s) for s in args.events.split(",") if s.strip()})
    scratch = Path(args.scratch or tempfile.mkdtemp(prefix="recsys-scale-"))
    machine = {"cpu_count": os.cpu_count(), "cores_used": args.cores, "platform": platform.platform(),
               "python": platform.python_version(),
               "memory_gb": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)}
    results = []
    for size in sizes:
        load_before = os.getloadavg()[0]
        print(f"size {size:,}: simulating and running ({args.days} days, local[{args.cores}]) ...",
              flush=True)
        result = run_size(size, args, scratch)
        result["load_average_before"] = load_before
        results.append(result)
        print(f"  {result['events']:,} events, total {result['total_seconds']:.1f} s", flush=True)
    exponents = growth_exponents(results)
    print_table(results, exponents)
    out = Path(args.json or REPO / "benchmarks" / "results" / f"scale-{dt.date.today()}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"machine": machine, "results": results, "growth_exponents": exponents},
                              indent=2, default=str))
    print(f"\nwrote {out}; machine: {machine}")


if __name__ == "__main__":
    main()
