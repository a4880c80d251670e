"""`recsys ope` as a library function: read logs, evaluate policies, write `ope_estimates`."""
from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence

from pyspark.sql import SparkSession

from recsys_spark.bandit.ope import Estimate, estimate_policy_value
from recsys_spark.bandit.ope_data import (
    OpeInputError,
    dataset_name,
    evaluation,
    logged_from_events,
    read_jsonl,
    read_obd,
)
from recsys_spark.bandit.ope_truth import find_truth_root, read_response_truth, true_policy_value
from recsys_spark.runs import RunContext, derive_seed
from recsys_spark.schemas.bandit import OPE_ESTIMATES
from recsys_spark.tables import TableStore, WriteResult

log = logging.getLogger(__name__)

OPE_TABLE = "ope_estimates"


def run_ope(spark: SparkSession, store: TableStore, ctx: RunContext, source: str, path: str | None,
            policies: Sequence[str], dataset: str | None = None
            ) -> tuple[str, dict[str, list[Estimate]], WriteResult]:
    """Evaluate ``policies`` on the logs and replace their (run_date, dataset, policy) partitions.

    On simulated logs (jsonl read from a landing folder with the simulator's ground truth, or
    the warehouse events of the configured landing) every estimate also carries the policy's
    true value on the same samples (ope_truth.py); otherwise true_value is None (e.g. obd).

    Returns:
        (dataset name, policy -> estimates, the write result).

    Raises:
        OpeInputError: unreadable or empty logs, unknown policy or source.
    """
    config = ctx.config.bandit
    if source == "obd":
        if not path:
            raise OpeInputError("--source obd needs --input PATH")
        logged_df = read_obd(spark, path)
    elif source == "jsonl":
        if not path:
            raise OpeInputError("--source jsonl needs --input PATH")
        logged_df = read_jsonl(spark, path, config)
    elif source == "events":
        logged_df = logged_from_events(store.read("events"), config)
    else:
        raise OpeInputError(f"--source {source!r}: choose obd, jsonl or events")
    name = dataset or dataset_name(source, path or "warehouse/events")
    logged_df = logged_df.localCheckpoint(eager=True)
    truth_root = find_truth_root(source, path, ctx.config.landing.root)
    truth_df = read_response_truth(spark, truth_root) if truth_root else None
    if truth_root:
        log.info("ope: true values from the simulator's ground truth in %s", truth_root)
    results: dict[str, list[Estimate]] = {}
    records = []
    for policy in policies:
        # Seeded by config seed + dataset + policy (not the run date): the same logs give the same CI.
        seed = derive_seed(ctx.config.run.seed, "ope", name, policy)
        parts = evaluation(policy, logged_df, config, seed)
        estimates = estimate_policy_value(parts.samples_df, seed, config.bootstrap_replicates,
                                          config.bootstrap_blocks)
        if truth_df is not None:
            true_value = true_policy_value(parts.samples_df, parts.dist_df, truth_df,
                                           config.reward_event, logged=policy == "logged")
            estimates = [dataclasses.replace(e, true_value=true_value) for e in estimates]
        results[policy] = estimates
        records += [{"run_id": ctx.run_id, "run_date": ctx.run_date, "dataset": name, "policy": policy,
                     "estimator": e.estimator, "estimate": e.estimate, "ci_lower": e.ci_lower,
                     "ci_upper": e.ci_upper, "n": e.n, "n_bootstrap": e.n_bootstrap,
                     "true_value": e.true_value, "source": source} for e in estimates]
        log.info("ope %s %s: %s", name, policy, estimates)
    df = spark.createDataFrame(records, OPE_ESTIMATES)
    key = ctx.run_date.isoformat()
    result = store.write(df, OPE_TABLE, "overwrite", ctx.commit_info(), partition_by=[
        "run_date", "dataset", "policy"], replace_partitions={
        "run_date": [key], "dataset": [name], "policy": list(policies)},
        txn=ctx.txn(OPE_TABLE, f"{key}/{name}/{'+'.join(policies)}"))
    return name, results, result


