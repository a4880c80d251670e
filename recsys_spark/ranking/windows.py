"""Chronological windows of one evaluation: train < validation < test, then everything.

With run date D, ``test_days`` t and ``validation_days`` v (days, both inclusive):
    test        = D - t + 1 .. D
    validation  = D - t - v + 1 .. D - t
    train       = every earlier day of the lookback
A candidate scored on a window is fitted on every day before it (a *cut*): on train for the
validation window, on train + validation for the test window, and on every day up to D for the
published output. No candidate ever sees the window it is scored on.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

VALIDATION, TEST, PUBLISH = "validation", "test", "publish"


@dataclass(frozen=True)
class Window:
    """Days ``start``..``end`` (inclusive) scored by candidates fitted on days <= ``fit_end``."""

    name: str
    start: dt.date
    end: dt.date

    @property
    def fit_end(self) -> dt.date:
        return self.start - dt.timedelta(days=1)

    def label(self) -> str:
        return self.start.isoformat() if self.start == self.end else f"{self.start}..{self.end}"

    def select(self, events_df: DataFrame) -> DataFrame:
        """The events of the window's days."""
        return events_df.filter(F.col("event_date").between(F.lit(self.start), F.lit(self.end)))


@dataclass(frozen=True)
class EvalWindows:
    """The validation and test windows of a run and where the history starts."""

    first_day: dt.date
    validation: Window
    test: Window
    run_date: dt.date

    @classmethod
    def for_run(cls, run_date: dt.date, lookback_days: int, validation_days: int,
                test_days: int) -> EvalWindows:
        """Windows ending at ``run_date`` over a history of ``lookback_days`` days.

        Raises:
            ValueError: a window length below 1.
        """
        if validation_days < 1 or test_days < 1:
            raise ValueError("validation_days and test_days must be >= 1")
        test_start = run_date - dt.timedelta(days=test_days - 1)
        validation_start = test_start - dt.timedelta(days=validation_days)
        return cls(first_day=run_date - dt.timedelta(days=lookback_days - 1),
                   validation=Window(VALIDATION, validation_start, test_start - dt.timedelta(days=1)),
                   test=Window(TEST, test_start, run_date), run_date=run_date)

    @property
    def train_days(self) -> int:
        """Days of history before the validation window (0: nothing to fit on)."""
        return max(0, (self.validation.start - self.first_day).days)

    def describe(self) -> dict[str, str]:
        """The windows as model_metrics params / report notes."""
        return {"train": f"{self.first_day}..{self.validation.fit_end}",
                "validation": self.validation.label(), "test": self.test.label()}


def history_until(events_df: DataFrame, end: dt.date) -> DataFrame:
    """The events of days <= ``end`` (what a candidate fitted for a cut may see)."""
    return events_df.filter(F.col("event_date") <= F.lit(end))
