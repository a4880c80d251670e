"""Commit order of clean runs, so that parallel backfills give the serial run's tables.

A run of date D decides which of its records are duplicates of events other run dates ingested
(within the lookback). In a serial backfill the earlier dates are always committed first; run in
parallel, D could commit before D-1 and keep a copy that the serial run would have dropped as
already ingested by D-1. So a run reads `events` for deduplication only once every earlier run
date it may collide with has been cleaned: those within ``lookback_days + 1`` days before D (the
latest date whose rows can reach D's lookback window) whose raw input has landed. Parsing, the
rules and bot detection do not depend on other dates and run before the wait.

Being "cleaned" is a succeeded `clean` row in `pipeline_runs` (written after the run's last
commit). Each earlier date's own wait covers the dates before it, so a contiguous backfill is
committed in date order however it is scheduled. Dates given with an explicit ``--input`` have no
landing folder to look at and are not waited for.
"""
from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable, Sequence

from pyspark.sql import functions as F

from recsys_spark.errors import ConcurrentWriteError
from recsys_spark.runs import PIPELINE_RUNS_TABLE, RunContext
from recsys_spark.tables import TableStore

log = logging.getLogger(__name__)

POLL_SECONDS = 2.0


class EarlierRunPendingError(ConcurrentWriteError):
    """An earlier run date this run must commit after is not cleaned (yet): nothing committed;
    safe to retry once it is."""


def dates_to_wait_for(ctx: RunContext, is_landed: Callable[[dt.date], bool]) -> list[dt.date]:
    """The earlier run dates whose events this run may deduplicate against and whose input has
    landed (``is_landed``), oldest first."""
    reach = ctx.config.clean.lookback_days + 1
    return [day for day in (ctx.run_date - dt.timedelta(days=n) for n in range(reach, 0, -1))
            if is_landed(day)]


def wait_for_earlier_runs(store: TableStore, ctx: RunContext, dates: Sequence[dt.date],
                          timeout_s: float, sleep: Callable[[float], None] = time.sleep) -> None:
    """Return once every date in ``dates`` has a succeeded clean run.

    Raises:
        EarlierRunPendingError: a date's latest attempt failed, or ``timeout_s`` passed first.
    """
    pending = sorted(dates)
    deadline = time.monotonic() + timeout_s
    announced = False
    while pending:
        done, failed = _clean_outcomes(store, pending)
        pending = [d for d in pending if d not in done]
        if not pending:
            break
        if failed:
            day, error = failed[0]
            raise EarlierRunPendingError(
                f"clean {ctx.run_date}: the earlier run date {day} must be cleaned first (its "
                f"latest attempt failed: {error}); nothing was committed, rerun after it")
        if time.monotonic() >= deadline:
            raise EarlierRunPendingError(
                f"clean {ctx.run_date}: the earlier run dates {_days(pending)} have landed but are "
                f"not cleaned (waited {timeout_s:g} s, clean.wait_for_earlier_s); runs commit in "
                "date order within the dedup lookback; nothing was committed, rerun after them")
        if not announced:
            # A warning: it explains a pause an operator would otherwise wonder about.
            log.warning("clean %s: waiting for the earlier run dates %s to be cleaned first "
                        "(at most %g s)", ctx.run_date, _days(pending), timeout_s)
            announced = True
        sleep(POLL_SECONDS)


def _clean_outcomes(store: TableStore, dates: Sequence[dt.date]
                    ) -> tuple[set[dt.date], list[tuple[dt.date, str]]]:
    """(dates with a succeeded clean run, [(date, error)] whose latest attempt failed). Read
    fresh each time (not pinned): other processes commit meanwhile."""
    if not store.exists(PIPELINE_RUNS_TABLE):
        return set(), []
    rows = (store.read(PIPELINE_RUNS_TABLE, partition_filters=[("run_date", "in", list(dates))])
            .where(F.col("stage") == "clean")
            .groupBy("run_date")
            .agg(F.count_if(F.col("status") == "succeeded").alias("succeeded"),
                 F.max_by(F.struct("status", "error"), "attempt").alias("latest"))
            .collect())
    done = {r["run_date"] for r in rows if r["succeeded"] > 0}
    failed = sorted((r["run_date"], str(r["latest"]["error"] or "")) for r in rows
                    if r["succeeded"] == 0 and r["latest"]["status"] == "failed")
    return done, failed


def _days(days: Sequence[dt.date]) -> str:
    return ", ".join(d.isoformat() for d in days)
