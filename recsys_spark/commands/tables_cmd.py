"""`recsys tables`, `recsys history TABLE`, `recsys vacuum`: warehouse administration.

These read the Delta logs with delta-rs only, so they answer without starting Spark.
"""
from __future__ import annotations

import argparse
import datetime as dt

from recsys_spark.commands.session import config_from_args
from recsys_spark.tables import TableStore
from recsys_spark.textformat import render_table


def register(sub: argparse._SubParsersAction, parent: argparse.ArgumentParser) -> None:
    tables = sub.add_parser("tables", parents=[parent], help="list tables: version, rows, last run")
    tables.set_defaults(func=cmd_tables)

    history = sub.add_parser("history", parents=[parent], help="commits of one table")
    history.add_argument("table")
    history.add_argument("--limit", type=int, default=20)
    history.set_defaults(func=cmd_history)

    vacuum = sub.add_parser("vacuum", parents=[parent],
                            help="remove unreferenced files (dry run unless --apply)")
    vacuum.add_argument("table", nargs="?", help="one table (default: all)")
    vacuum.add_argument("--apply", action="store_true", help="delete the files (default: list)")
    vacuum.add_argument("--retention-hours", type=int, default=None,
                        help="default: warehouse.vacuum_retention_hours; shorter than the "
                             "table's retention is refused")
    vacuum.set_defaults(func=cmd_vacuum)


def _store(args: argparse.Namespace) -> TableStore:
    return TableStore(None, config_from_args(args).warehouse)


def cmd_tables(args: argparse.Namespace) -> int:
    store = _store(args)
    names = store.list_tables()
    if not names:
        print(f"no tables under {store.root}")
        return 0
    rows = []
    for name in names:
        info = store.info(name)
        rows.append([name, info.version, "" if info.rows is None else info.rows,
                     info.last_run_id or "", ",".join(info.partition_columns)])
    print(render_table(["table", "version", "rows", "last_run_id", "partitioned_by"], rows))
    return 0


def cmd_history(args: argparse.Namespace) -> int:
    store = _store(args)
    rows = []
    for entry in store.history(args.table, args.limit):
        when = dt.datetime.fromtimestamp(entry.timestamp_ms / 1000, dt.timezone.utc)
        rows.append([entry.version, f"{when:%Y-%m-%d %H:%M:%S}", entry.operation,
                     entry.run_id or "", entry.stage or ""])
    print(render_table(["version", "timestamp_utc", "operation", "run_id", "stage"], rows))
    return 0


def cmd_vacuum(args: argparse.Namespace) -> int:
    store = _store(args)
    names = [args.table] if args.table else store.list_tables()
    total = 0
    for name in names:
        files = store.vacuum(name, dry_run=not args.apply, retention_hours=args.retention_hours)
        total += len(files)
        for path in files:
            print(f"{'deleted' if args.apply else 'would delete'} {name}: {path}")
    verb = "deleted" if args.apply else "would delete (dry run; --apply deletes)"
    print(f"{total} files {verb}")
    return 0
