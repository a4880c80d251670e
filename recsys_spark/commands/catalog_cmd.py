"""`recsys catalog import --items FILE --promotions FILE [--users FILE] --as-of DATE`: a shop's
catalog files (CSV, JSON Lines or Parquet) -> the items / promotions / users dimensions, with
bad records in catalog_quarantine (docs/real_data.md)."""
from __future__ import annotations

import argparse

from recsys_spark.commands.session import config_from_args, run_context, stage_session
from recsys_spark.runs import StageReport, parse_run_date

DIMENSION_OPTIONS = (("items", "--items"), ("promotions", "--promotions"), ("users", "--users"))


def register(sub: argparse._SubParsersAction, parent: argparse.ArgumentParser) -> None:
    catalog = sub.add_parser("catalog", help="a shop's catalog files -> items, promotions, users")
    actions = catalog.add_subparsers(dest="catalog_action", metavar="ACTION", required=True)
    imp = actions.add_parser("import", parents=[parent],
                             help="import catalog files (CSV, JSON Lines or Parquet) as of a date")
    add_catalog_files(imp)
    imp.add_argument("--as-of", required=True, type=_as_of, metavar="YYYY-MM-DD",
                     help="the date the files describe; a dimension a later date already wrote "
                          "is kept")
    imp.set_defaults(func=cmd_catalog_import)


def add_catalog_files(parser: argparse.ArgumentParser) -> None:
    """--items, --promotions, --users (each a file or a folder of one format)."""
    for dimension, option in DIMENSION_OPTIONS:
        parser.add_argument(option, default=None, metavar="FILE",
                            help=f"{dimension} file (columns: docs/real_data.md)")


def catalog_files(args: argparse.Namespace) -> dict[str, str]:
    """dimension -> path of the files given on the command line."""
    return {dimension: getattr(args, dimension) for dimension, _ in DIMENSION_OPTIONS
            if getattr(args, dimension)}


def _as_of(text: str):
    from recsys_spark.errors import ConfigError

    try:
        return parse_run_date(text)
    except ConfigError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a date as YYYY-MM-DD") from None


def summary(report: StageReport, files: dict[str, str]) -> list[str]:
    """One line per imported dimension."""
    lines = []
    for dimension in files:
        records = int(report.metrics.get(f"{dimension}_records", 0))
        bad = int(report.metrics.get(f"{dimension}_quarantined", 0))
        state = (f"kept: {report.notes[f'kept.{dimension}']}" if f"kept.{dimension}" in report.notes
                 else f"{dimension}@v{report.outputs[dimension]}")
        lines.append(f"{dimension}: {records} records -> {records - bad} accepted, {bad} "
                     f"quarantined; {state}")
    return lines


def cmd_catalog_import(args: argparse.Namespace) -> int:
    from recsys_spark.clean.catalog.files import CatalogFileError
    from recsys_spark.clean.catalog.importer import STAGE, make_catalog_import
    from recsys_spark.clean.privacy import resolve_hmac_key
    from recsys_spark.stage_runner import run_stage

    files = catalog_files(args)
    if not files:
        raise CatalogFileError("catalog import: give at least one of --items, --promotions, --users")
    config = config_from_args(args)
    if "users" in files:
        resolve_hmac_key(config.clean.privacy)  # refuse before Spark starts
    with stage_session(config, "recsys-catalog-import") as s:
        report = run_stage(s.spark, s.store, run_context(config, args.as_of, STAGE),
                           make_catalog_import(files))
    print(f"catalog import as of {args.as_of}: " + "; ".join(summary(report, files)))
    return 0
