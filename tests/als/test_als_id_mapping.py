"""The persisted id mapping: round trip, stability across runs and new ids, int32 guard."""
from __future__ import annotations

import datetime as dt

import pytest
from chispa import assert_df_equality
from pyspark.sql import functions as F

from recsys_spark.als.id_mapping import (
    ID_MAP_TABLE,
    MAX_ALS_INDEX,
    AlsIdRangeError,
    update_id_map,
    with_id,
    with_index,
)
from recsys_spark.runs import RunContext
from recsys_spark.tables import TableStore
from tests.factories import make_config

pytestmark = pytest.mark.stage


def _ids(spark, *ids):
    return spark.createDataFrame([(i,) for i in ids], "id string")


def _map(spark, store, ctx, *ids):
    return {r["id"]: r["idx"] for r in update_id_map(spark, store, ctx, "item", _ids(spark, *ids))
            .collect()}


def test_mapping_round_trips_and_is_stable_across_runs(spark, tmp_path):
    config = make_config(tmp_path)
    store = TableStore(spark, config.warehouse)
    day1 = RunContext(config, dt.date(2026, 11, 1), "als")
    day2 = RunContext(config, dt.date(2026, 11, 2), "als")

    first = _map(spark, store, day1, "b", "a", "c", "a")
    assert sorted(first.values()) == [0, 1, 2]

    # Round trip: string -> int (as ALS wants) -> string.
    data = spark.createDataFrame([("a", 1.0), ("c", 2.0)], "item_id string, rating double")
    map_df = update_id_map(spark, store, day1, "item", _ids(spark, "a", "c"))
    indexed = data.transform(with_index, map_df, "item_id", "item_idx")
    assert dict(indexed.dtypes)["item_idx"] == "int"
    back = indexed.drop("item_id").transform(with_id, map_df, "item_idx", "item_id")
    assert_df_equality(back.select("item_id", "rating"), data, ignore_row_order=True,
                       ignore_nullable=True)

    # Next run: old ids keep their index, new ids continue after the max.
    second = _map(spark, store, day2, "c", "d", "b", "e")
    assert {k: second[k] for k in ("b", "c")} == {"b": first["b"], "c": first["c"]}
    assert sorted([second["d"], second["e"]]) == [3, 4]
    # A rerun of the same day adds nothing and changes nothing.
    version = store.version(ID_MAP_TABLE)
    assert _map(spark, store, day2, "c", "d", "b", "e") == second
    assert store.version(ID_MAP_TABLE) == version
    table = store.read(ID_MAP_TABLE).select("kind", "id", "idx", "run_date")
    expected = spark.createDataFrame(
        [("item", k, v, dt.date(2026, 11, 1)) for k, v in first.items()]
        + [("item", k, second[k], dt.date(2026, 11, 2)) for k in ("d", "e")],
        "kind string, id string, idx long, run_date date")
    assert_df_equality(table, expected, ignore_row_order=True, ignore_nullable=True)

    # The numbering of new ids is deterministic: a fresh warehouse gives the same indices.
    other = TableStore(spark, make_config(tmp_path / "other").warehouse)
    assert _map(spark, other, day1, "a", "b", "c") == first


def test_ids_beyond_int32_fail_clearly(spark, tmp_path):
    config = make_config(tmp_path)
    store = TableStore(spark, config.warehouse)
    ctx = RunContext(config, dt.date(2026, 11, 1), "als")
    seed_df = spark.createDataFrame([("item", "x", MAX_ALS_INDEX - 1, "r0", dt.date(2026, 10, 1))],
                                    "kind string, id string, idx long, run_id string, run_date date")
    store.write(seed_df.select("kind", "id", "idx", "run_id", "run_date"), ID_MAP_TABLE, "append",
                ctx.commit_info(), partition_by=["kind"])
    with pytest.raises(AlsIdRangeError, match="32-bit"):
        _map(spark, store, ctx, "x", "y", "z")   # would need 2^31 - 1 and 2^31
    assert _map(spark, store, ctx, "x", "y") == {"x": MAX_ALS_INDEX - 1, "y": MAX_ALS_INDEX}
    assert store.read(ID_MAP_TABLE).filter(F.col("id") == "z").count() == 0
