"""The simulated shop's world: catalog, promotions and users' hidden parameters.

Items and promotions are small and built on the driver. Users are never materialised on the
driver: :func:`user_params` recomputes any user's hidden parameters from (seed, user index), so
the Spark generator derives them inside each batch, identically whatever the partitioning.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd

from recsys_spark.domain.promotions import PROMO_TYPES
from recsys_spark.settings.simulate import SimulatorConfig
from recsys_spark.simulate import realistic, rng

TOP_CATEGORIES = ("electronics", "fashion", "home", "beauty", "sports", "toys", "books", "grocery",
                  "garden", "auto", "music", "pets")
SUB_CATEGORIES = ("basics", "premium", "accessories", "outdoor", "kids", "gifts", "classic", "smart")
REGIONS = ("north", "south", "east", "west", "central")
DEVICES = ("mobile", "desktop", "tablet")
DEVICE_WEIGHTS = (0.6, 0.3, 0.1)
_SYLLABLES = ("no", "va", "ki", "ter", "lu", "mar", "zen", "ora", "pix", "del", "ru", "sa")
# Mean responsiveness per promotion type (index as PROMO_TYPES): percent_off is the crowd-pleaser.
TYPE_MEANS = np.array([0.3, 0.0, -0.2, 0.1, 0.2])
BASE_RESPONSE_LOGIT = -3.0
DEPTH_WEIGHT = 5.0
AFFINITY_WEIGHT = 0.8
CLICK_LIFT = 1.3  # logit(P(click)) = logit(P(redeem)) + CLICK_LIFT, so redeem <= click always
KIND_USER, KIND_ANON, KIND_BOT = 0, 1, 2
ANON_ID_BASE = 1 << 40  # anonymous visitors' keys live far from user indexes


@dataclass(frozen=True)
class World:
    """The driver-side world. Arrays are indexed by item / promotion index."""

    config: SimulatorConfig
    seed: int
    start_date: dt.date
    n_bots: int
    item_top: np.ndarray        # int, top category index per item
    item_category: tuple[str, ...]
    item_brand: tuple[str, ...]
    item_price: np.ndarray
    item_log_pop: np.ndarray
    item_emb: np.ndarray        # (n_items, n_factors)
    top_centroids: np.ndarray   # (n_top, n_factors)
    promos: pd.DataFrame        # catalog columns plus type_idx, depth, start_day, end_day, appeal
    promo_elig: np.ndarray      # (n_promotions, n_top) bool; all True for "every category"
    catalog: realistic.RealisticCatalog | None = None  # the realistic model's tree (else None)

    @property
    def n_items(self) -> int:
        return len(self.item_price)

    @property
    def top_names(self) -> tuple[str, ...]:
        return tuple(TOP_CATEGORIES[: self.config.n_top_categories])

    @property
    def start_ms(self) -> int:
        """Epoch milliseconds of start_date 00:00 UTC (day index 0)."""
        return (self.start_date - dt.date(1970, 1, 1)).days * 86_400_000

    def day_index(self, day: dt.date) -> int:
        return (day - self.start_date).days

    def active_promos(self, day_idx: int) -> np.ndarray:
        """Indexes of promotions running on simulated day ``day_idx`` (inclusive dates)."""
        p = self.promos
        return np.flatnonzero((p["start_day"].to_numpy() <= day_idx)
                              & (p["end_day"].to_numpy() >= day_idx))


def _names(n: int) -> list[str]:
    if n > len(TOP_CATEGORIES):
        raise ValueError(f"n_top_categories: at most {len(TOP_CATEGORIES)}")
    return list(TOP_CATEGORIES[:n])


def build_world(config: SimulatorConfig, seed: int, start_date: dt.date) -> World:
    """Build the catalog and promotions for ``seed``. Raises ValueError for impossible sizes."""
    if config.n_sub_categories > len(SUB_CATEGORIES):
        raise ValueError(f"n_sub_categories: at most {len(SUB_CATEGORIES)}")
    tops = _names(config.n_top_categories)
    if config.realistic is not None:
        return _build_realistic_world(config, seed, start_date, tops)
    n_t, n_s, n_f, n_i = config.n_top_categories, config.n_sub_categories, config.n_factors, config.n_items
    top_idx = np.arange(n_t)
    centroids = rng.normal(seed, rng.S_ITEM, 1, top_idx[:, None], np.arange(n_f)[None, :])
    sub_offsets = rng.normal(seed, rng.S_ITEM, 2, np.arange(n_t * n_s)[:, None], np.arange(n_f)[None, :])
    items = np.arange(n_i)
    # The first n_t*n_s items cover every subcategory once; the rest are spread at random.
    cell = np.where(items < n_t * n_s, items,
                    (rng.uniform(seed, rng.S_ITEM, 3, items) * n_t * n_s).astype(np.int64))
    item_top = cell // n_s
    noise = rng.normal(seed, rng.S_ITEM, 4, items[:, None], np.arange(n_f)[None, :])
    emb = (centroids[item_top] + 0.6 * sub_offsets[cell] + 0.5 * noise) / np.sqrt(n_f)
    # Log-normal prices around a per-category median between 5 and 300 EUR.
    median = np.exp(np.log(5.0) + rng.uniform(seed, rng.S_ITEM, 5, np.arange(n_t * n_s)) * np.log(60.0))
    price = median[cell] * np.exp(0.45 * rng.normal(seed, rng.S_ITEM, 6, items))
    price = np.maximum(np.floor(price) + 0.99, 0.99)
    # Zipf-like popularity over a hashed ranking of items.
    rank = np.argsort(rng.uniform(seed, rng.S_ITEM, 7, items), kind="stable").argsort(kind="stable")
    log_pop = -0.9 * np.log1p(rank)
    brand_idx = (rng.uniform(seed, rng.S_ITEM, 8, items) * config.n_brands).astype(np.int64)
    brands = [_brand_name(seed, b) for b in range(config.n_brands)]
    category = tuple(f"{tops[c // n_s]}.{SUB_CATEGORIES[c % n_s]}" for c in cell)
    promos, elig = _build_promotions(config, seed, start_date, tops)
    return World(config=config, seed=seed, start_date=start_date, n_bots=_n_bots(config),
                 item_top=item_top, item_category=category,
                 item_brand=tuple(brands[b] for b in brand_idx), item_price=price,
                 item_log_pop=log_pop, item_emb=np.ascontiguousarray(emb),
                 top_centroids=centroids, promos=promos, promo_elig=elig)


def _n_bots(config: SimulatorConfig) -> int:
    if config.dirt.bot_users_per_1000 <= 0:
        return 0
    return max(1, int(round(config.n_users * config.dirt.bot_users_per_1000 / 1000.0)))


def _build_realistic_world(config: SimulatorConfig, seed: int, start_date: dt.date,
                           tops: list[str]) -> World:
    """The realistic model's world: a category tree and Zipf popularity, no item embeddings."""
    catalog = realistic.build_catalog(config, seed, tops, SUB_CATEGORIES)
    items = np.arange(config.n_items)
    leaf = catalog.item_leaf
    # Log-normal prices around a per-leaf median between 5 and 300 EUR.
    median = np.exp(np.log(5.0) + rng.uniform(seed, rng.S_ITEM, 15, np.arange(catalog.n_leaves))
                    * np.log(60.0))
    price = median[leaf] * np.exp(0.45 * rng.normal(seed, rng.S_ITEM, 16, items))
    price = np.maximum(np.floor(price) + 0.99, 0.99)
    brand_idx = (rng.uniform(seed, rng.S_ITEM, 18, items) * config.n_brands).astype(np.int64)
    brands = np.array([_brand_name(seed, b) for b in range(config.n_brands)], dtype=object)
    names = np.array(catalog.leaf_names, dtype=object)
    promos, elig = _build_promotions(config, seed, start_date, tops)
    return World(config=config, seed=seed, start_date=start_date, n_bots=_n_bots(config),
                 item_top=catalog.leaf_top[leaf], item_category=tuple(names[leaf].tolist()),
                 item_brand=tuple(brands[brand_idx].tolist()), item_price=price,
                 item_log_pop=np.log(catalog.leaf_share[leaf] * catalog.item_share),
                 item_emb=np.zeros((config.n_items, 0)),
                 top_centroids=np.zeros((config.n_top_categories, 0)), promos=promos,
                 promo_elig=elig, catalog=catalog)


