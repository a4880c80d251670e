"""The bandit tests' run date and their promotion_scores / user_segments rows from plain dicts
(row builders of tests/factories.py)."""
from __future__ import annotations

import datetime as dt
from typing import Any

from tests.factories import score, segment

RUN_DATE = dt.date(2026, 11, 20)
UTC = dt.timezone.utc


def scores_rows(p: dict[tuple[str, str], float]) -> list[dict[str, Any]]:
    """`promotion_scores` rows of the run of RUN_DATE: {(user, promotion): p_response}."""
    return [score(u, pr, v, run_date=RUN_DATE) for (u, pr), v in sorted(p.items())]


def segments_rows(seg: dict[str, str]) -> list[dict[str, Any]]:
    """`user_segments` rows of the run of RUN_DATE: {user: segment}."""
    return [segment(u, s, rfm_segment="x", run_date=RUN_DATE) for u, s in sorted(seg.items())]
