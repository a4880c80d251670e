"""`recsys report`: the pipeline's results as one self-contained HTML page with plots.

gather_* (Spark aggregates -> small pandas frames) -> plots (matplotlib figures) ->
sections (titled groups, or "not available: run X") -> html_page -> build (write the file).
The notebooks reuse the same gather, plot and section functions.
"""
from __future__ import annotations

from recsys_spark.report.build import (
    REPORTS_DIR,
    Report,
    build_report,
    default_report_path,
    write_report,
)
from recsys_spark.report.model import MissingInput, ReportError, Section, Table
from recsys_spark.report.snapshot import REPORT_TABLES, Snapshot, resolve_run_date

__all__ = ["REPORTS_DIR", "REPORT_TABLES", "MissingInput", "Report", "ReportError", "Section",
           "Snapshot", "Table", "build_report", "default_report_path", "resolve_run_date",
           "write_report"]