def _brand_name(seed: int, b: int) -> str:
    u = rng.uniform(seed, rng.S_ITEM, 9, b, np.arange(3))
    parts = [_SYLLABLES[int(x * len(_SYLLABLES))] for x in u]
    return ("".join(parts) + f"{b}").capitalize()


def _build_promotions(config: SimulatorConfig, seed: int, start_date: dt.date,
                      tops: list[str]) -> tuple[pd.DataFrame, np.ndarray]:
    n_p = config.n_promotions
    rows = []
    elig = np.ones((n_p, len(tops)), dtype=bool)
    # Always-on promotions guarantee at least promo_slots + 1 are active on every day.
    n_always = min(n_p, max(config.promo_slots + 1, n_p // 2))
    for p in range(n_p):
        u = rng.uniform(seed, rng.S_PROMO, p, np.arange(12))
        type_idx = p if p < len(PROMO_TYPES) else int(u[0] * len(PROMO_TYPES))
        kind = PROMO_TYPES[type_idx]
        if kind == "percent_off":
            value, min_spend = [0.05, 0.1, 0.15, 0.2, 0.3][int(u[1] * 5)], 0.0
            depth = value
        elif kind == "coupon":
            value, min_spend = [0.05, 0.1, 0.15][int(u[1] * 3)], [0.0, 20.0][int(u[2] * 2)]
            depth = value
        elif kind == "amount_off_over_threshold":
            min_spend = [50.0, 75.0, 100.0, 150.0][int(u[2] * 4)]
            value = [5.0, 10.0, 15.0, 20.0][int(u[1] * 4)]
            depth = value / min_spend
        elif kind == "gift":
            value, min_spend = [5.0, 10.0, 20.0][int(u[1] * 3)], [30.0, 50.0][int(u[2] * 2)]
            depth = value / (min_spend + value)
        else:  # free_shipping
            value, min_spend = 4.99, [0.0, 25.0, 50.0][int(u[2] * 3)]
            depth = value / (min_spend + 25.0)
        if u[3] < 0.5:
            n_el = 1 + int(u[4] * 2)
            chosen = np.argsort(rng.uniform(seed, rng.S_PROMO, p, 100 + np.arange(len(tops))))[:n_el]
            elig[p] = False
            elig[p, chosen] = True
            categories = [tops[c] for c in sorted(chosen)]
        else:
            categories = []
        if p < n_always:
            start_day, end_day = -int(u[5] * 30) - 1, 60 + int(u[6] * 30)
        else:  # new promotions appear and old ones end over the simulated days
            start_day = config.launch_start_day + int(u[5] * config.launch_span_days)
            end_day = start_day + 3 + int(u[6] * 12)
        budget = int(max(100, config.n_users * (0.05 + 0.2 * u[7])) * config.promo_budget_scale)
        rows.append({
            "promotion_id": f"p{p:04d}", "name": f"{kind.replace('_', ' ')} #{p}",
            "promo_type": kind, "discount_value": float(value), "min_spend": float(min_spend),
            "eligible_categories": categories,
            "start_date": (start_date + dt.timedelta(days=start_day)).isoformat(),
            "end_date": (start_date + dt.timedelta(days=end_day)).isoformat(),
            "budget": budget, "type_idx": type_idx, "depth": float(depth),
            "start_day": start_day, "end_day": end_day,
            "appeal": config.promo_appeal_sd * rng.normal(seed, rng.S_PROMO, p, 300).item(),
        })
    return pd.DataFrame(rows), elig


@dataclass(frozen=True)
class UserParams:
    """Hidden parameters of a batch of users (arrays aligned with ``idx``)."""

    idx: np.ndarray           # user index (or anonymous key)
    taste: np.ndarray         # (n, n_factors)
    price_sensitivity: np.ndarray
    responsiveness: np.ndarray  # (n, n_promo_types)
    activity: np.ndarray
    fav_top: np.ndarray
    signup_day: np.ndarray    # day index relative to start_date (negative: before)
    home: np.ndarray | None = None  # (n, n_top) realistic model: home-top distribution
    persona: np.ndarray | None = None  # realistic model: persona index


def user_params(world: World, idx: np.ndarray) -> UserParams:
    """Hidden parameters of users ``idx``, a pure function of (seed, idx)."""
    cfg, seed = world.config, world.seed
    idx = np.asarray(idx, dtype=np.int64)
    if world.catalog is not None:
        return _realistic_user_params(world, idx)
    f = np.arange(cfg.n_factors)[None, :]
    fav_top = (rng.uniform(seed, rng.S_USER, 1, idx) * cfg.n_top_categories).astype(np.int64)
    taste = 0.9 * world.top_centroids[fav_top] + 0.6 * rng.normal(seed, rng.S_USER, 2, idx[:, None], f)
    price_sens = np.exp(0.4 * rng.normal(seed, rng.S_USER, 3, idx))
    types = np.arange(len(PROMO_TYPES))[None, :]
    resp = TYPE_MEANS[None, :] + 0.8 * rng.normal(seed, rng.S_USER, 4, idx[:, None], types)
    activity = np.exp(0.9 * rng.normal(seed, rng.S_USER, 5, idx) - 0.405)
    return UserParams(idx=idx, taste=np.ascontiguousarray(taste), price_sensitivity=price_sens,
                      responsiveness=resp, activity=activity, fav_top=fav_top,
                      signup_day=_signup_days(world, idx))


def _signup_days(world: World, idx: np.ndarray) -> np.ndarray:
    u_sign = rng.uniform(world.seed, rng.S_USER, 6, idx)
    u_day = rng.uniform(world.seed, rng.S_USER, 7, idx)
    return np.where(u_sign < world.config.late_signup_share, (u_day * 14).astype(np.int64),
                    -1 - (u_day * 720).astype(np.int64))


def _realistic_user_params(world: World, idx: np.ndarray) -> UserParams:
    """Realistic users: home tops instead of a taste vector, heavier-tailed visit rates."""
    model, seed = world.config.realistic, world.seed
    assert model is not None and world.catalog is not None
    persona, home = realistic.home(model, world.catalog, seed, idx)
    types = np.arange(len(PROMO_TYPES))[None, :]
    sigma = model.activity_sigma
    return UserParams(
        idx=idx, taste=np.zeros((len(idx), 0)),
        price_sensitivity=np.exp(0.4 * rng.normal(seed, rng.S_USER, 3, idx)),
        responsiveness=TYPE_MEANS[None, :] + 0.8 * rng.normal(seed, rng.S_USER, 4, idx[:, None], types),
        activity=np.exp(sigma * rng.normal(seed, rng.S_USER, 5, idx) - sigma * sigma / 2.0),
        fav_top=np.argmax(home, axis=1), signup_day=_signup_days(world, idx), home=home,
        persona=persona)


def item_logits(world: World, taste: np.ndarray) -> np.ndarray:
    """(n_users, n_items) preference logits: taste . embedding, sharpened, plus log popularity.

    Summed factor by factor (not a BLAS matmul) so every user's row is bit-identical whatever
    other users share the batch; BLAS may change summation order with matrix shape.
    """
    emb = world.item_emb
    out = np.zeros((taste.shape[0], emb.shape[0]))
    for f in range(emb.shape[1]):
        out += taste[:, f:f + 1] * emb[None, :, f]
    return world.config.taste_strength * out + world.item_log_pop[None, :]


def item_probabilities(world: World, taste: np.ndarray) -> np.ndarray:
    """(n_users, n_items) probabilities of viewing each item (softmax of the logits)."""
    logits = item_logits(world, taste)
    logits -= logits.max(axis=1, keepdims=True)
    expd = np.exp(logits)
    return expd / np.cumsum(expd, axis=1)[:, -1:]


def realistic_top_share(world: World, params: UserParams) -> np.ndarray:
    """(n, n_top) a realistic user's long-run share of browsing per top category.

    New interests come from the home tops (directly, or mostly through related leaves of home
    interests) or from the catalogue at large, so the long-run share mixes the two.
    """
    model, catalog = world.config.realistic, world.catalog
    assert model is not None and catalog is not None and params.home is not None
    personal = model.related_share + model.home_share
    return personal * params.home + (1.0 - personal) * catalog.top_share[None, :]


def response_probabilities(world: World, params: UserParams, probs: np.ndarray | None
                           ) -> tuple[np.ndarray, np.ndarray]:
    """True (P(redeem | shown), P(click | shown)) per (user, promotion), each (n_users, n_promos).

    logit P(redeem) = base + responsiveness[user, type] + appeal[promotion]
    + DEPTH_WEIGHT * depth * price_sensitivity
    + AFFINITY_WEIGHT * log(user's share of eligible categories / catalogue share), clipped to
    [-2, 2]; promotions valid for every category have affinity 0. No position or fatigue effect.
    Latent model: base -3, shares from the item probabilities ``probs`` and item counts.
    Realistic model: base ``response_base_logit``, shares from :func:`realistic_top_share` and
    the catalogue's browse share per top (``probs`` unused).
    """
    n_top = world.config.n_top_categories
    if world.catalog is not None:
        assert world.config.realistic is not None
        top_share = realistic_top_share(world, params)
        base_share = world.catalog.top_share
        base_logit = world.config.realistic.response_base_logit
    else:
        assert probs is not None
        top_share = np.stack([np.cumsum(probs[:, world.item_top == t], axis=1)[:, -1]
                              if np.any(world.item_top == t) else np.zeros(probs.shape[0])
                              for t in range(n_top)], axis=1)
        base_share = np.array([np.mean(world.item_top == t) for t in range(n_top)])
        base_logit = BASE_RESPONSE_LOGIT
    promos = world.promos
    type_idx = promos["type_idx"].to_numpy()
    depth = promos["depth"].to_numpy()
    appeal = promos["appeal"].to_numpy()
    logit = (base_logit + params.responsiveness[:, type_idx] + appeal[None, :]
             + DEPTH_WEIGHT * depth[None, :] * params.price_sensitivity[:, None])
    for p in range(len(promos)):
        if world.promo_elig[p].all():
            continue
        share = top_share[:, world.promo_elig[p]].sum(axis=1)
        ratio = share / base_share[world.promo_elig[p]].sum()
        logit[:, p] += AFFINITY_WEIGHT * np.clip(np.log(np.maximum(ratio, 1e-9)), -2.0, 2.0)
    return _sigmoid(logit), _sigmoid(logit + CLICK_LIFT)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def users_frame(world: World, idx: np.ndarray, top_n: int = 20) -> pd.DataFrame:
    """Catalog attributes and hidden truth of users ``idx`` (registered users and bots).

    Columns: user_idx, user_id, is_bot, signup_day, region, device, taste, price_sensitivity,
    responsiveness (aligned with PROMO_TYPES), activity, fav_top, top_items, top_item_probs.
    """
    cfg, seed = world.config, world.seed
    idx = np.asarray(idx, dtype=np.int64)
    params = user_params(world, idx)
    n_top = min(top_n, world.n_items)
    if world.catalog is not None:
        assert cfg.realistic is not None and params.home is not None and params.persona is not None
        day0 = realistic.interests(cfg.realistic, world.catalog, seed, idx, params.persona,
                                   params.home, 0)
        top, top_probs = realistic.top_items(cfg.realistic, world.catalog, day0.leaf[0],
                                             day0.anchor[0], n_top)
    else:
        probs = item_probabilities(world, params.taste)
        top = np.argsort(-probs, axis=1, kind="stable")[:, :n_top]
        top_probs = np.take_along_axis(probs, top, axis=1)
    region = (rng.uniform(seed, rng.S_USER, 8, idx) * len(REGIONS)).astype(np.int64)
    u_dev = rng.uniform(seed, rng.S_USER, 9, idx)
    device = np.searchsorted(np.cumsum(DEVICE_WEIGHTS), u_dev, side="right").clip(0, len(DEVICES) - 1)
    return pd.DataFrame({
        "user_idx": idx,
        "user_id": [f"u{i:07d}" for i in idx],
        "is_bot": idx >= cfg.n_users,
        "signup_day": params.signup_day.astype(np.int32),
        "region": [REGIONS[r] for r in region],
        "device": [DEVICES[d] for d in device],
        "taste": list(params.taste),
        "price_sensitivity": params.price_sensitivity,
        "responsiveness": list(params.responsiveness),
        "activity": params.activity,
        "fav_top": [TOP_CATEGORIES[t] for t in params.fav_top],
        "top_items": [[f"i{i:05d}" for i in row] for row in top],
        "top_item_probs": list(top_probs),
    })


USERS_DDL = ("user_idx long, user_id string, is_bot boolean, signup_day int, region string, "
             "device string, taste array<double>, price_sensitivity double, "
             "responsiveness array<double>, activity double, fav_top string, "
             "top_items array<string>, top_item_probs array<double>")


def response_frame(world: World, idx: np.ndarray) -> pd.DataFrame:
    """True response probabilities of users ``idx`` to every promotion (long format)."""
    idx = np.asarray(idx, dtype=np.int64)
    params = user_params(world, idx)
    probs = None if world.catalog is not None else item_probabilities(world, params.taste)
    p_redeem, p_click = response_probabilities(world, params, probs)
    n_p = p_redeem.shape[1]
    return pd.DataFrame({
        "user_id": np.repeat([f"u{i:07d}" for i in idx], n_p),
        "promotion_id": np.tile([f"p{p:04d}" for p in range(n_p)], len(idx)),
        "p_redeem": p_redeem.ravel(), "p_click": p_click.ravel()})


RESPONSE_DDL = "user_id string, promotion_id string, p_redeem double, p_click double"
