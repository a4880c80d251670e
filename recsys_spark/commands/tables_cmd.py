"""`recsys tables`, `recsys history TABLE`, `recsys vacuum`, `recsys optimize`: warehouse
administration.

These read the Delta logs with delta-rs only, so they answer without starting Spark; `optimize`
starts Spark only when the native backend may do the compaction (warehouse.backend native/auto).
"""
from __future__ import annotations

import argparse
import contextlib
import datetime as dt

from recsys_spark.commands.session import config_from_args, stage_session
from recsys_spark.tables import CommitInfo, TableStore
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

    optimize = sub.add_parser("optimize", parents=[parent],
                              help="compact small files (delta-rs optimize.compact or native "
                                   "OPTIMIZE); prints files before/after")
    optimize.add_argument("table", nargs="?", help="one table (default: all)")
    optimize.set_defaults(func=cmd_optimize)


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


def cmd_optimize(args: argparse.Namespace) -> int:
    config = config_from_args(args)
    commit = CommitInfo(run_id=f"optimize-{dt.datetime.now(dt.timezone.utc):%Y%m%dT%H%M%S}",
                        stage="optimize")
    with contextlib.ExitStack() as stack:
        if config.warehouse.backend == "delta_rs":
            store = TableStore(None, config.warehouse)  # delta-rs compacts without a JVM
        else:
            store = stack.enter_context(stage_session(config, "recsys-optimize")).store
        names = [args.table] if args.table else store.list_tables()
        rows = []
        for name in names:
            result = store.optimize(name, commit)
            rows.append([name, result.files_before, result.files_after, result.version])
        backend = store.backend_name if store.spark is not None else "delta_rs"
    print(render_table(["table", "files_before", "files_after", "version"], rows))
    print(f"compacted with the {backend} backend; replaced files stay until `recsys vacuum`")
    return 0
