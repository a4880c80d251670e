"""What the notebooks need beyond the report's own functions: a read-only session on a
warehouse, and a section shown inline exactly as the report renders it."""
from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path

from matplotlib.figure import Figure

from recsys_spark.config import load_config
from recsys_spark.report.html_page import render_section
from recsys_spark.report.model import Section
from recsys_spark.report.plots import png_bytes
from recsys_spark.report.snapshot import Snapshot
from recsys_spark.spark import build_spark_session
from recsys_spark.tables import TableStore


def open_snapshot(warehouse: str | Path, config_path: str | Path | None = None,
                  overrides: Sequence[str] = ()) -> Snapshot:
    """A Spark session and a :class:`Snapshot` of the tables under ``warehouse``.

    Spark's checkpoint folder goes to a fresh temporary directory, so reading never writes
    into the warehouse.

    Raises:
        ConfigError: the config file or an override is invalid.
    """
    config = load_config(config_path, [f"warehouse.root={warehouse}",
                                       f"spark.checkpoint_dir={tempfile.mkdtemp(prefix='recsys-nb-')}",
                                       *overrides])
    spark = build_spark_session(config.spark, "recsys-notebook", config.warehouse.root)
    return Snapshot(TableStore(spark, config.warehouse))


def show(section: Section) -> None:
    """Display ``section`` in a notebook as the report renders it (figures, tables, or what
    is not available and how to produce it)."""
    from IPython.display import HTML, display  # only notebooks have IPython

    display(HTML(render_section(section)))


def show_figure(fig: Figure) -> None:
    """Display ``fig`` in a notebook as the PNG the report embeds (no pyplot needed)."""
    from IPython.display import Image, display

    display(Image(data=png_bytes(fig), format="png"))
