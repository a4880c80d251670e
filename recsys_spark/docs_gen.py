"""Generate docs/tables.md from the table contracts in recsys_spark.schemas.

Run ``python -m recsys_spark.docs_gen`` after changing a schema; a test fails when the file is
stale.
"""
from __future__ import annotations

import sys
from pathlib import Path

from recsys_spark.schemas import ALL_TABLES, TableSpec
from recsys_spark.schemas.spec import CHANGE_DATA_FEED
from recsys_spark.tables.consumer import RECIPES

DOC_PATH = Path(__file__).resolve().parents[1] / "docs" / "tables.md"

HEADER = """# Tables

Generated from `recsys_spark/schemas/` by `python -m recsys_spark.docs_gen` — do not edit by hand.

Every table is a Delta table under `warehouse.root`, one folder per table name. Every row carries
the `run_id` that wrote it (`<run date>-<config fingerprint>`), and every commit records the run id
in its metadata (`recsys history TABLE`).

## Reading the tables

- **Spark SQL through the project**: `recsys sql "SELECT ..." [--as-of VERSION|TIMESTAMP]
  [--changes-from VERSION] [--format table|csv|json]` registers every table as a view.
- **Only what changed** (Change Data Feed, on the tables marked *records its changes* below):
  `--changes-from VERSION` also registers `<table>_changes`, the rows inserted or deleted in
  versions >= VERSION with `_change_type`, `_commit_version`, `_commit_timestamp`. A downstream
  job keeps the last version it processed (`recsys tables` shows the current one) and asks for
  the next:

```bash
recsys sql --changes-from 12 "SELECT run_date, _change_type, count(*) AS rows
  FROM user_promotions_changes GROUP BY run_date, _change_type ORDER BY 1, 2"
```

  Rewriting a run's partition shows up as deletes of the old rows and inserts of the new ones.
  The delta-rs backend commits whole files (add/remove actions, no `_change_data` files), which
  is how Delta defines the feed of such commits, so delta-spark's `readChangeFeed` /
  `table_changes` read the same feed from tables written by either backend (a test checks it).
- **Without Spark** (pandas, Arrow, DuckDB) with the `deltalake` package. Hand it a pyarrow file
  system (as below): with deltalake 1.6.x and pyarrow 21-26, reads through delta-rs' own file
  system abort at interpreter exit in 5-65% of runs ("terminate called without an active
  exception", exit 134, a shutdown race between delta-rs and Arrow threads; no released
  deltalake/pyarrow pair avoids it). For s3:// or hdfs:// use
  `pyarrow.fs.FileSystem.from_uri(uri)` and wrap its path the same way
  (`recsys_spark.tables.consumer.arrow_filesystem`). Each recipe is run 20 times in a fresh
  interpreter by the tests.

"""


def render_recipes() -> str:
    parts = []
    for name in sorted(RECIPES):
        code = RECIPES[name].format(table="data/warehouse/user_promotions")
        parts.append(f"*{name}*\n\n```python\n{code}```\n")
    return "\n".join(parts)


BACKENDS = """
## Maintenance and backends

- `recsys optimize [TABLE]` compacts small files (one file per partition per run accumulates):
  delta-rs `optimize.compact` with `warehouse.backend: delta_rs`, delta-spark `OPTIMIZE`
  otherwise; it prints the files before and after. Replaced files stay for time travel until
  `recsys vacuum --apply` removes those older than `warehouse.vacuum_retention_hours`.
- Both backends write the same tables (append, partition overwrite, time travel, history with
  run ids, schema rules, idempotent transaction ids, Change Data Feed, compaction). What needs
  the native backend (delta-spark jars on the classpath): only Delta SQL such as
  `DESCRIBE HISTORY`, `table_changes(...)` and `OPTIMIZE ... ZORDER BY` typed by hand in a Spark
  session; the project's commands work on either.
"""


def render_table(spec: TableSpec) -> str:
    lines = [f"## `{spec.name}`", "", spec.description, ""]
    facts = []
    if spec.partition_by:
        facts.append("partitioned by " + ", ".join(f"`{c}`" for c in spec.partition_by))
    if spec.keys:
        facts.append("key " + ", ".join(f"`{c}`" for c in spec.keys))
    if spec.written_by:
        facts.append(f"written by {spec.written_by}")
    if str(spec.table_properties.get(CHANGE_DATA_FEED, "")).lower() == "true":
        facts.append("records its changes (Change Data Feed: `recsys sql --changes-from`)")
    if facts:
        lines += ["- " + "; ".join(facts), ""]
    lines += ["| column | type | nullable | meaning |", "|---|---|---|---|"]
    for field in spec.schema.fields:
        meaning = spec.column_doc(field.name).replace("|", "\\|")
        lines.append(f"| `{field.name}` | `{field.dataType.simpleString()}` | "
                     f"{'yes' if field.nullable else 'no'} | {meaning} |")
    for title, query in spec.example_queries.items():
        lines += ["", f"*{title}*", "", "```sql", query.strip(), "```"]
    return "\n".join(lines) + "\n"


def render_all() -> str:
    return (HEADER + render_recipes() + BACKENDS + "\n"
            + "\n".join(render_table(ALL_TABLES[name]) for name in sorted(ALL_TABLES)))


def main() -> int:
    DOC_PATH.parent.mkdir(parents=True, exist_ok=True)
    DOC_PATH.write_text(render_all(), encoding="utf-8")
    print(f"wrote {DOC_PATH}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
