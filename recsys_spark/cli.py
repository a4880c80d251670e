"""The `recsys` command line: one subcommand per stage plus table administration.

Exit codes follow the one table in :mod:`recsys_spark.errors` (0 success, 1 a bug with its
traceback, 2 the user's mistake, 3 a gate stopped the publish, 4 a concurrent writer won,
5 input unreadable); every error but a bug ends as one line on stderr. The jobs in ``jobs/``
call :func:`main`, so ``spark-submit`` exits with the same codes.
"""
from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from recsys_spark.commands import COMMAND_MODULES
from recsys_spark.errors import EXIT_BUG, EXIT_USER_ERROR, exit_code_for, one_line


class OneLineParser(argparse.ArgumentParser):
    """argparse that reports a usage mistake as one line (no usage dump) and exits 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_USER_ERROR, f"{self.prog}: error: {message}\n")


def common_options() -> argparse.ArgumentParser:
    """Options every stage shares: --config, --run-date, --set, --verbose."""
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument("--config", default=None, metavar="FILE",
                        help="environment config (default: conf/local.yaml); base.yaml beside it "
                             "is loaded first")
    parent.add_argument("--set", dest="overrides", action="append", default=[],
                        metavar="KEY=VALUE", help="override one config key (repeatable)")
    parent.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    parent.add_argument("--profile", action="store_true",
                        help="after each stage, print its Spark jobs: seconds, tasks, rows, call "
                             "site (turns the Spark UI on at 127.0.0.1)")
    return parent


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="recsys", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, parser_class=OneLineParser,
                                metavar="COMMAND")
    parent = common_options()
    for module in COMMAND_MODULES:
        module.register(sub, parent)
    return parser


def _quiet_py4j() -> None:
    for name in ("py4j", "py4j.clientserver", "py4j.java_gateway"):
        logging.getLogger(name).setLevel(logging.ERROR)


def _show_profiles() -> None:
    """Stage profiles (recsys_spark.profiling) go to stderr as they are, without log prefixes."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    profile_logger = logging.getLogger("recsys_spark.profile")
    profile_logger.setLevel(logging.INFO)
    profile_logger.addHandler(handler)
    profile_logger.propagate = False


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if getattr(args, "verbose", False) else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    _quiet_py4j()
    if getattr(args, "profile", False):
        _show_profiles()
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("recsys: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        code = exit_code_for(exc)
        if code == EXIT_BUG:
            raise  # the interpreter prints the traceback and exits 1
        print(f"recsys: {one_line(exc)}", file=sys.stderr)
        return code


if __name__ == "__main__":
    sys.exit(main())
