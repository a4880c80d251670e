"""Inline test data for the als stage: `events` rows at whole hours, and a seeded synthetic world.

The world has clear latent structure: users belong to taste groups and mostly interact with
their group's items (Zipf-like popularity inside a group). Categories are independent of groups,
so neither category nor global popularity alone reveals a user's group; the co-occurrence does.
"""
from __future__ import annotations

import datetime as dt
import random
from collections.abc import Sequence

from pyspark.sql import SparkSession

from recsys_spark.tables import TableStore
from tests.factories import event, write_rows

# Purchases and carts carry a price (the ratings ignore it).
PRICED = {"purchase": {"price": 10.0, "quantity": 1}, "add_to_cart": {"price": 10.0}}


def noon(day: dt.date) -> dt.datetime:
    """12:00 UTC on ``day``: ALS ratings decay by age, so the tests' events are at whole hours."""
    return dt.datetime.combine(day, dt.time(12), tzinfo=dt.timezone.utc)


def write_items(spark: SparkSession, store: TableStore, items: Sequence[tuple[str, str]]) -> None:
    write_rows(spark, store, "items", [
        {"item_id": i, "category": c, "price": 10.0, "name": f"item {i}", "run_id": "test"}
        for i, c in items])


def synthetic_world(seed: int, run_date: dt.date, n_users: int = 240, n_groups: int = 4,
                    items_per_group: int = 30, train_days: int = 21, test_days: int = 7,
                    train_events: int = 14, test_events: int = 3
                    ) -> tuple[list[dict], list[tuple[str, str]]]:
    """Events and (item_id, category) of a taste-group world ending on ``run_date``."""
    rng = random.Random(seed)
    items = [f"i{g}{j:03d}" for g in range(n_groups) for j in range(items_per_group)]
    # Categories cut across groups: item j of every group shares category j % 6.
    catalog = [(i, f"c{int(i[2:]) % 3}.s{int(i[2:]) % 6}") for i in items]
    category = dict(catalog)
    weights = [1.0 / (j + 1) ** 0.7 for j in range(items_per_group)]
    rows: list[dict] = []
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
            rows.append(event(len(rows), noon(day), kind, user, item_id=item, category=category[item],
                              **PRICED.get(kind, {})))
        for _ in range(test_events):
            day = split + dt.timedelta(days=1 + rng.randrange(test_days))
            item = pick()
            rows.append(event(len(rows), noon(day), "click", user, item_id=item,
                              category=category[item]))
    return rows, catalog
