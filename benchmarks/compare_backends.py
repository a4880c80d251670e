"""The whole pipeline on the native Delta backend vs the delta-rs commit backend, side by side.

    .venv/bin/python benchmarks/compare_backends.py                      # tiny, 7 days, 2 rounds
    .venv/bin/python benchmarks/compare_backends.py --preset demo --rounds 3

The world is simulated once and copied for every run, so both backends clean and model the same
raw files. Runs alternate native, delta-rs, native, delta-rs ... (a change of load on a shared
machine hits both alike); each is `recsys run --no-simulate --no-report` as a child process with
``warehouse.backend`` forced and its own warehouse and landing roots. Per-stage seconds come
from each run's `pipeline_runs` (clean summed over its days). Prints the median seconds per
stage per backend and the ratio native / delta-rs (above 1: native is slower), then whether the
two backends' warehouses hold the same content (benchmarks/fingerprints.py). Asserts nothing.
The native backend needs the pinned Delta jars (`make jars`; RECSYS_JARS_DIR or --jars).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from compare_commits import REPO, STAGES, recsys, stage_figures
from fingerprints import fingerprint

BACKENDS = ("native", "delta_rs")


def run_args(root: Path, args: argparse.Namespace, backend: str) -> list[str]:
    return ["--config", "conf/local.yaml", "--set", f"warehouse.root={root / 'warehouse'}",
            "--set", f"landing.root={root / 'landing'}", "--set", f"warehouse.backend={backend}",
            "--preset", args.preset, "--days", str(args.days),
            *[x for s in args.set for x in ("--set", s)]]


def warehouse_fingerprints(warehouse: Path) -> dict[str, object]:
    return {p.name: fingerprint(p) for p in sorted(warehouse.iterdir())
            if (p / "_delta_log").is_dir()}


def median_seconds(runs: list[dict], stage: str | None) -> float | None:
    values = [r["seconds"] if stage is None else r["stages"].get(stage, {}).get("seconds")
              for r in runs]
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def print_table(results: dict[str, list[dict]]) -> None:
    """Median seconds per stage on each backend and the ratio native / delta-rs."""
    print(f"\n{'stage':<14}{'native s':>10}{'delta_rs s':>12}{'native/delta_rs':>17}")
    for stage in (*STAGES, "stages total", None):
        if stage == "stages total":
            native = statistics.median(sum(s["seconds"] for s in r["stages"].values())
                                       for r in results["native"])
            delta_rs = statistics.median(sum(s["seconds"] for s in r["stages"].values())
                                         for r in results["delta_rs"])
        else:
            native = median_seconds(results["native"], stage)
            delta_rs = median_seconds(results["delta_rs"], stage)
        ratio = f"{native / delta_rs:.2f}" if native and delta_rs else "-"
        cells = [f"{v:.1f}" if v is not None else "-" for v in (native, delta_rs)]
        print(f"{stage or 'recsys run':<14}{cells[0]:>10}{cells[1]:>12}{ratio:>17}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="tiny")
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--rounds", type=int, default=2, help="runs per backend, alternated")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="config override for every run (e.g. spark.master=local[2])")
    parser.add_argument("--scratch", default=None)
    parser.add_argument("--jars", default=os.environ.get("RECSYS_JARS_DIR", str(REPO / ".jars")))
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    scratch = Path(args.scratch or tempfile.mkdtemp(prefix="recsys-backends-"))
    scratch.mkdir(parents=True, exist_ok=True)
    jars = Path(args.jars)
    world = scratch / "world"
    if not (world / "landing").exists():
        print(f"simulating the {args.preset} world ({args.days} days) ...", flush=True)
        rc, seconds, _ = recsys(REPO, ["simulate", *run_args(world, args, "delta_rs")],
                                scratch / "simulate.log", jars)
        if rc:
            raise SystemExit(f"compare_backends.py: simulate failed; see {scratch / 'simulate.log'}")
        print(f"  {seconds:.1f} s", flush=True)
    results: dict[str, list[dict]] = {b: [] for b in BACKENDS}
    last_root: dict[str, Path] = {}
    for round_no in range(args.rounds):
        for backend in BACKENDS:
            root = scratch / f"run-{backend}-{round_no}"
            shutil.rmtree(root, ignore_errors=True)
            shutil.copytree(world / "landing", root / "landing")
            load = os.getloadavg()[0]
            started = time.time()
            rc, seconds, _ = recsys(REPO, ["run", *run_args(root, args, backend), "--no-simulate",
                                           "--no-report"], root / "run.log", jars)
            if rc:
                raise SystemExit(f"compare_backends.py: {backend} run failed; see {root / 'run.log'}")
            stages = stage_figures(root / "warehouse", started)
            results[backend].append({"seconds": seconds, "stages": stages, "load_before": load,
                                     "load_after": os.getloadavg()[0]})
            last_root[backend] = root
            print(f"round {round_no + 1} {backend}: {seconds:.1f} s (load {load:.1f}); " + ", ".join(
                f"{s} {stages[s]['seconds']:.1f}" for s in STAGES if s in stages), flush=True)
            shutil.rmtree(root / "landing", ignore_errors=True)
    print_table(results)
    prints = {b: warehouse_fingerprints(last_root[b] / "warehouse") for b in BACKENDS}
    differ = sorted(n for n in set(prints["native"]) | set(prints["delta_rs"])
                    if prints["native"].get(n) != prints["delta_rs"].get(n))
    print(f"\ntables: {len(prints['native'])} native, {len(prints['delta_rs'])} delta_rs; "
          f"content differs in: {', '.join(differ) or 'none'}")
    out = Path(args.json or scratch / "compare_backends.json")
    out.write_text(json.dumps({"args": vars(args), "results": results, "differ": differ},
                              indent=1, default=str))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
