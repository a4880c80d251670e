"""The readout's statistics on hand-computed cases (no Spark)."""
from __future__ import annotations

import math
from dataclasses import astuple

import pytest

from recsys_spark.readout.measure import readout_rows
from recsys_spark.readout.stats import GroupStats, Uplift, diff_in_means, srm_p_value

Z95 = 1.959963984540054


@pytest.mark.unit
def test_welch_difference_in_means_by_hand():
    # control 0, 0, 3, 1: mean 1, s^2 = (1 + 1 + 4 + 0) / 3 = 2; treated 2, 4: mean 3, s^2 = 2.
    # se = sqrt(2/2 + 2/4) = sqrt(1.5); z = 2 / sqrt(1.5).
    control, treated = GroupStats(4, 4.0, 10.0), GroupStats(2, 6.0, 20.0)
    est = diff_in_means(control, treated)
    se = math.sqrt(1.5)
    assert astuple(est) == pytest.approx((2.0, se, 2.0 - Z95 * se, 2.0 + Z95 * se,
                                          math.erfc(2.0 / se / math.sqrt(2.0))))
    assert est.p_value == pytest.approx(0.1025, abs=1e-4)
    # A group of one user has no variance to speak of: no estimate.
    assert diff_in_means(GroupStats(1, 1.0, 1.0), treated) is None
    # Both groups constant: the CI is the point; equal means give p = 1, different p = 0.
    assert diff_in_means(GroupStats(3, 0.0, 0.0), GroupStats(2, 0.0, 0.0)) == Uplift(0.0, 0.0, 0.0, 0.0, 1.0)
    assert diff_in_means(GroupStats(3, 0.0, 0.0), GroupStats(2, 2.0, 2.0)) == Uplift(1.0, 0.0, 1.0, 1.0, 0.0)


@pytest.mark.unit
def test_sample_ratio_mismatch_by_hand():
    # 100 users, share 0.1: 10 control expected. 10 observed: chi2 0, p 1.
    assert srm_p_value(10, 90, 0.1) == pytest.approx(1.0)
    # 20 observed: chi2 = 100/10 + 100/90 = 11.11; p = erfc(sqrt(11.11/2)) = 0.000858.
    assert srm_p_value(20, 80, 0.1) == pytest.approx(math.erfc(math.sqrt((10.0 + 100 / 90) / 2)))
    assert srm_p_value(20, 80, 0.1) == pytest.approx(8.58e-4, rel=1e-2)
    assert srm_p_value(0, 0, 0.1) is None and srm_p_value(0, 10, 0.0) is None


@pytest.mark.unit
def test_readout_rows_from_group_statistics():
    def stats(group, n, rr, red, rev):
        return {"dimension": "all", "dim_value": "all", "group": group, "n": n,
                "response_rate_sum": rr[0], "response_rate_sq": rr[1],
                "redemptions_per_user_sum": red[0], "redemptions_per_user_sq": red[1],
                "revenue_per_user_sum": rev[0], "revenue_per_user_sq": rev[1]}
    # control: 2 users, nobody responds, revenue 8 and 0; treated: 3 users responding 1, 1, 0 with
    # redemptions 2, 1, 0 and revenue 20, 5, 0.
    rows = readout_rows([stats("control", 2, (0, 0), (0, 0), (8.0, 64.0)),
                         stats("treated", 3, (2, 2), (3, 5), (25.0, 425.0))],
                        holdout_share=0.4, confidence=0.95, srm_alpha=0.001)
    assert [r["metric"] for r in rows] == ["response_rate", "redemptions_per_user", "revenue_per_user"]
    rr, red, rev = rows
    # response: treated mean 2/3, s^2 = 1/3, se = sqrt(1/9) = 1/3 (control constant).
    assert rr["uplift"] == pytest.approx(2 / 3) and rr["ci_low"] == pytest.approx(2 / 3 - Z95 / 3)
    assert rr["incremental"] == pytest.approx(2.0) and rr["incremental_ci_high"] == pytest.approx(2 + Z95)
    # redemptions: treated mean 1, s^2 = 1, se = sqrt(1/3).
    assert red["uplift"] == pytest.approx(1.0) and red["ci_high"] == pytest.approx(1 + Z95 * math.sqrt(1 / 3))
    # revenue: control mean 4, s^2 = 32; treated mean 25/3, s^2 = (425 - 625/3) / 2 = 108.33.
    se = math.sqrt(32 / 2 + (425 - 625 / 3) / 2 / 3)
    assert rev["uplift"] == pytest.approx(25 / 3 - 4)
    assert rev["ci_low"] == pytest.approx(25 / 3 - 4 - Z95 * se)
    assert rev["p_value"] == pytest.approx(math.erfc((25 / 3 - 4) / se / math.sqrt(2)))
    # 2 of 5 users in control with share 0.4: no mismatch.
    assert rr["observed_holdout_share"] == 0.4 and rr["srm_p_value"] == pytest.approx(1.0)
    assert rr["srm_flag"] is False and rr["control_users"] == 2 and rr["treated_users"] == 3
