"""`recsys response --run-date D`: train, calibrate and measure the promotion response model,
then score every eligible (user, active promotion) pair into `promotion_scores`.
`--score-only`: only the scoring, with the latest model trained on or before D."""
from __future__ import annotations

import argparse

from recsys_spark.commands.decisions import decision_lines
from recsys_spark.commands.session import add_run_date, config_from_args, run_context, stage_session
from recsys_spark.config import AppConfig


def register(sub: argparse._SubParsersAction, parent: argparse.ArgumentParser) -> None:
    response = sub.add_parser("response", parents=[parent],
                              help="promotion response model -> promotion_scores, model_metrics")
    add_run_date(response)
    response.add_argument("--score-only", action="store_true",
                          help="do not train: score the run date with the latest model trained "
                               "on or before it (train weekly, score daily)")
    response.set_defaults(func=cmd_response)


def cmd_response(args: argparse.Namespace) -> int:
    from recsys_spark.response.stage import run_response
    from recsys_spark.stage_runner import run_stage

    config = config_from_args(args)  # a bad config fails here, before Spark starts
    if args.score_only:
        return _score_only(args, config)
    with stage_session(config, "recsys-response") as s:
        report = run_stage(s.spark, s.store, run_context(config, args.run_date, "response"),
                           run_response)
    m, notes = report.metrics, report.notes
    if "published" in notes:  # too little history: the baseline was published
        print(f"response {args.run_date}: {report.rows_out} pairs scored; "
              + "; ".join(decision_lines("response", report)))
        return 0
    print(f"response {args.run_date}: {report.rows_in} labelled impressions; {notes['eval_split']} "
          f"AUC-ROC {m['auc_roc']:.4f} (per-promotion rate {m['baseline_promotion_auc_roc']:.4f}), "
          f"log loss {m['log_loss']:.4f} ({m['baseline_promotion_log_loss']:.4f}), "
          f"ECE {m['ece']:.4f}; {report.rows_out} pairs scored; features from "
          f"{notes['features_from']}; model {notes['model_path']}")
    return 0


def _score_only(args: argparse.Namespace, config: AppConfig) -> int:
    from recsys_spark.response.rescore import SCORING_STAGE, run_response_scoring
    from recsys_spark.stage_runner import run_stage

    with stage_session(config, "recsys-response-scoring") as s:
        report = run_stage(s.spark, s.store, run_context(config, args.run_date, SCORING_STAGE),
                           run_response_scoring)
    print(f"response {args.run_date} (score only): {report.rows_out} pairs scored with the model "
          f"trained for {report.notes['model_run_date']} ({report.metrics['model_age_days']:.0f} "
          f"days old); features from {report.notes['features_from']}")
    return 0
