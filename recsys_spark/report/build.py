"""Making the report: pin the tables, pick the run date, build the sections, write the page."""
from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from pathlib import Path

from recsys_spark.paths import is_local, normalize_root
from recsys_spark.report.gather_events import stage_runs
from recsys_spark.report.html_page import render_page
from recsys_spark.report.model import Header, ReportError
from recsys_spark.report.sections import build_sections
from recsys_spark.report.snapshot import Snapshot, resolve_run_date
from recsys_spark.tables import TableStore

log = logging.getLogger(__name__)

# Under the warehouse root but not a table: `recsys tables` lists only lower-case names
# holding a _delta_log, like the _models and _checkpoints folders.
REPORTS_DIR = "_reports"


def default_report_path(warehouse_root: str, run_date: dt.date) -> Path:
    """``<warehouse>/_reports/report-<date>.html``; ``./reports/report-<date>.html`` when the
    warehouse is on an object store (the page is written with local file I/O)."""
    name = f"report-{run_date.isoformat()}.html"
    if is_local(warehouse_root):
        return Path(normalize_root(warehouse_root)) / REPORTS_DIR / name
    return Path("reports") / name


@dataclass(frozen=True)
class Report:
    """A rendered report and the run date it describes."""

    run_date: dt.date
    html: str


def build_report(store: TableStore, run_date: dt.date | None = None) -> Report:
    """The HTML page for ``run_date`` (default: the latest run date in `pipeline_runs`).

    Raises:
        ReportError: the warehouse has no runs, or none on ``run_date``.
    """
    snapshot = Snapshot(store)
    day = resolve_run_date(snapshot, run_date)
    header = Header(warehouse=store.root, run_date=day,
                    generated_at=dt.datetime.now(dt.timezone.utc).replace(tzinfo=None),
                    runs=stage_runs(snapshot, day), versions=dict(snapshot.versions))
    return Report(day, render_page(header, build_sections(snapshot, day)))


def write_report(store: TableStore, run_date: dt.date | None = None,
                 output: str | Path | None = None) -> Path:
    """Build the report and write it to ``output`` (default :func:`default_report_path`).

    Returns:
        The path written.

    Raises:
        ReportError: as :func:`build_report`, or ``output`` cannot be written.
    """
    report = build_report(store, run_date)
    path = Path(output) if output is not None else default_report_path(store.warehouse.root,
                                                                         report.run_date)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(report.html, encoding="utf-8")
    except OSError as exc:
        raise ReportError(f"--output {path}: cannot write the report: {exc.strerror or exc}") from None
    log.info("report written to %s (%d bytes)", path, len(report.html))
    return path
