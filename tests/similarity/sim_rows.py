"""A seeded world for the similarity tests, of `events` rows from tests/factories.py."""
from __future__ import annotations

import datetime as dt

import numpy as np

from tests.factories import event


def clustered_world(seed: int = 7, users: int = 180, categories: int = 6, per_category: int = 10,
                    days: int = 5, events_per_day: int = 4, taste: float = 0.85,
                    start: dt.date = dt.date(2026, 11, 1)) -> list[dict]:
    """A shop with collaborative structure: each user mostly views items of one taste category
    (``taste`` share), otherwise globally popular items (Zipf). One session per user and day.
    The last day is the one the evaluation holds out."""
    rng = np.random.default_rng(seed)
    n_items = categories * per_category
    popular = 1.0 / np.arange(1, n_items + 1) ** 1.1
    popular /= popular.sum()
    rows, n = [], 0
    for u in range(users):
        home = u % categories
        for d in range(days):
            day = (start + dt.timedelta(days=d)).isoformat()
            for e in range(events_per_day):
                if rng.random() < taste:
                    item = home * per_category + int(rng.integers(per_category))
                else:
                    item = int(rng.choice(n_items, p=popular))
                n += 1
                rows.append(event(n, day, "view", f"u{u:03d}", item_id=f"i{item:03d}",
                                  category=f"c{item // per_category}.sub", session_id=f"s{u}-{d}",
                                  hour=8 + e))
    return rows
