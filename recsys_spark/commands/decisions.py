"""One line per published choice of a stage report: what was published and why.

Ranking stages note ``<task>.published`` and ``<task>.decision`` (ranking/selection.py) and the
figure ``<task>.test_ndcg@k``; the response stage notes ``published`` / ``decision`` when too
little history made it publish its baseline.
"""
from __future__ import annotations

from recsys_spark.runs import StageReport


def decision_lines(stage: str, report: StageReport) -> list[str]:
    """E.g. "features/categories: published blend — blend won on validation (...); test ndcg@10 0.2871"."""
    lines = []
    for key, published in sorted(report.notes.items()):
        if not key.endswith("published"):
            continue
        task = key[: -len("published")].rstrip(".")
        why = report.notes.get(f"{task}.decision" if task else "decision", "")
        figures = [f"test {name[len(task) + 6:]} {value:.4f}" for name, value in report.metrics.items()
                   if task and name.startswith(f"{task}.test_")]
        where = f"{stage}/{task}" if task else stage
        lines.append(f"{where}: published {published} — {why}" + (f"; {figures[0]}" if figures else ""))
    return lines
