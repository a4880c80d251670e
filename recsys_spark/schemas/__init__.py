"""Every table's StructType, declared once. Stages import schemas from here.

Each submodule declares the tables one part of the pipeline writes in a ``TABLES`` dict;
``ALL_TABLES`` merges them (docs/tables.md is generated from it).
"""
from __future__ import annotations

from recsys_spark.schemas import als as _als
from recsys_spark.schemas import bandit as _bandit
from recsys_spark.schemas import events as _events
from recsys_spark.schemas import features as _features
from recsys_spark.schemas import loop as _loop
from recsys_spark.schemas import readout as _readout
from recsys_spark.schemas import response as _response
from recsys_spark.schemas import runs
from recsys_spark.schemas import similarity as _similarity
from recsys_spark.schemas.runs import MODEL_METRICS, PIPELINE_RUNS
from recsys_spark.schemas.spec import TableSpec, col

_MODULES = [runs, _als, _features, _similarity, _bandit, _events, _response, _loop,
            _readout]

ALL_TABLES: dict[str, TableSpec] = {}
for _module in _MODULES:
    ALL_TABLES.update(_module.TABLES)

__all__ = ["ALL_TABLES", "MODEL_METRICS", "PIPELINE_RUNS", "TableSpec", "col"]
