"""A hand-made warehouse holding exactly the rows the report reads (written through TableStore)."""
from __future__ import annotations

import datetime as dt

from pyspark.sql import SparkSession

from recsys_spark.schemas import ALL_TABLES
from recsys_spark.tables import CommitInfo, TableStore

DAY1, DAY2 = dt.date(2026, 11, 1), dt.date(2026, 11, 2)
RUN1, RUN2 = "20261101-test", "20261102-test"
START = dt.datetime(2026, 11, 2, 6, 0)

# events_quarantine: one row per record; the second record has two reasons
QUARANTINE = [(DAY1, ["bad_type"]), (DAY1, ["bad_type", "out_of_range"]), (DAY1, ["bot_traffic"]),
              (DAY2, ["missing_required"]), (DAY2, ["bot_traffic"])]
# arms: (context, promotion, alpha, beta) chosen so the 95% intervals have closed forms
ARMS = [("global", "p1", 1.0, 1.0), ("global", "p2", 1.0, 3.0), ("s0", "p1", 3.0, 1.0)]


def _run(run_date, run_id, stage, attempt, status="succeeded", metrics=None, quality=None, offset=0):
    return {"run_id": run_id, "run_date": run_date, "stage": stage, "attempt": attempt,
            "status": status, "started_at": START + dt.timedelta(minutes=offset), "duration_s": 1.5,
            "inputs": {}, "outputs": {}, "rows_in": 10, "rows_out": 8, "metrics": metrics or {},
            "quality": quality or {}, "notes": {}, "error": None, "config_fingerprint": "test"}


def pipeline_runs() -> list[dict]:
    clean = {"records_in": 20.0, "clean": 15.0, "duplicates": 2.0, "quarantined": 3.0}
    return [
        # a failed first attempt on DAY1: the report shows the last attempt only
        _run(DAY1, RUN1, "clean", 1, status="failed", offset=-60),
        _run(DAY1, RUN1, "clean", 2, metrics=clean,
             quality={"Size": "pass: ok", "QuarantineShare": "fail: 0.4 (max 0.35)"}),
        _run(DAY2, RUN2, "clean", 3, offset=1, metrics={**clean, "records_in": 30.0, "clean": 26.0,
                                                         "quarantined": 2.0}),
        *[_run(DAY2, RUN2, stage, 4, offset=2 + i)
          for i, stage in enumerate(("features", "similarity", "als", "response", "bandit"))],
    ]


def model_metrics() -> list[dict]:
    def row(stage, model, metric, value, split, params=None):
        return {"run_id": RUN2, "run_date": DAY2, "stage": stage, "model": model, "metric": metric,
                "value": value, "split": split, "params": params or {}}

    rows = [row("als", model, metric, value, "chronological_holdout")
            for model, ndcg, precision in (("als", 0.25, 0.125), ("popularity", 0.125, 0.0625),
                                           ("als_trial_00", 0.5, 0.5))
            for metric, value in (("ndcg@10", ndcg), ("precision@10", precision),
                                  ("eval_users", 8.0))]
    rows += [row("similarity", model, metric, value, "holdout_day")
             for model, hit in (("similarity_cosine", 0.75), ("popularity", 0.5))
             for metric, value in (("hit_rate@10", hit), ("ndcg@10", hit / 2))]
    # categories for a user: each candidate on the validation window (where the choice is made)
    # and on the later test window (where the published one is reported)
    rows += [row("features", model, metric, value, split)
             for model, split, ndcg in (("own_history", "validation", 0.5), ("own_history", "test", 0.375),
                                        ("popularity", "validation", 0.25), ("popularity", "test", 0.25))
             for metric, value in (("ndcg@10", ndcg), ("hit_rate@10", 2 * ndcg), ("eval_users", 8.0))]
    for model, auc in (("response_logreg", 0.75), ("baseline_global_rate", 0.5)):
        rows += [row("response", model, "auc_roc", auc, "test"), row("response", model, "ece", 0.05, "test"),
                 row("response", model, "grid_auc_roc", 0.7, "validation")]
    rows += [row("response", "response_logreg", f"reliability_bin_{b:02d}", rate, "test",
                 {"lower": b / 10, "upper": (b + 1) / 10, "count": n, "mean_predicted": mean})
             for b, n, mean, rate in ((1, 40, 0.15, 0.125), (3, 20, 0.35, 0.375))]
    rows.append(row("response", "baseline_global_rate", "reliability_bin_02", 0.25, "test",
                    {"lower": 0.2, "upper": 0.3, "count": 60, "mean_predicted": 0.25}))
    return rows


