"""One batch of simulated behaviour: (who, day) rows in, raw event rows (numeric codes) out.

Runs inside a Spark ``mapInPandas``. A pandas UDF is used (rather than Spark built-ins) because
each visitor needs a categorical draw over the whole catalogue from its own taste vector and a
multi-step funnel; done as built-ins that is a users x items cross join. Every draw comes from
:mod:`rng` keyed by (seed, visitor key, day, ...), and every per-visitor computation is row-wise,
so a visitor's events are bit-identical whatever rows share its batch.
"""
from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pandas as pd

from recsys_spark.simulate import rng
from recsys_spark.simulate.world import (
    KIND_ANON,
    KIND_BOT,
    KIND_USER,
    World,
    item_probabilities,
    response_probabilities,
    user_params,
)

EVENT_TYPES = ("view", "click", "add_to_cart", "remove_from_cart", "purchase", "promo_impression",
               "promo_click", "promo_redeem")
ET = {name: code for code, name in enumerate(EVENT_TYPES)}
DAY_MS = 86_400_000
CHUNK_ROWS = 256  # visitors per numpy chunk: bounds the (visitors x items) matrices in memory
BUILTIN_POLICY = "uniform_random"

OUTPUT_COLUMNS = {
    "event_key": np.int64, "kind": np.int8, "user_key": np.int64, "gen_day": np.int32,
    "event_ms": np.int64, "etype": np.int8, "session_key": np.int64, "item_idx": np.int32,
    "quantity": np.int32, "promo_idx": np.int32, "position": np.int32, "propensity": np.float64,
    "policy_idx": np.int32,
}
OUTPUT_DDL = ("event_key long, kind byte, user_key long, gen_day int, event_ms long, etype byte, "
              "session_key long, item_idx int, quantity int, promo_idx int, position int, "
              "propensity double, policy_idx int")


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _expand(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For counts per parent: (parent index per child, child's ordinal within its parent)."""
    parent = np.repeat(np.arange(len(counts)), counts)
    starts = np.cumsum(counts) - counts
    return parent, np.arange(len(parent)) - starts[parent]


def _frame(**cols: np.ndarray) -> pd.DataFrame:
    n = len(cols["event_key"])
    data = {}
    for name, dtype in OUTPUT_COLUMNS.items():
        value = cols.get(name)
        if value is None:
            value = np.full(n, np.nan if dtype is np.float64 else -1)
        data[name] = np.asarray(value).astype(dtype, copy=False) if n else np.array([], dtype=dtype)
    return pd.DataFrame(data)


def _event_key(seed: int, key: np.ndarray, day: np.ndarray, *parts: np.ndarray | int) -> np.ndarray:
    return rng.to_signed(rng.hash_keys(seed, rng.S_EVENT_ID, key, day, *parts))


def generate_batches(world: World, batches: Iterator[pd.DataFrame], plan: bool
                     ) -> Iterator[pd.DataFrame]:
    """mapInPandas body: rows (kind, key, day[, plan_promos, plan_props, plan_policy]) -> events.

    With ``plan`` False, visiting users see the built-in uniform-random policy's promotions;
    with ``plan`` True, they see the promotions listed in their plan columns (closed loop).
    """
    for batch in batches:
        for start in range(0, len(batch), CHUNK_ROWS):
            chunk = batch.iloc[start:start + CHUNK_ROWS].reset_index(drop=True)
            out = generate_chunk(world, chunk, plan)
            if len(out):
                yield out


def generate_chunk(world: World, rows: pd.DataFrame, plan: bool) -> pd.DataFrame:
    """Events of one chunk of (visitor, day) rows; see :func:`generate_batches`."""
    kind = rows["kind"].to_numpy()
    frames = []
    people = np.flatnonzero(kind != KIND_BOT)
    if len(people):
        frames.append(_organic(world, rows.iloc[people].reset_index(drop=True), plan))
    bots = np.flatnonzero(kind == KIND_BOT)
    if len(bots):
        frames.append(_bots(world, rows.iloc[bots].reset_index(drop=True)))
    return pd.concat(frames, ignore_index=True) if frames else _frame(event_key=np.array([]))


def _organic(world: World, rows: pd.DataFrame, plan: bool) -> pd.DataFrame:
    cfg, seed = world.config, world.seed
    key = rows["key"].to_numpy().astype(np.int64)
    day = rows["day"].to_numpy().astype(np.int64)
    kind = rows["kind"].to_numpy()
    params = user_params(world, key)
    probs = item_probabilities(world, params.taste)
    is_anon = kind == KIND_ANON
    active = is_anon | (params.signup_day <= day)
    mean_sess = params.activity * cfg.sessions_per_user_day
    n_sess = np.minimum(rng.geometric(rng.uniform(seed, rng.S_SESSIONS, key, day), mean_sess), 12)
    n_sess = np.where(is_anon, 1, np.where(active, n_sess, 0))

    # Sessions: start between 06:00 and 24:00 UTC of the day.
    s_row, s_k = _expand(n_sess)
    s_key, s_day = key[s_row], day[s_row]
    s_start = (world.start_ms + s_day * DAY_MS + 6 * 3_600_000
               + (rng.uniform(seed, rng.S_SESSION_START, s_key, s_day, s_k) * 18 * 3_600_000)
               .astype(np.int64))
    s_id = rng.to_signed(rng.hash_keys(seed, rng.S_SESSION_ID, s_key, s_day, s_k))
    n_views = 1 + np.minimum(rng.geometric(rng.uniform(seed, rng.S_VIEWS, s_key, s_day, s_k),
                                           cfg.views_per_session - 1.0), 40)

    # Views: items drawn from the visitor's taste by integer inverse-CDF lookup (exact, so the
    # result does not depend on the row's position in the chunk).
    v_sess, v_j = _expand(n_views)
    v_row, v_key, v_day, v_k = s_row[v_sess], s_key[v_sess], s_day[v_sess], s_k[v_sess]
    scale = 1 << 40
    n_items = world.n_items
    cdf = np.floor(np.cumsum(probs, axis=1) * scale).astype(np.int64)
    cdf[:, -1] = scale
    flat = (cdf + (np.arange(len(rows), dtype=np.int64)[:, None] << 41)).ravel()
    u_item = np.floor(rng.uniform(seed, rng.S_VIEW_ITEM, v_key, v_day, v_k, v_j) * scale).astype(np.int64)
    item = np.searchsorted(flat, u_item + (v_row << 41), side="right") - v_row * n_items
    item = np.clip(item, 0, n_items - 1)
    gaps = (2_000 + rng.exponential(rng.uniform(seed, rng.S_GAP, v_key, v_day, v_k, v_j), 40_000.0)
            ).astype(np.int64)
    csum = np.cumsum(gaps)
    sess_first = np.cumsum(n_views) - n_views
    # The first view opens the session; each later one follows after its gap.
    v_time = s_start[v_sess] + csum - csum[sess_first][v_sess]

    # Funnel: click, add to cart, purchase or remove, driven by affinity and price sensitivity.
    affinity = np.clip(np.log(probs[v_row, item] * n_items), -4.0, 4.0)
    price = world.item_price[item]
    sens = params.price_sensitivity[v_row]
    rel_price = np.log(price / 50.0)
    ids = (v_key, v_day, v_k, v_j)
    clicked = rng.uniform(seed, rng.S_CLICK, *ids) < _sigmoid(-1.0 + 0.6 * affinity)
    carted = clicked & (rng.uniform(seed, rng.S_CART, *ids)
                        < _sigmoid(-0.8 + 0.5 * affinity - 0.8 * (sens - 1.0) - 0.3 * rel_price))
    bought = carted & (rng.uniform(seed, rng.S_BUY, *ids)
                       < _sigmoid(0.3 - 0.8 * (sens - 1.0) - 0.2 * rel_price))
    removed = carted & ~bought & (rng.uniform(seed, rng.S_REMOVE, *ids) < 0.35)
    t_click = v_time + 1_000 + (rng.uniform(seed, rng.S_CLICK, *ids, 1) * 14_000).astype(np.int64)
    t_cart = t_click + 5_000 + (rng.uniform(seed, rng.S_CART, *ids, 1) * 55_000).astype(np.int64)
    t_buy = t_cart + 30_000 + (rng.uniform(seed, rng.S_BUY, *ids, 1) * 570_000).astype(np.int64)
    t_rem = t_cart + 20_000 + (rng.uniform(seed, rng.S_REMOVE, *ids, 1) * 280_000).astype(np.int64)
    qty = 1 + np.minimum(rng.geometric(rng.uniform(seed, rng.S_QTY, *ids), 0.3), 9)

    user_key = key
    frames = []
    for code, mask, times in ((ET["view"], slice(None), v_time), (ET["click"], clicked, t_click),
                              (ET["add_to_cart"], carted, t_cart), (ET["purchase"], bought, t_buy),
                              (ET["remove_from_cart"], removed, t_rem)):
        sel = np.arange(len(v_row))[mask]
        frames.append(_frame(
            event_key=_event_key(seed, v_key[sel], v_day[sel], v_k[sel], v_j[sel], code),
            kind=kind[v_row[sel]], user_key=user_key[v_row[sel]], gen_day=v_day[sel],
            event_ms=times[sel], etype=np.full(len(sel), code), session_key=s_id[v_sess[sel]],
            item_idx=item[sel], quantity=qty[sel] if code == ET["purchase"] else None))
    frames.append(_promotions(world, rows, params, probs, n_sess, s_row, s_start, s_id, plan))
    return pd.concat(frames, ignore_index=True)


def _promotions(world: World, rows: pd.DataFrame, params, probs: np.ndarray, n_sess: np.ndarray,
                s_row: np.ndarray, s_start: np.ndarray, s_id: np.ndarray, plan: bool
                ) -> pd.DataFrame:
    """Impressions at a logged-in visitor's first session of the day, then clicks and redeems."""
    seed, cfg = world.seed, world.config
    key = rows["key"].to_numpy().astype(np.int64)
    day = rows["day"].to_numpy().astype(np.int64)
    visiting = (n_sess > 0) & (rows["kind"].to_numpy() == KIND_USER)
    # First session (earliest start) of each visiting row.
    order = np.lexsort((s_start, s_row))
    first = np.full(len(rows), -1)
    sorted_rows = s_row[order]
    is_first = np.r_[True, sorted_rows[1:] != sorted_rows[:-1]] if len(order) else np.array([], bool)
    first[sorted_rows[is_first]] = order[is_first]

    imp_row, imp_pos, imp_promo, imp_prop, imp_policy = [], [], [], [], []
    for d in np.unique(day[visiting]):
        active = world.active_promos(int(d))
        rows_d = np.flatnonzero(visiting & (day == d))
        if plan:
            for r in rows_d:
                promos = np.asarray(rows.at[r, "plan_promos"], dtype=np.int64)
                props = np.asarray(rows.at[r, "plan_props"], dtype=np.float64)
                keep = np.isin(promos, active)  # an ended promotion cannot be shown
                promos, props = promos[keep], props[keep]
                imp_row.append(np.full(len(promos), r))
                imp_pos.append(np.asarray(rows.at[r, "plan_positions"], dtype=np.int64)[keep])
                imp_promo.append(promos)
                imp_prop.append(props)
                imp_policy.append(np.full(len(promos), int(rows.at[r, "plan_policy"])))
        elif len(active):
            k = min(cfg.promo_slots, len(active))
            u = rng.uniform(seed, rng.S_POLICY, key[rows_d][:, None], d, active[None, :])
            chosen = active[np.argsort(u, axis=1, kind="stable")[:, :k]]
            imp_row.append(np.repeat(rows_d, k))
            imp_pos.append(np.tile(np.arange(1, k + 1), len(rows_d)))
            imp_promo.append(chosen.ravel())
            # Uniform random ranking: each active promotion lands in a given slot w.p. 1/|active|.
            imp_prop.append(np.full(len(rows_d) * k, 1.0 / len(active)))
            imp_policy.append(np.zeros(len(rows_d) * k, dtype=np.int64))
    if not imp_row:
        return _frame(event_key=np.array([], dtype=np.int64))
    r = np.concatenate(imp_row).astype(np.int64)
    pos = np.concatenate(imp_pos).astype(np.int64)
    promo = np.concatenate(imp_promo).astype(np.int64)
    prop = np.concatenate(imp_prop)
    policy = np.concatenate(imp_policy).astype(np.int64)
    if len(r) == 0:
        return _frame(event_key=np.array([], dtype=np.int64))
    p_redeem, p_click = response_probabilities(world, params, probs)
    pr, pc = p_redeem[r, promo], p_click[r, promo]
    k_, d_ = key[r], day[r]
    t_imp = s_start[first[r]] + 2_000 + pos * 100
    sess = s_id[first[r]]
    clicked = rng.uniform(seed, rng.S_PROMO_CLICK, k_, d_, promo) < pc
    redeemed = clicked & (rng.uniform(seed, rng.S_PROMO_REDEEM, k_, d_, promo) < pr / pc)
    u_click = rng.uniform(seed, rng.S_PROMO_CLICK, k_, d_, promo, 1)
    t_click = t_imp + 5_000 + (u_click * 55_000).astype(np.int64)
    u_delay = rng.uniform(seed, rng.S_REDEEM_DELAY, k_, d_, promo)
    u_when = rng.uniform(seed, rng.S_REDEEM_DELAY, k_, d_, promo, 1)
    late_days = 1 + (rng.uniform(seed, rng.S_REDEEM_DELAY, k_, d_, promo, 2) * 3).astype(np.int64)
    delay = np.where(u_delay < cfg.delayed_redeem_share, late_days * DAY_MS + (u_when * 3_600_000 * 6),
                     60_000 + u_when * 7_140_000).astype(np.int64)
    t_redeem = t_click + delay
    frames = []
    for code, mask, times in ((ET["promo_impression"], slice(None), t_imp),
                              (ET["promo_click"], clicked, t_click),
                              (ET["promo_redeem"], redeemed, t_redeem)):
        sel = np.arange(len(r))[mask]
        is_imp = code == ET["promo_impression"]
        frames.append(_frame(
            event_key=_event_key(seed, k_[sel], d_[sel], promo[sel], 1_000_000, code),
            kind=np.zeros(len(sel)), user_key=k_[sel], gen_day=d_[sel], event_ms=times[sel],
            etype=np.full(len(sel), code), session_key=sess[sel], promo_idx=promo[sel],
            position=pos[sel] if is_imp else None, propensity=prop[sel] if is_imp else None,
            policy_idx=policy[sel] if is_imp else None))
    return pd.concat(frames, ignore_index=True)


def _bots(world: World, rows: pd.DataFrame) -> pd.DataFrame:
    """Scrapers: 1-2 bursts a day of 200-600 views within one to two minutes."""
    seed = world.seed
    key = rows["key"].to_numpy().astype(np.int64)
    day = rows["day"].to_numpy().astype(np.int64)
    n_bursts = 1 + (rng.uniform(seed, rng.S_BOT, key, day) * 2).astype(np.int64)
    b_row, b_k = _expand(n_bursts)
    b_key, b_day = key[b_row], day[b_row]
    u_start = rng.uniform(seed, rng.S_BOT, b_key, b_day, b_k, 1)
    b_start = world.start_ms + b_day * DAY_MS + (u_start * (DAY_MS - 200_000)
                                ).astype(np.int64)
    b_len = 200 + (rng.uniform(seed, rng.S_BOT, b_key, b_day, b_k, 2) * 400).astype(np.int64)
    b_dur = 60_000 + (rng.uniform(seed, rng.S_BOT, b_key, b_day, b_k, 3) * 60_000).astype(np.int64)
    b_sid = rng.to_signed(rng.hash_keys(seed, rng.S_SESSION_ID, b_key, b_day, b_k, 7))
    e_b, e_j = _expand(b_len)
    item = (rng.uniform(seed, rng.S_BOT, b_key[e_b], b_day[e_b], b_k[e_b], e_j, 4)
            * world.n_items).astype(np.int64)
    return _frame(event_key=_event_key(seed, b_key[e_b], b_day[e_b], b_k[e_b], e_j, 99),
                  kind=np.full(len(e_b), KIND_BOT), user_key=b_key[e_b], gen_day=b_day[e_b],
                  event_ms=b_start[e_b] + e_j * b_dur[e_b] // b_len[e_b],
                  etype=np.full(len(e_b), ET["view"]), session_key=b_sid[e_b], item_idx=item)
