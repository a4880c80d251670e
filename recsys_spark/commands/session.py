"""Opening what a command needs: the validated config, then (only if needed) Spark and tables."""
from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass

from pyspark.sql import SparkSession

from recsys_spark.config import AppConfig, load_config
from recsys_spark.runs import RunContext, parse_run_date
from recsys_spark.spark import build_spark_session
from recsys_spark.tables import TableStore


def add_run_date(parser: argparse.ArgumentParser, required: bool = True,
                 help: str = "the business date this run processes") -> None:
    parser.add_argument("--run-date", required=required, type=_run_date, metavar="YYYY-MM-DD",
                        help=help)


def _run_date(text: str) -> dt.date:
    from recsys_spark.errors import ConfigError

    try:
        return parse_run_date(text)
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(str(exc).replace("--run-date ", "")) from None


def config_from_args(args: argparse.Namespace) -> AppConfig:
    """Validated config; raises ConfigError before any Spark work starts. With ``--profile``
    the Spark settings also turn on the job profile (recsys_spark/profiling.py); Spark
    settings are not part of a run's identity, so run ids do not change."""
    config = load_config(args.config, args.overrides)
    if getattr(args, "profile", False):
        from recsys_spark.profiling import profile_settings

        config = dataclasses.replace(config, spark=dataclasses.replace(
            config.spark, ui_enabled=True, extra={**config.spark.extra, **profile_settings()}))
    return config


@dataclass
class StageSession:
    config: AppConfig
    spark: SparkSession
    store: TableStore


@contextlib.contextmanager
def stage_session(config: AppConfig, app_name: str) -> Iterator[StageSession]:
    """Spark + table store for one command; Spark stops at the end unless spark-submit owns it."""
    spark = build_spark_session(config.spark, app_name, config.warehouse.root,
                                delta_backend=config.warehouse.backend)
    try:
        yield StageSession(config, spark, TableStore(spark, config.warehouse))
    finally:
        spark.stop()


def run_context(config: AppConfig, run_date: dt.date, stage: str) -> RunContext:
    return RunContext(config=config, run_date=run_date, stage=stage)
