"""Subcommands of `recsys`. Each module has ``register(subparsers, parent)``, which adds its
parser(s) with ``set_defaults(func=handler)``; a handler takes the parsed args and returns an
exit code. Add a module here to add a command."""
from __future__ import annotations

from recsys_spark.commands import (
    als_cmd,
    bandit_cmd,
    catalog_cmd,
    clean_cmd,
    features_cmd,
    loop_cmd,
    readout_cmd,
    report_cmd,
    response_cmd,
    run_cmd,
    similarity_cmd,
    simulate_cmd,
    sql_cmd,
    tables_cmd,
)

# In the order `recsys --help` lists them: the pipeline first, then stages, then administration.
COMMAND_MODULES = [run_cmd, simulate_cmd, catalog_cmd, clean_cmd, features_cmd, similarity_cmd,
                   als_cmd, response_cmd, bandit_cmd, readout_cmd, loop_cmd, report_cmd, sql_cmd,
                   tables_cmd]