def arm_stats() -> list[dict]:
    return [{"run_id": RUN2, "run_date": DAY2, "context": c, "promotion_id": p, "impressions": 4.0,
             "rewards": 1.0, "raw_impressions": 4, "raw_rewards": 1, "prior_mean": 0.2,
             "prior_strength": 2.0, "alpha": a, "beta": b, "posterior_mean": a / (a + b),
             "segment_mean_p": 0.2, "n_users": 5, "window_start": DAY1, "window_end": DAY2}
            for c, p, a, b in ARMS]


def loop_results() -> list[dict]:
    out = []
    for policy, reward, regret in (("thompson", 2.0, 0.5), ("random", 1.0, 1.5)):
        for day in (1, 2, 3):
            out.append({"run_id": "20261110-loop", "policy": policy, "loop_day": day,
                        "run_date": DAY2 + dt.timedelta(days=day), "shown_users": 5,
                        "impressions": 10, "expected_reward": reward, "oracle_reward": reward + regret,
                        "regret": regret, "realized_rewards": 1, "cumulative_reward": reward * day,
                        "cumulative_regret": regret * day})
    return out


def ope_estimates() -> list[dict]:
    return [{"run_id": RUN2, "run_date": DAY2, "dataset": "events", "policy": policy,
             "estimator": estimator, "estimate": value, "ci_lower": value - 0.01,
             "ci_upper": value + 0.01, "n": 100, "n_bootstrap": 50, "true_value": truth,
             "source": "events"}
            for policy, truth in (("thompson", 0.06), ("uniform", None))
            for estimator, value in (("ips", 0.05), ("dr", 0.055))]


# ab_readout: (dimension, value, metric, control mean, treated mean, uplift, ci_low, ci_high, p)
READOUT = [("all", "all", "response_rate", 0.0, 0.25, 0.25, 0.125, 0.375, 0.001),
           ("segment", "s0", "response_rate", 0.0, 0.5, 0.5, 0.25, 0.75, 0.0001)]


def ab_readout() -> list[dict]:
    return [{"window_days": 14, "dimension": d, "dim_value": v, "metric": m, "control_users": 10,
             "treated_users": 90, "control_mean": c, "treated_mean": t, "uplift": u, "ci_low": lo,
             "ci_high": hi, "p_value": p, "incremental": u * 90, "incremental_ci_low": lo * 90,
             "incremental_ci_high": hi * 90, "confidence": 0.95, "expected_holdout_share": 0.1,
             "observed_holdout_share": 0.1, "srm_p_value": 1.0, "srm_flag": False, "run_id": RUN2,
             "run_date": DAY2}
            for d, v, m, c, t, u, lo, hi, p in READOUT]


def policy_monitor() -> list[dict]:
    return [{"metric": m, "key": k, "value": v, "threshold": t, "flagged": None if t is None else v > t,
             "run_id": run_id, "run_date": day}
            for day, run_id, psi in ((DAY1, RUN1, 0.0), (DAY2, RUN2, 0.5))
            for m, k, v, t in (("exploration_rate", "all", 0.25, 0.5),
                               ("promotion_mix_psi", "all", psi, 0.25), ("promotion_share", "p1", 1.0, None))]


def quarantine() -> list[dict]:
    return [{"run_id": RUN1 if day == DAY1 else RUN2, "run_date": day, "source": "jsonl",
             "source_file": "f.jsonl", "line_number": i + 1, "record_seq": 0, "raw_record": "{}",
             "reasons": reasons, "event_id": None, "event_time": None}
            for i, (day, reasons) in enumerate(QUARANTINE)]


ROWS = {"pipeline_runs": pipeline_runs, "events_quarantine": quarantine, "model_metrics": model_metrics,
        "bandit_arm_stats": arm_stats, "loop_results": loop_results, "ope_estimates": ope_estimates,
        "ab_readout": ab_readout, "policy_monitor": policy_monitor}


def write_tables(spark: SparkSession, store: TableStore, tables=tuple(ROWS)) -> None:
    """Write ``tables`` (one commit each, so each is at version 0)."""
    for name in tables:
        spec = ALL_TABLES[name]
        df = spark.createDataFrame(ROWS[name](), spec.schema)
        store.write(df, name, "append", CommitInfo("test-run", "test"),
                    partition_by=list(spec.partition_by))
