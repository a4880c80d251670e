"""Organic behaviour of the realistic model: one chunk of (visitor, day) rows -> event parts.

The counterpart of :func:`behaviour._organic` for worlds with a category tree
(:mod:`realistic`). Same row-wise discipline: every draw is keyed by (seed, stream, visitor,
day, session, view), so a visitor's events do not depend on which rows share its chunk, and
nothing is (visitors x items): a view picks a leaf category, then an item from that leaf's
popularity table. Promotions reuse :func:`behaviour._promotions` unchanged.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from recsys_spark.simulate import realistic, rng
from recsys_spark.simulate.behaviour import (
    DAY_MS,
    ET,
    Part,
    _expand,
    _promotions,
    _RowHashes,
    _sigmoid,
)
from recsys_spark.simulate.world import KIND_ANON, World, user_params

# Funnel intercepts and effects (logits), tuned so item events are ~91% views, ~5% clicks,
# ~2.5% carts, ~1.5% purchases (docs/realistic_world.md has the calibration table).
CLICK_BASE = -3.4
CLICK_REPEAT = 1.0        # a revisit or an interest's own item: the user is considering it
CART_BASE = 0.1
BUY_BASE = 0.5
INTENT_WEIGHT = 0.5       # per-user buying intent (standard normal) on click and cart
REMOVE_SHARE = 0.35       # carted, not bought: removed again
MAX_SESSIONS_PER_DAY = 12


def _normal(h: np.ndarray) -> np.ndarray:
    """Standard normal draws from hash prefixes (Box-Muller on two extensions)."""
    u1 = rng.to_uniform(rng.hash_extend(h, 0x5EED1))
    u2 = rng.to_uniform(rng.hash_extend(h, 0x5EED2))
    return np.sqrt(-2.0 * np.log(u1)) * np.cos(2.0 * np.pi * u2)


def _slot(cum_weights: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Interest slot index per uniform, by the slots' visit weights."""
    return np.minimum(np.searchsorted(cum_weights, u * cum_weights[-1], side="right"),
                      len(cum_weights) - 1)


