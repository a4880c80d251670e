"""`recsys ope` as a library function: read logs, evaluate policies, write `ope_estimates`."""
from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from typing import Protocol

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql.types import StructType

from recsys_spark.bandit.ope import Estimate, estimate_policy_value
from recsys_spark.bandit.ope_data import (
    OpeInputError,
    dataset_name,
    evaluation,
    logged_from_events,
    read_jsonl,
    read_obd,
)
from recsys_spark.runs import RunContext, StageReport, derive_seed
from recsys_spark.schemas.bandit import OPE_ESTIMATES
from recsys_spark.stage_io import Inputs, write_output
from recsys_spark.tables import TableStore, WriteResult

log = logging.getLogger(__name__)

OPE_TABLE = "ope_estimates"


class PolicyTruth(Protocol):
    """The true value of a policy on the evaluated samples, where it is known (simulated logs;
    see simulate/evaluation.py). Real logs have none."""

    def value(self, samples_df: DataFrame, dist_df: DataFrame, logged: bool) -> float | None: ...


def run_ope(spark: SparkSession, store: TableStore, ctx: RunContext, source: str, path: str | None,
            policies: Sequence[str], dataset: str | None = None, truth: PolicyTruth | None = None
            ) -> tuple[str, dict[str, list[Estimate]], WriteResult]:
    """Evaluate ``policies`` on the logs and replace their (run_date, dataset, policy) partitions.

    With ``truth`` (simulated logs) every estimate also carries the policy's true value on the
    same samples; otherwise true_value is None (e.g. obd).

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
        logged_df = logged_from_events(Inputs(store, ctx, StageReport()).required("events"), config)
    else:
        raise OpeInputError(f"--source {source!r}: choose obd, jsonl or events")
    name = dataset or dataset_name(source, path or "warehouse/events")
    logged_df = logged_df.localCheckpoint(eager=True)
    results: dict[str, list[Estimate]] = {}
    records = []
    for policy in policies:
        # Seeded by config seed + dataset + policy (not the run date): the same logs give the same CI.
        seed = derive_seed(ctx.config.run.seed, "ope", name, policy)
        parts = evaluation(policy, logged_df, config, seed)
        estimates = estimate_policy_value(parts.samples_df, seed, config.bootstrap_replicates,
                                          config.bootstrap_blocks)
        if truth is not None:
            true_value = truth.value(parts.samples_df, parts.dist_df, logged=policy == "logged")
            estimates = [dataclasses.replace(e, true_value=true_value) for e in estimates]
        results[policy] = estimates
        records += [{"dataset": name, "policy": policy,
                     "estimator": e.estimator, "estimate": e.estimate, "ci_lower": e.ci_lower,
                     "ci_upper": e.ci_upper, "n": e.n, "n_bootstrap": e.n_bootstrap,
                     "true_value": e.true_value, "source": source} for e in estimates]
        log.info("ope %s %s: %s", name, policy, estimates)
    schema = StructType([f for f in OPE_ESTIMATES.fields if f.name not in ("run_id", "run_date")])
    result = write_output(store, ctx, None, OPE_TABLE, spark.createDataFrame(records, schema),
                          partitions={"dataset": [name], "policy": policies})
    return name, results, result


