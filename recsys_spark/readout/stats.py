"""Difference in means with a normal (Welch / delta-method) CI, and the sample-ratio-mismatch
test, from per-group sufficient statistics (count, sum, sum of squares).

Pure Python: Spark aggregates each group to three numbers (no per-user rows reach the driver),
and the simulator's coverage test applies the same functions to arrays drawn in numpy.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist


@dataclass(frozen=True)
class GroupStats:
    """Sufficient statistics of one group's per-user values."""

    n: int
    total: float
    total_sq: float

    @property
    def mean(self) -> float:
        return self.total / self.n

    @property
    def variance(self) -> float:
        """Sample variance (n - 1 in the denominator); 0 for a single user."""
        if self.n < 2:
            return 0.0
        return max(self.total_sq - self.total * self.total / self.n, 0.0) / (self.n - 1)


@dataclass(frozen=True)
class Uplift:
    """treated mean - control mean, its CI at ``confidence`` and the two-sided p-value."""

    uplift: float
    std_error: float
    ci_low: float
    ci_high: float
    p_value: float


def diff_in_means(control: GroupStats, treated: GroupStats, confidence: float = 0.95) -> Uplift | None:
    """Welch's difference in means with a normal-approximation CI.

    The standard error sqrt(s_t^2 / n_t + s_c^2 / n_c) is the delta-method error of the
    difference of two independent means (unequal variances). None when a group has fewer than
    two users. With a zero standard error the CI is the point and the p-value 1 (no
    difference) or 0.
    """
    if control.n < 2 or treated.n < 2:
        return None
    uplift = treated.mean - control.mean
    se = math.sqrt(treated.variance / treated.n + control.variance / control.n)
    if se == 0.0:
        return Uplift(uplift, 0.0, uplift, uplift, 1.0 if uplift == 0.0 else 0.0)
    z = NormalDist().inv_cdf(0.5 + confidence / 2.0)
    p_value = math.erfc(abs(uplift) / se / math.sqrt(2.0))
    return Uplift(uplift, se, uplift - z * se, uplift + z * se, p_value)


def srm_p_value(control_users: int, treated_users: int, expected_control_share: float) -> float | None:
    """Chi-square (1 degree of freedom) p-value of the observed control count against the
    configured holdout share; None when the share is 0 or 1 or there are no users."""
    total = control_users + treated_users
    if total == 0 or not 0.0 < expected_control_share < 1.0:
        return None
    expected_c = total * expected_control_share
    expected_t = total - expected_c
    chi2 = ((control_users - expected_c) ** 2 / expected_c
            + (treated_users - expected_t) ** 2 / expected_t)
    return math.erfc(math.sqrt(chi2 / 2.0))
