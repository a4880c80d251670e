"""`recsys sql "SELECT ..."`: Spark SQL over every table in the warehouse, registered as views."""
from __future__ import annotations

import argparse
import datetime as dt
import json
import sys

from pyspark.errors import PySparkException

from recsys_spark.commands.session import config_from_args, stage_session
from recsys_spark.errors import RecsysError, TableError
from recsys_spark.tables import TableStore
from recsys_spark.textformat import render_table


def register(sub: argparse._SubParsersAction, parent: argparse.ArgumentParser) -> None:
    sql = sub.add_parser("sql", parents=[parent], help="run Spark SQL over the warehouse tables")
    sql.add_argument("query", help="a Spark SQL query; every table is a view of its name")
    sql.add_argument("--as-of", default=None, metavar="VERSION|TIMESTAMP",
                     help="read every table at this Delta version (an integer) or as of this UTC "
                          "timestamp (YYYY-MM-DD[THH:MM:SS])")
    sql.add_argument("--changes-from", type=int, default=None, metavar="VERSION",
                     help="also register <table>_changes for every table with Change Data Feed "
                          "(events, user_promotions): the rows changed in versions >= VERSION, "
                          "with _change_type, _commit_version, _commit_timestamp")
    sql.add_argument("--format", choices=["table", "csv", "json"], default="table")
    sql.add_argument("--limit", type=int, default=1000, help="rows printed at most")
    sql.set_defaults(func=cmd_sql)


def parse_as_of(text: str | None) -> tuple[int | None, dt.datetime | None]:
    """An integer version or an ISO timestamp (UTC). Raises RecsysError otherwise."""
    if text is None:
        return None, None
    if text.isdigit():
        return int(text), None
    try:
        stamp = dt.datetime.fromisoformat(text)
    except ValueError:
        raise RecsysError(f"--as-of {text!r}: expected a version number or YYYY-MM-DD[THH:MM:SS]") from None
    return None, stamp if stamp.tzinfo else stamp.replace(tzinfo=dt.timezone.utc)


def register_views(store: TableStore, version: int | None = None,
                   as_of: dt.datetime | None = None) -> list[str]:
    """Register each table as a temp view; tables that did not exist then are left out."""
    registered = []
    for name in store.list_tables():
        try:
            store.read(name, version=version, as_of=as_of).createOrReplaceTempView(name)
        except TableError:
            continue
        registered.append(name)
    if "user_promotions" in registered:
        # The latest run's promotions: the view marketing systems read (as of --as-of too).
        store.spark.sql("CREATE OR REPLACE TEMP VIEW user_promotions_current AS "
                        "SELECT * FROM user_promotions "
                        "WHERE run_date = (SELECT max(run_date) FROM user_promotions)")
        registered.append("user_promotions_current")
    return registered


def register_change_views(store: TableStore, starting_version: int) -> list[str]:
    """Register ``<table>_changes`` for each table that records its changes."""
    registered = []
    for name in store.list_tables():
        try:
            changes_df = store.read_changes(name, starting_version)
        except TableError:  # no Change Data Feed on this table
            continue
        changes_df.createOrReplaceTempView(f"{name}_changes")
        registered.append(f"{name}_changes")
    return registered


def cmd_sql(args: argparse.Namespace) -> int:
    version, as_of = parse_as_of(args.as_of)
    if args.changes_from is not None and args.changes_from < 0:
        raise RecsysError(f"--changes-from {args.changes_from}: a version is >= 0")
    config = config_from_args(args)
    with stage_session(config, "recsys-sql") as session:
        views = register_views(session.store, version, as_of)
        if args.changes_from is not None:
            views += register_change_views(session.store, args.changes_from)
        try:
            result_df = session.spark.sql(args.query).limit(args.limit)
            columns = result_df.columns
            rows = [list(r) for r in result_df.collect()]  # bounded by --limit
        except PySparkException as exc:
            first_line = str(exc).strip().splitlines()[0]
            raise RecsysError(f"query failed: {first_line} (tables: {', '.join(views) or 'none'})") from None
    if args.format == "table":
        print(render_table(columns, rows))
    elif args.format == "csv":
        import csv

        writer = csv.writer(sys.stdout)
        writer.writerow(columns)
        writer.writerows(rows)
    else:
        for row in rows:
            print(json.dumps(dict(zip(columns, row, strict=True)), default=str))
    return 0
