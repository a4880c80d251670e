"""Content fingerprints of every table in a warehouse, to compare two runs of the pipeline.

    .venv/bin/python benchmarks/fingerprints.py WAREHOUSE [--json OUT] [--compare OTHER.json]

Each table's fingerprint is (rows, order-independent hash of its rows) from
``recsys_spark.fingerprint.table_fingerprint``, with the columns that legitimately differ
between two runs of the same data left out (timings, attempt numbers, file paths). Two
warehouses built from the same inputs and config must print the same figures; ``--compare``
prints the tables whose fingerprints differ. Reads the tables with deltalake (no Spark).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
from deltalake import DeltaTable

# Columns that depend on when or where a run happened, not on what it computed.
VOLATILE = {
    "pipeline_runs": ("attempt", "started_at", "duration_s", "metrics", "notes", "inputs", "outputs",
                      "error"),
    "events": ("source_file",),
    "events_quarantine": ("source_file",),
}
# Run ids embed the config's fingerprint, which changes whenever a setting is added; the rows they
# label do not. Left out so that two code versions can be compared on the same world.
RUN_ID_COLUMNS = ("run_id", "ingested_run_id", "model_run_id")
FLOAT_DIGITS = 6


def _normalized(table: pa.Table) -> list[str]:
    """Each row as canonical JSON text (floats rounded, maps sorted), sorted."""
    rows = table.to_pylist()

    def clean(value):
        if isinstance(value, float):
            return round(value, FLOAT_DIGITS)
        if isinstance(value, list):
            if value and isinstance(value[0], tuple):  # a map arrives as [(k, v), ...]
                return sorted([k, clean(v)] for k, v in value)
            return [clean(v) for v in value]
        if isinstance(value, dict):
            return {k: clean(v) for k, v in sorted(value.items())}
        return value

    return sorted(json.dumps({k: clean(v) for k, v in row.items()}, sort_keys=True, default=str)
                  for row in rows)


def fingerprint(path: Path) -> dict[str, object]:
    name = path.name
    table = DeltaTable(str(path)).to_pyarrow_table()
    skip = set(VOLATILE.get(name, ())) | set(RUN_ID_COLUMNS)
    keep = [c for c in table.column_names if c not in skip]
    table = table.select(keep)
    if name == "pipeline_runs":  # one row per attempt: keep the last attempt's outcome per stage
        table = table.filter(pc.equal(table["status"], "succeeded"))
    rows = _normalized(table)
    digest = hashlib.sha256("\n".join(rows).encode()).hexdigest()[:16]
    return {"rows": len(rows), "hash": digest}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("warehouse", type=Path)
    parser.add_argument("--json", type=Path, default=None, help="write the fingerprints here")
    parser.add_argument("--compare", type=Path, default=None, help="fingerprints JSON to diff against")
    args = parser.parse_args(argv)
    tables = sorted(p for p in args.warehouse.iterdir() if (p / "_delta_log").is_dir())
    prints = {p.name: fingerprint(p) for p in tables}
    for name, fp in prints.items():
        print(f"{name:28s} {fp['rows']:>8} {fp['hash']}")
    if args.json:
        args.json.write_text(json.dumps(prints, indent=1, sort_keys=True))
    if args.compare:
        other = json.loads(args.compare.read_text())
        differ = sorted(n for n in set(prints) | set(other) if prints.get(n) != other.get(n))
        print("differ: " + (", ".join(differ) if differ else "none"))
        return 1 if differ else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
