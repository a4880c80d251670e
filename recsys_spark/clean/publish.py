"""The publish step of write–audit–publish: committing a checked run's outputs.

Commit order (each a single atomic Delta commit):
1. ``events``: exactly the event_date partitions this run touches are replaced;
2. ``events_quarantine``: the run_date partition is replaced;
3. ``items``, ``users``, ``promotions``: full overwrite with the day's snapshot, or (where no
   catalog exists) with the state derived from the logs (clean/catalog/derived.py);
4. the ``pipeline_runs`` row (appended by stage_runner.run_stage after the stage returns):
   a run is complete only when its succeeded row exists.
Every step *replaces* this run date's contribution rather than adding to it, so when a run
dies between two commits, rerunning the date rewrites all four and heals the partial state.

How ``events`` partitions are replaced without losing other runs' rows: a partition holds
events ingested by several run dates (late events of run D land in D-1, D-2, ...). The new
content of each touched partition is the union of (a) its rows ingested by *other* run dates,
read at the version the dedup step used, and (b) this run's clean rows. Rows this run date
ingested earlier are left out of (a), which is what makes reruns idempotent. Touched =
event_dates of this run's new rows plus those where this run date contributed before (so a
rerun that now contributes nothing still removes its stale rows). The overwrite carries the
transaction id ``events/clean/<run_date>`` versioned by the attempt: two concurrent attempts of
one date cannot both commit. Different run dates may share partitions, so the table's version
is re-checked just before writing and a change aborts the run (rerun it); run dates are meant
to be cleaned one after another. (Appending with txn ids would not let a rerun remove its own
earlier rows without a row-level delete, which the delta-rs backend does not offer.)
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
from recsys_spark.tables import TableStore

log = logging.getLogger(__name__)

EVENTS_TABLE = "events"
QUARANTINE_TABLE = "events_quarantine"


def write_events(store: TableStore, ctx: RunContext, report: StageReport, new_events_df: DataFrame,
                 other_runs_df: DataFrame | None, touched: Sequence[dt.date],
                 version_read: int | None) -> None:
    """Replace the touched event_date partitions (nothing when none is touched).

    Raises:
        ConcurrentWriteError: `events` changed since it was read, or another attempt of this
            run date committed meanwhile; nothing was committed.
    """
    if not touched:
        return
    dates = sorted(touched)
    content_df = new_events_df.select(*EVENTS.fieldNames())
    if other_runs_df is not None:
        keep_df = other_runs_df.where(other_runs_df["event_date"].isin(dates))
        content_df = content_df.unionByName(keep_df.select(*EVENTS.fieldNames()))
    if version_read is not None and store.version(EVENTS_TABLE) != version_read:
        raise ConcurrentWriteError(
            f"table {EVENTS_TABLE}: changed from version {version_read} to "
            f"{store.version(EVENTS_TABLE)} while clean for {ctx.run_date} was running; "
            "nothing was committed, rerun the date")
    # One transaction id per run date, whatever partitions it touches: two attempts of one date
    # cannot both commit.
    write_output(store, ctx, report, EVENTS_TABLE, content_df, partitions={"event_date": dates},
                 txn_key=ctx.run_date.isoformat())


def write_quarantine(store: TableStore, ctx: RunContext, report: StageReport,
                     quarantine_df: DataFrame) -> None:
    """Replace the run_date partition of `events_quarantine` (also when empty, to heal reruns)."""
    write_output(store, ctx, report, QUARANTINE_TABLE, quarantine_df)


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
