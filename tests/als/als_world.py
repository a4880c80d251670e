"""Inline test data for the als stage: the exact `events` columns, and a seeded synthetic world.

The world has clear latent structure: users belong to taste groups and mostly interact with
their group's items (Zipf-like popularity inside a group). Categories are independent of groups,
so neither category nor global popularity alone reveals a user's group; the co-occurrence does.
"""
from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterable, Sequence

from pyspark.sql import DataFrame, SparkSession

from recsys_spark.schemas.events import EVENTS, ITEMS
from recsys_spark.tables import CommitInfo, TableStore
from tests.schemas import nullable

EVENTS_SCHEMA = nullable(EVENTS)
ITEMS_SCHEMA = nullable(ITEMS)

UTC = dt.timezone.utc


def event(n: int, day: dt.date, user: str | None, item: str | None, event_type: str = "view",
          category: str | None = None, hour: int = 12) -> tuple:
    """One `events` row; ``n`` makes the event id unique."""
    ts = dt.datetime.combine(day, dt.time(hour), tzinfo=UTC)
    price = 10.0 if event_type in ("purchase", "add_to_cart") else None
    quantity = 1 if event_type == "purchase" else None
    return (f"e{n:016x}", ts, day, event_type, user, f"s-{user}-{day}", item, category, None, price,
            quantity, None, None, None, None, "jsonl", "test.jsonl.gz", "test-run", {})


def events_df(spark: SparkSession, rows: Iterable[tuple]) -> DataFrame:
    return spark.createDataFrame(list(rows), EVENTS_SCHEMA)


def write_events(store: TableStore, df: DataFrame) -> None:
    store.write(df, "events", "overwrite", CommitInfo(run_id="test", stage="clean"),
                partition_by=["event_date"])


def write_items(spark: SparkSession, store: TableStore, items: Sequence[tuple[str, str]]) -> None:
    df = spark.createDataFrame([(i, c, None, 10.0, f"item {i}", "test") for i, c in items],
                               ITEMS_SCHEMA)
    store.write(df, "items", "overwrite", CommitInfo(run_id="test", stage="clean"))


def synthetic_world(seed: int, run_date: dt.date, n_users: int = 240, n_groups: int = 4,
                    items_per_group: int = 30, train_days: int = 21, test_days: int = 7,
                    train_events: int = 14, test_events: int = 3
                    ) -> tuple[list[tuple], list[tuple[str, str]]]:
    """Events and (item_id, category) of a taste-group world ending on ``run_date``."""
    rng = random.Random(seed)
    items = [f"i{g}{j:03d}" for g in range(n_groups) for j in range(items_per_group)]
    # Categories cut across groups: item j of every group shares category j % 6.
    catalog = [(i, f"c{int(i[2:]) % 3}.s{int(i[2:]) % 6}") for i in items]
    category = dict(catalog)
    weights = [1.0 / (j + 1) ** 0.7 for j in range(items_per_group)]
    rows: list[tuple] = []
    first = run_date - dt.timedelta(days=train_days + test_days - 1)
    split = run_date - dt.timedelta(days=test_days)
    for u in range(n_users):
        user, group = f"u{u:04d}", u % n_groups
        own = [f"i{group}{j:03d}" for j in range(items_per_group)]

        def pick(own: list[str] = own) -> str:
            if rng.random() < 0.1:
                return rng.choice(items)
            return rng.choices(own, weights=weights)[0]

        for _ in range(train_events):
            day = first + dt.timedelta(days=rng.randrange((split - first).days + 1))
            kind = rng.choices(["view", "click", "add_to_cart", "purchase"], [6, 3, 1, 1])[0]
            item = pick()
            rows.append(event(len(rows), day, user, item, kind, category[item]))
        for _ in range(test_events):
            day = split + dt.timedelta(days=1 + rng.randrange(test_days))
            item = pick()
            rows.append(event(len(rows), day, user, item, "click", category[item]))
    return rows, catalog
