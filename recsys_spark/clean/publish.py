"""The publish step of write–audit–publish: committing a checked run's outputs.

Commit order (each a single atomic Delta commit):
1. ``events``: the partitions ``(event_date, run_date = D)`` this run date owns are replaced;
2. ``events_quarantine``: the run_date partition is replaced;
3. ``items``, ``users``, ``promotions``: full overwrite with the day's snapshot, or (where no
   catalog exists) with the state derived from the logs (clean/catalog/derived.py);
4. the ``pipeline_runs`` row (appended by stage_runner.run_stage after the stage returns):
   a run is complete only when its succeeded row exists.
Every step *replaces* this run date's contribution rather than adding to it, so when a run
dies between two commits, rerunning the date rewrites all four and heals the partial state.

`events` is partitioned by (event_date, run_date): late events of run D land in
``event_date=D-1/run_date=D``, next to the rows run D-1 ingested, without touching them. A run
replaces the event_dates of its new rows plus those where it had rows before (read from the
Delta log), so a rerun that now contributes nothing to a day still removes its stale rows. No
other run's rows are read back or rewritten, so runs of different dates can commit at the same
time (the commit order that keeps dedup deterministic is order.py's). Two attempts of one run
date: the overwrite carries the transaction id ``events/clean/<run_date>`` and the run checks it
has not moved since the run began, so only one of two concurrent attempts commits; the other
fails with ConcurrentWriteError (exit code 4, safe to retry).
"""
from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence

from pyspark.sql import DataFrame

from recsys_spark.clean.catalog.model import DimSnapshot
from recsys_spark.errors import ConcurrentWriteError
from recsys_spark.runs import RunContext, StageReport
from recsys_spark.schemas.events import EVENTS
from recsys_spark.stage_io import write_output
from recsys_spark.tables import TableStore, TxnId

log = logging.getLogger(__name__)

EVENTS_TABLE = "events"
QUARANTINE_TABLE = "events_quarantine"


def events_commit_mark(store: TableStore, ctx: RunContext) -> int | None:
    """The version of this run date's `events` transaction id now (None: never committed).
    Taken when a run begins; :func:`write_events` refuses to commit if it moved."""
    return store.transaction_version(EVENTS_TABLE, _events_txn(ctx).app_id)


def owned_event_dates(store: TableStore, ctx: RunContext) -> list[dt.date]:
    """The event_dates where this run date has rows in `events` now (from the Delta log)."""
    if not store.exists(EVENTS_TABLE):
        return []
    return store.partition_dates(EVENTS_TABLE, "event_date",
                                 partition_filters=[("run_date", "=", ctx.run_date)])


def write_events(store: TableStore, ctx: RunContext, report: StageReport, events_df: DataFrame,
                 touched: Sequence[dt.date], mark: int | None) -> None:
    """Replace this run date's partitions of the ``touched`` event dates with ``events_df``.

    Raises:
        ConcurrentWriteError: another attempt of this run date committed `events` since this
            one began (``mark``), before or during this write; nothing was committed.
    """
    txn = _events_txn(ctx)
    current = store.transaction_version(EVENTS_TABLE, txn.app_id)
    if current != mark:
        raise ConcurrentWriteError(_lost(ctx, current))
    if not touched:
        return
    result = write_output(store, ctx, report, EVENTS_TABLE, events_df.select(*EVENTS.fieldNames()),
                          partitions={"event_date": sorted(touched)},
                          txn_key=ctx.run_date.isoformat())
    if result.skipped:  # a newer attempt of this date committed between the check and the write
        raise ConcurrentWriteError(_lost(ctx, store.transaction_version(EVENTS_TABLE, txn.app_id)))


def _events_txn(ctx: RunContext) -> TxnId:
    return ctx.txn(EVENTS_TABLE, ctx.run_date.isoformat())


def _lost(ctx: RunContext, version: int | None) -> str:
    return (f"table {EVENTS_TABLE}: another attempt of clean for {ctx.run_date} committed "
            f"(attempt {version}) while this one (attempt {ctx.attempt}) was running; nothing was "
            "committed")


def write_quarantine(store: TableStore, ctx: RunContext, report: StageReport,
                     quarantine_df: DataFrame) -> None:
    """Replace the run_date partition of `events_quarantine` (also when empty, to heal reruns).
    A table made before the ``detail`` column gains it (a new nullable column)."""
    write_output(store, ctx, report, QUARANTINE_TABLE, quarantine_df, allow_new_columns=True)


def write_dims(store: TableStore, ctx: RunContext, report: StageReport,
               snapshots: Sequence[DimSnapshot]) -> None:
    """Overwrite each dimension with its new state, unless a later run date already wrote it
    (a backfill must not roll the latest state back; noted as ``kept.<table>`` in the report).

    The one place the dimensions are written: by clean (landing snapshots, states derived from
    the logs) and by `recsys catalog import` (its --as-of date is the run date).
    """
    for snap in snapshots:
        loaded = latest_state_date(store, snap.table)
        if loaded and loaded > ctx.run_date.isoformat():
            log.info("%s: %s already holds the state of %s; not rolled back to %s",
                     ctx.stage, snap.table, loaded, ctx.run_date)
            report.notes[f"kept.{snap.table}"] = f"holds the state of {loaded}, later than {ctx.run_date}"
            continue
        # Tables written before items/promotions had `origin` gain the column.
        write_output(store, ctx, report, snap.table, snap.df, allow_new_columns=True)


def latest_state_date(store: TableStore, table: str) -> str | None:
    """The run date (YYYY-MM-DD) of the last write of a dimension; None when it has none."""
    if not store.exists(table):
        return None
    last = store.history(table, 1)
    return last[0].metadata.get("run_date") if last else None
