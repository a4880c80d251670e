"""What a report section holds, and the error for a report that cannot be made at all."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import pandas as pd
from matplotlib.figure import Figure

from recsys_spark.errors import RecsysError


class ReportError(RecsysError):
    """The report cannot be made: empty warehouse, or no runs for the requested run date."""


class MissingInput(LookupError):
    """A section's table is missing or holds no rows for the run date.

    ``hint`` says which command produces the data; the section shows both instead of plots.
    """

    def __init__(self, what: str, hint: str) -> None:
        super().__init__(f"{what}: {hint}")
        self.what = what
        self.hint = hint


@dataclass(frozen=True)
class Table:
    """A small pandas frame shown as an HTML table, with a caption."""

    caption: str
    frame: pd.DataFrame


@dataclass
class Section:
    """One titled part of the report: text, figures, tables, or why they are not there."""

    key: str
    title: str
    intro: str = ""
    notes: list[str] = field(default_factory=list)
    figures: list[tuple[str, Figure]] = field(default_factory=list)   # (alt text, figure)
    tables: list[Table] = field(default_factory=list)
    missing: list[MissingInput] = field(default_factory=list)

    @property
    def is_available(self) -> bool:
        """True when the section has something to show besides "not available" notes."""
        return bool(self.figures or self.tables)


@dataclass(frozen=True)
class Header:
    """Who and what the report describes: run date, run ids, table versions read."""

    warehouse: str
    run_date: dt.date
    generated_at: dt.datetime
    runs: pd.DataFrame                       # stage, run_id, status, duration_s for run_date
    versions: dict[str, int | None]          # table -> version read (None = missing)
