"""The report `recsys run` wrote on the tiny world, and both notebooks executed on its tables.

The tiny warehouse is shared with the other e2e tests: everything here only reads it.
"""
from __future__ import annotations

from collections import Counter
from pathlib import Path

import nbformat
import pytest
from deltalake import DeltaTable
from nbclient import NotebookClient

from tests.conftest import REPO_ROOT, PipelineRun
from tests.report.page import TITLES, decode_png, parse_report

pytestmark = pytest.mark.e2e


def _last_run_date(run: PipelineRun) -> str:
    runs = DeltaTable(str(run.warehouse / "pipeline_runs")).to_pyarrow_table(columns=["run_date"])
    return max(runs.column("run_date").to_pylist()).isoformat()


def test_run_writes_the_report_with_every_section(tiny_pipeline: PipelineRun):
    assert tiny_pipeline.returncode == 0, tiny_pipeline.stderr[-4000:]
    day = _last_run_date(tiny_pipeline)
    path = tiny_pipeline.warehouse / "_reports" / f"report-{day}.html"
    assert tiny_pipeline.stdout.strip().splitlines()[-1].endswith(f"; report {path}")
    page = parse_report(path.read_text(encoding="utf-8"))
    assert page.title == f"recsys-spark report: run date {day}"
    assert {k: s.title for k, s in page.sections.items()} == TITLES
    for key, section in page.sections.items():
        assert section.images or section.missing, key
        for _, src in section.images:
            decode_png(src)
    # the pipeline writes these tables, so their sections have plots
    assert all(page.sections[k].images for k in ("quality", "response", "bandit"))
    # quarantine counts equal the rows delta-rs reads from events_quarantine
    rows = DeltaTable(str(tiny_pipeline.warehouse / "events_quarantine")).to_pyarrow_table(
        columns=["run_date", "reasons"]).to_pylist()
    expected = Counter((r["run_date"].isoformat(), reason) for r in rows for reason in r["reasons"])
    table = page.sections["quality"].table("Quarantined records per run date and reason")
    shown = {(row[0], reason): int(n) for row in table.rows
             for reason, n in zip(table.header[1:], row[1:], strict=True) if int(n)}
    assert shown == dict(expected)


def _execute(name: str, warehouse: Path, monkeypatch) -> nbformat.NotebookNode:
    monkeypatch.setenv("RECSYS_WAREHOUSE", str(warehouse))
    notebook = nbformat.read(REPO_ROOT / "notebooks" / name, as_version=4)
    # executed from notebooks/ as Jupyter would; a failing cell raises CellExecutionError
    NotebookClient(notebook, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(REPO_ROOT / "notebooks")}}).execute()
    return notebook


def _outputs(notebook: nbformat.NotebookNode) -> list[dict]:
    return [o for c in notebook.cells if c.cell_type == "code" for o in c.outputs]


def test_stored_notebooks_have_no_outputs():
    for name in ("01_explore_events.ipynb", "02_models_and_bandit.ipynb"):
        notebook = nbformat.read(REPO_ROOT / "notebooks" / name, as_version=4)
        assert _outputs(notebook) == [], name


def test_notebooks_run_on_the_tiny_warehouse(tiny_pipeline: PipelineRun, monkeypatch):
    assert tiny_pipeline.returncode == 0, tiny_pipeline.stderr[-4000:]
    explore = _outputs(_execute("01_explore_events.ipynb", tiny_pipeline.warehouse, monkeypatch))
    pngs = [o for o in explore if "image/png" in o.get("data", {})]
    assert len(pngs) == 2                                     # activity and funnels
    for output in pngs:
        decode_png("data:image/png;base64," + output["data"]["image/png"].replace("\n", ""))
    quality = [o["data"]["text/html"] for o in explore if "text/html" in o.get("data", {})
               and '<section id="quality">' in o["data"]["text/html"]]
    assert len(quality) == 1 and "data:image/png;base64," in quality[0]

    models = _outputs(_execute("02_models_and_bandit.ipynb", tiny_pipeline.warehouse, monkeypatch))
    shown = {key: html for o in models if "text/html" in o.get("data", {})
             for key in TITLES if f'<section id="{key}">' in (html := o["data"]["text/html"])}
    assert set(shown) == set(TITLES) - {"quality"}
    assert all("data:image/png;base64," in shown[k] for k in ("response", "bandit"))
