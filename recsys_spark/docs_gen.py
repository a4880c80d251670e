"""Generate docs/tables.md from the table contracts in recsys_spark.schemas.

Run ``python -m recsys_spark.docs_gen`` after changing a schema; a test fails when the file is
stale.
"""
from __future__ import annotations

import sys
from pathlib import Path

from recsys_spark.schemas import ALL_TABLES, TableSpec

DOC_PATH = Path(__file__).resolve().parents[1] / "docs" / "tables.md"

HEADER = """# Tables

Generated from `recsys_spark/schemas/` by `python -m recsys_spark.docs_gen` — do not edit by hand.

Every table is a Delta table under `warehouse.root`, one folder per table name. Every row carries
the `run_id` that wrote it (`<run date>-<config fingerprint>`), and every commit records the run id
in its metadata (`recsys history TABLE`).

## Reading the tables

- **Spark SQL through the project**: `recsys sql "SELECT ..." [--as-of VERSION|TIMESTAMP]
  [--format table|csv|json]` registers every table as a view.
- **Without Spark** (pandas, DuckDB, any Arrow tool) with the `deltalake` package:

```python
from deltalake import DeltaTable
promos = DeltaTable("data/warehouse/user_promotions").to_pandas(
    filters=[("run_date", "=", "2026-11-07")])
import duckdb
duckdb.sql("SELECT promotion_id, count(*) FROM promos GROUP BY 1").show()
```
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
    return HEADER + "\n" + "\n".join(render_table(ALL_TABLES[name]) for name in sorted(ALL_TABLES))


def main() -> int:
    DOC_PATH.parent.mkdir(parents=True, exist_ok=True)
    DOC_PATH.write_text(render_all(), encoding="utf-8")
    print(f"wrote {DOC_PATH}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
