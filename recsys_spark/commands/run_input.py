"""`recsys run --input PATH [--source S] [--items F] [--promotions F] [--users F]`: the pipeline
on a shop's own logs, never the simulator (docs/real_data.md).

The catalog files are imported first (as of the run date), then the input is cleaned once as of
its last day with a lookback reaching its first day (the days come from --start-date/--days, or
from the input itself: clean/span.py), then the model stages run for that day.
"""
from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import functools
import sys
from collections.abc import Callable
from dataclasses import dataclass

from recsys_spark.commands.catalog_cmd import add_catalog_files, catalog_files
from recsys_spark.commands.session import StageSession
from recsys_spark.config import AppConfig
from recsys_spark.errors import ConfigError
from recsys_spark.runs import RunContext
from recsys_spark.settings.clean import SOURCES
from recsys_spark.stage_runner import StageFn


def add_input_options(run: argparse.ArgumentParser) -> None:
    run.add_argument("--input", default=None, metavar="PATH",
                     help="your raw logs (a file or folder): run on them, never simulate")
    run.add_argument("--source", choices=SOURCES, default=None,
                     help="adapter of --input (default: clean.source)")
    add_catalog_files(run)


def check_input_options(args: argparse.Namespace) -> None:
    """Refuse combinations that cannot mean what they say, before Spark starts."""
    if args.input is None:
        given = (["--source"] if args.source else []) + [f"--{d}" for d in catalog_files(args)]
        if given:
            raise ConfigError(f"{', '.join(given)} need --input (the logs to run on)")
        return
    if args.preset is not None:
        raise ConfigError("--input runs on your logs and never simulates: drop --preset")
    if args.days is not None and args.start_date is None:
        raise ConfigError("--days with --input needs --start-date (without both, the run covers "
                          "the days of the input)")


@dataclass(frozen=True)
class InputRun:
    """What `recsys run --input` hands to run_pipeline."""

    config: AppConfig               # clean.lookback_days reaching the input's first day
    dates: list[dt.date]            # the one run date: the input's last day
    load: Callable[[str], StageFn]  # clean reads --input with --source


def prepare_input_run(session: StageSession, config: AppConfig, args: argparse.Namespace,
                      window: tuple[dt.date, dt.date] | None) -> InputRun:
    """Import the catalog files and plan the run over ``args.input``.

    Args:
        window: (first, last) day given with --start-date/--days; None = the input's own span.

    Raises:
        CleanInputError / CatalogFileError: unusable input or catalog file (exit 2).
        CatalogGateError: too many bad catalog records (exit 3); nothing imported.
    """
    from recsys_spark.clean.catalog.importer import STAGE, make_catalog_import
    from recsys_spark.clean.span import input_date_span
    from recsys_spark.clean.stage import run_clean
    from recsys_spark.pipeline import load_stage
    from recsys_spark.stage_runner import run_stage

    source = args.source or config.clean.source
    first, last = window or input_date_span(session.spark, source, args.input, config.clean)
    lookback = max(config.clean.lookback_days, (last - first).days)
    config = dataclasses.replace(config, clean=dataclasses.replace(config.clean,
                                                                   lookback_days=lookback))
    print(f"running on {args.input} ({source}): {first}..{last}, cleaned as of {last}",
          file=sys.stderr)
    files = catalog_files(args)
    if files:
        run_stage(session.spark, session.store, RunContext(config, last, STAGE),
                  make_catalog_import(files))
        print(f"imported {', '.join(files)} as of {last}", file=sys.stderr)

    def load(stage: str) -> StageFn:
        if stage == "clean":
            return functools.partial(run_clean, source=source, input_path=args.input)
        return load_stage(stage)

    return InputRun(config, [last], load)
