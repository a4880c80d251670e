"""docs/tables.md is generated from the schemas and must not go stale."""
from __future__ import annotations

import pytest

from recsys_spark.docs_gen import DOC_PATH, render_all
from recsys_spark.schemas import ALL_TABLES

pytestmark = pytest.mark.unit


def test_tables_doc_is_up_to_date():
    assert DOC_PATH.read_text(encoding="utf-8") == render_all(), (
        "docs/tables.md is stale: run `python -m recsys_spark.docs_gen`")


def test_every_column_of_every_table_is_explained():
    missing = [f"{name}.{field.name}" for name, spec in ALL_TABLES.items()
               for field in spec.schema.fields if not spec.column_doc(field.name).strip()]
    assert missing == []
