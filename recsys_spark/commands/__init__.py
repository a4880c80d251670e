"""Subcommands of `recsys`. Each module has ``register(subparsers, parent)``, which adds its
parser(s) with ``set_defaults(func=handler)``; a handler takes the parsed args and returns an
exit code. Add a module here to add a command."""
from __future__ import annotations

from recsys_spark.commands import tables_cmd

COMMAND_MODULES = [tables_cmd]
