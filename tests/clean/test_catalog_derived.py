"""Where no catalog exists, clean derives the items dimension from the events (last seen
values); a catalog, once there, is never overwritten by derived rows."""
from __future__ import annotations

import datetime as dt

import pytest
from pyspark.testing import assertDataFrameEqual

from recsys_spark.clean.catalog.derived import items_from_events, updated
from recsys_spark.clean.catalog.importer import STAGE, make_catalog_import
from recsys_spark.runs import RunContext
from recsys_spark.stage_runner import run_stage
from recsys_spark.tables import TableStore
from tests.clean.helpers import RUN_DATE, event, landing_day, line, read_table, run_clean, write_lines
from tests.factories import event as clean_event
from tests.factories import frame, make_config

DAY = "2026-11-02"
ITEM_COLUMNS = "item_id string, category string, brand string, price double, name string, origin string"


@pytest.mark.unit
def test_items_from_events_take_each_last_seen_value(spark):
    events_df = frame(spark, "events", [
        clean_event(1, DAY, "view", "u1", item_id="i1", category="home.a", brand="x", price=10.0),
        # e2 and e3 share their instant: the larger event_id is the later one.
        clean_event(2, DAY, "add_to_cart", "u1", item_id="i1", category=None, brand="y", price=12.0,
                    event_time=dt.datetime(2026, 11, 2, 11, tzinfo=dt.timezone.utc)),
        clean_event(3, DAY, "purchase", "u2", item_id="i1", category="home.b", brand=None, price=None,
                    event_time=dt.datetime(2026, 11, 2, 11, tzinfo=dt.timezone.utc)),
        clean_event(4, DAY, "view", "u2", item_id="i2"),                  # nothing known but the id
        clean_event(5, DAY, "promo_impression", "u2", item_id="i3", promotion_id="p1",
                    category="toys"),                                      # not an item event
        clean_event(6, DAY, "view", None, item_id=None, category="toys"),  # no item
    ])
    assertDataFrameEqual(items_from_events(events_df), spark.createDataFrame(
        [("i1", "home.b", "y", 12.0, None, "derived"), ("i2", None, None, None, None, "derived")],
        ITEM_COLUMNS))


@pytest.mark.unit
def test_updated_keeps_earlier_items_and_takes_new_values(spark):
    earlier = spark.createDataFrame([("i1", "home", "x", 5.0, None, "derived"),
                                     ("i2", "toys", "y", 3.0, None, "derived")], ITEM_COLUMNS)
    new = spark.createDataFrame([("i1", None, "z", 6.0, None, "derived"),
                                 ("i3", "books", None, 9.0, None, "derived")], ITEM_COLUMNS)
    assertDataFrameEqual(updated(new, earlier, "items"), spark.createDataFrame(
        [("i1", "home", "z", 6.0, None, "derived"), ("i2", "toys", "y", 3.0, None, "derived"),
         ("i3", "books", None, 9.0, None, "derived")], ITEM_COLUMNS))
    assertDataFrameEqual(updated(new, None, "items"), new)


@pytest.mark.stage
def test_clean_derives_items_day_by_day_until_a_catalog_arrives(spark, tmp_path):
    config = make_config(tmp_path)
    next_day = RUN_DATE + dt.timedelta(days=1)
    write_lines(landing_day(config) / "p.jsonl.gz", [
        line(event(1, item_id="i1", category="home.a", brand="x", price=10.0)),
        line(event(2, item_id="i2", category="toys.b", brand=None, price=4.0))])
    write_lines(landing_day(config, next_day) / "p.jsonl.gz", [
        line(event(3, item_id="i1", category="home.c", brand=None, price=11.0,
                   event_time="2026-11-03T09:00:00Z"))])
    run_clean(spark, config)
    report = run_clean(spark, config, next_day)
    assert report.notes["derived.items"] == "from the logs"
    assertDataFrameEqual(read_table(spark, config, "items").drop("run_id"), spark.createDataFrame(
        [("i1", "home.c", "x", 11.0, None, "derived"), ("i2", "toys.b", None, 4.0, None, "derived")],
        ITEM_COLUMNS))
    # (A rerun of the first day would keep this state: write_dims never rolls a later state back,
    # tested on the catalog import, which shares it.)

    # A shop's catalog arrives: later clean runs leave it alone.
    catalog = tmp_path / "items.csv"
    catalog.write_text("item_id,category\ni9,garden\n")
    store = TableStore(spark, config.warehouse)
    run_stage(spark, store, RunContext(config=config, run_date=next_day, stage=STAGE),
              make_catalog_import({"items": str(catalog)}))
    day_3 = next_day + dt.timedelta(days=1)
    write_lines(landing_day(config, day_3) / "p.jsonl.gz", [
        line(event(4, item_id="i1", price=12.0, event_time="2026-11-04T09:00:00Z"))])
    version = store.version("items")
    assert run_clean(spark, config, day_3).notes["derived.items"] == (
        "not written: the table holds a catalog")
    assert store.version("items") == version
