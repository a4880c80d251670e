"""A seeded synthetic promotion log whose true response probabilities are known.

True model (logistic): logit p = base[promotion] + 0.35 * purchases(user)
                                 + 1.3 * [promotion targets the user's favourite category]
                                 - 0.3 * (position - 1).
Every user's purchases and views happen in October, before any impression, so a feature that
counts past purchases or the category share sees the same values the truth uses.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import numpy as np

from tests.factories import event, promotion

CATEGORIES = ("electronics", "fashion", "home")
FIRST_DAY = dt.date(2026, 11, 1)
RUN_DATE = dt.date(2026, 11, 20)   # impressions on 11-01 .. 11-19
# every promotion runs from Oct 1 to the end of the year with a budget of 1000 unless it says
LIVE = {"start": "2026-10-01", "end": "2026-12-31", "budget": 1000}
# promotion_id -> (base logit, promotion kwargs)
PROMOS = {
    "p1": (-2.8, dict(promo_type="percent_off", discount_value=0.1)),
    "p2": (-2.2, dict(promo_type="percent_off", discount_value=0.3, eligible_categories=["electronics"])),
    "p3": (-2.6, dict(promo_type="free_shipping", discount_value=4.9)),
    "p4": (-2.5, dict(promo_type="amount_off_over_threshold", discount_value=10.0, min_spend=50.0,
                      eligible_categories=["fashion"])),
    # exhausted: its budget of 5 redemptions is used up long before the run date
    "p5": (-2.0, dict(promo_type="coupon", discount_value=0.2, eligible_categories=["home"], budget=5)),
    # over before the run date
    "p6": (-2.4, dict(promo_type="gift", discount_value=15.0, eligible_categories=["electronics", "home"],
                      end="2026-11-15")),
}


@dataclass
class SyntheticLog:
    events: list[dict] = field(default_factory=list)
    promotions: list[dict] = field(default_factory=list)
    user_ids: list[str] = field(default_factory=list)       # every known user (users table)
    favourite: dict[str, str | None] = field(default_factory=dict)
    purchases: dict[str, int] = field(default_factory=dict)

    def true_p(self, user_id: str, promotion_id: str, position: int = 1) -> float:
        base, kwargs = PROMOS[promotion_id]
        match = self.favourite.get(user_id) in kwargs.get("eligible_categories", [])
        logit = base + 0.35 * self.purchases.get(user_id, 0) + 1.3 * match - 0.3 * (position - 1)
        return float(1.0 / (1.0 + np.exp(-logit)))


def _at(day: dt.date, seconds: int) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), tzinfo=dt.timezone.utc) + dt.timedelta(seconds=seconds)


def generate(seed: int = 7, n_users: int = 150, n_cold: int = 10) -> SyntheticLog:
    rng = np.random.default_rng(seed)
    log = SyntheticLog()
    log.promotions = [promotion(pid, **{**LIVE, **kwargs}) for pid, (_, kwargs) in PROMOS.items()]
    n = 0

    def next_id() -> str:
        nonlocal n
        n += 1
        return f"e{n:07d}"

    for u in range(n_users):
        uid = f"u{u:03d}"
        fav = CATEGORIES[int(rng.integers(len(CATEGORIES)))]
        log.user_ids.append(uid)
        log.favourite[uid] = fav
        log.purchases[uid] = int(rng.integers(0, 7))
        for _ in range(int(rng.integers(1, 5))):
            when = _at(dt.date(2026, 10, int(rng.integers(1, 29))), int(rng.integers(0, 86_000)))
            log.events.append(event(next_id(), when, "view", uid, item_id="i1", category=f"{fav}.sub"))
        for _ in range(log.purchases[uid]):
            when = _at(dt.date(2026, 10, int(rng.integers(1, 29))), int(rng.integers(0, 86_000)))
            log.events.append(event(next_id(), when, "purchase", uid, item_id="i2",
                                    category=f"{fav}.sub", price=20.0, quantity=1))
    for c in range(n_cold):   # known users without any events: scored for untargeted promotions
        uid = f"c{c:03d}"
        log.user_ids.append(uid)
        log.favourite[uid] = None
    shown = [pid for pid in PROMOS]
    for day_offset in range((RUN_DATE - FIRST_DAY).days):
        day = FIRST_DAY + dt.timedelta(days=day_offset)
        for u in range(n_users):
            uid = f"u{u:03d}"
            live = [p for p in shown if not (p == "p6" and day > dt.date(2026, 11, 15))]
            pid = live[int(rng.integers(len(live)))]
            position = int(rng.integers(1, 4))
            when = _at(day, int(rng.integers(0, 80_000)))
            log.events.append(event(next_id(), when, "promo_impression", uid, promotion_id=pid,
                                    position=position, propensity=round(1.0 / len(live), 6)))
            if rng.random() < log.true_p(uid, pid, position):
                click_at = when + dt.timedelta(minutes=int(rng.integers(1, 120)))
                log.events.append(event(next_id(), click_at, "promo_click", uid, promotion_id=pid))
                if rng.random() < 0.5:
                    log.events.append(event(next_id(), click_at + dt.timedelta(minutes=5),
                                            "promo_redeem", uid, promotion_id=pid))
    return log


def expected_pairs(log: SyntheticLog, excluded: set[str]) -> set[tuple[str, str]]:
    """Eligible (user, promotion) pairs on RUN_DATE: p5 has no budget left, p6 has ended;
    targeted promotions only for users whose favourite category they target."""
    pairs = set()
    for uid in log.user_ids:
        if uid in excluded:
            continue
        for pid in ("p1", "p2", "p3", "p4"):
            targets = PROMOS[pid][1].get("eligible_categories", [])
            if not targets or log.favourite[uid] in targets:
                pairs.add((uid, pid))
    return pairs