def organic(world: World, rows: pd.DataFrame, plan: bool) -> list[Part]:
    """Views, funnel events and promotion events of ``rows`` (kind, key, day[, plan...])."""
    cfg, seed, catalog, model = world.config, world.seed, world.catalog, world.config.realistic
    assert catalog is not None and model is not None
    key = rows["key"].to_numpy().astype(np.int64)
    day = rows["day"].to_numpy().astype(np.int64)
    kind = rows["kind"].to_numpy()
    row_h = _RowHashes(seed, key, day)
    visitors, vis = np.unique(key, return_inverse=True)
    params = user_params(world, visitors)
    assert params.home is not None and params.persona is not None
    is_anon = kind == KIND_ANON
    active = is_anon | (params.signup_day[vis] <= day)
    mean_sess = params.activity[vis] * cfg.sessions_per_user_day
    n_sess = np.minimum(rng.geometric(rng.to_uniform(row_h(rng.S_SESSIONS)), mean_sess),
                        MAX_SESSIONS_PER_DAY)
    n_sess = np.where(is_anon, 1, np.where(active, n_sess, 0))
    # Interest slots of each row's visitor on the row's day (replayed from day 0).
    ints = realistic.interests(model, catalog, seed, visitors, params.persona, params.home,
                               int(day.max(initial=0)))
    slot_leaf, slot_anchor = ints.leaf[day, vis], ints.anchor[day, vis]
    cum_w = np.cumsum(realistic.slot_weights(model))

    # Sessions: start between 06:00 and 24:00 UTC; one interest each; log-normal length.
    s_row, s_k = _expand(n_sess)
    s_day = day[s_row]
    mixed_k = rng.Mixed(s_k)

    def sess_h(stream: int) -> np.ndarray:  # == rng.hash_keys(seed, stream, key, day, k)
        return rng.hash_extend(row_h(stream)[s_row], mixed_k)

    s_start = (world.start_ms + s_day * DAY_MS + 6 * 3_600_000
               + (rng.to_uniform(sess_h(rng.S_SESSION_START)) * 18 * 3_600_000).astype(np.int64))
    s_id = rng.to_signed(sess_h(rng.S_SESSION_ID))
    sigma = model.session_length_sigma
    mu = np.log(cfg.views_per_session) - sigma * sigma / 2.0
    n_views = np.clip(np.rint(np.exp(mu + sigma * _normal(sess_h(rng.S_VIEWS)))), 1,
                      model.max_session_views).astype(np.int64)
    s_slot = _slot(cum_w, rng.to_uniform(sess_h(realistic.S_SESSION_SLOT)))

    # Views: stay in the session's leaf, step to a sibling leaf, or switch to another interest.
    v_sess, v_j = _expand(n_views)
    v_row = s_row[v_sess]
    mixed_j = rng.Mixed(v_j)

    def view_h(stream: int) -> np.ndarray:  # == rng.hash_keys(seed, stream, key, day, k, j)
        return rng.hash_extend(sess_h(stream)[v_sess], mixed_j)

    h_nav = view_h(realistic.S_NAV)
    u_nav, u_which, u_anchor, u_item = (rng.to_uniform(rng.hash_extend(h_nav, j)) for j in range(4))
    session_leaf = slot_leaf[v_row, s_slot[v_sess]]
    is_focus = u_nav < model.session_focus
    is_sibling = ~is_focus & (u_nav < model.session_focus + model.sibling_share)
    other_slot = _slot(cum_w, u_which)
    slot = np.where(is_focus, s_slot[v_sess], np.where(is_sibling, -1, other_slot))
    sibling = (catalog.leaf_sub_lo[session_leaf]
               + (u_which * catalog.leaf_sub_n[session_leaf]).astype(np.int64))
    leaf = np.where(is_sibling, sibling, slot_leaf[v_row, np.maximum(slot, 0)])
    use_anchor = (slot >= 0) & (u_anchor < model.anchor_share)
    item = np.where(use_anchor, slot_anchor[v_row, np.maximum(slot, 0)],
                    realistic.draw_item_in_leaf(catalog, leaf, u_item))
    # Revisits re-open the previous item; a session's first view is never one, so the running
    # maximum of "new item" indexes never reaches into the previous session.
    is_revisit = (v_j > 0) & (rng.to_uniform(view_h(realistic.S_REVISIT)) < model.revisit_share)
    source = np.maximum.accumulate(np.where(is_revisit, 0, np.arange(len(item))))
    item = item[source]
    is_repeat = is_revisit | use_anchor[source]
    gaps = (2_000 + rng.exponential(rng.to_uniform(view_h(rng.S_GAP)), 40_000.0)).astype(np.int64)
    csum = np.cumsum(gaps)
    sess_first = np.cumsum(n_views) - n_views
    v_time = s_start[v_sess] + csum - csum[sess_first][v_sess]

    # Funnel: considered items get clicked more; intent and price decide carts and purchases.
    v_vis = vis[v_row]
    intent = _normal(rng.hash_keys(seed, realistic.S_INTENT, visitors))[v_vis]
    sens = params.price_sensitivity[v_vis]
    rel_price = np.log(world.item_price[item] / 50.0)
    h_click, h_cart = view_h(rng.S_CLICK), view_h(rng.S_CART)
    h_buy, h_remove = view_h(rng.S_BUY), view_h(rng.S_REMOVE)
    clicked = rng.to_uniform(h_click) < _sigmoid(CLICK_BASE + CLICK_REPEAT * is_repeat
                                                 + INTENT_WEIGHT * intent)
    carted = clicked & (rng.to_uniform(h_cart) < _sigmoid(
        CART_BASE + INTENT_WEIGHT * intent - 0.8 * (sens - 1.0) - 0.3 * rel_price))
    bought = carted & (rng.to_uniform(h_buy) < _sigmoid(
        BUY_BASE - 0.8 * (sens - 1.0) - 0.2 * rel_price))
    removed = carted & ~bought & (rng.to_uniform(h_remove) < REMOVE_SHARE)

    def second(h: np.ndarray) -> np.ndarray:  # the stream's second draw, keyed (..., j, 1)
        return rng.to_uniform(rng.hash_extend(h, 1))

    t_click = v_time + 1_000 + (second(h_click) * 14_000).astype(np.int64)
    t_cart = t_click + 5_000 + (second(h_cart) * 55_000).astype(np.int64)
    t_buy = t_cart + 30_000 + (second(h_buy) * 570_000).astype(np.int64)
    t_rem = t_cart + 20_000 + (second(h_remove) * 280_000).astype(np.int64)
    qty = 1 + np.minimum(rng.geometric(rng.to_uniform(view_h(rng.S_QTY)), 0.3), 9)

    h_event = view_h(rng.S_EVENT_ID)
    v_day = day[v_row]
    parts = []
    for code, mask, times in ((ET["view"], slice(None), v_time), (ET["click"], clicked, t_click),
                              (ET["add_to_cart"], carted, t_cart), (ET["purchase"], bought, t_buy),
                              (ET["remove_from_cart"], removed, t_rem)):
        sel = np.arange(len(v_row))[mask]
        parts.append(dict(
            event_key=rng.to_signed(rng.hash_extend(h_event[sel], code)),
            kind=kind[v_row[sel]], user_key=key[v_row[sel]], gen_day=v_day[sel],
            event_ms=times[sel], etype=np.full(len(sel), code), session_key=s_id[v_sess[sel]],
            item_idx=item[sel], quantity=qty[sel] if code == ET["purchase"] else None))
    parts += _promotions(world, rows, params, None, vis, row_h, n_sess, s_row, s_start, s_id, plan)
    return parts
