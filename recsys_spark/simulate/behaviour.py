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
    UserParams,
    World,
    item_probabilities,
    response_probabilities,
    user_params,
)

EVENT_TYPES = ("view", "click", "add_to_cart", "remove_from_cart", "purchase", "promo_impression",
               "promo_click", "promo_redeem")
ET = {name: code for code, name in enumerate(EVENT_TYPES)}
DAY_MS = 86_400_000
# Distinct visitors per numpy chunk: bounds the (visitors x items) matrices in memory (512 x 2000
# float64 = 8 MB each) while amortising the per-chunk Python overhead.
CHUNK_VISITORS = 512
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

# One event type's columns (a subset of OUTPUT_COLUMNS), as numpy arrays of equal length.
Part = dict[str, np.ndarray]


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _expand(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For counts per parent: (parent index per child, child's ordinal within its parent)."""
    parent = np.repeat(np.arange(len(counts)), counts)
    starts = np.cumsum(counts) - counts
    return parent, np.arange(len(parent)) - starts[parent]


def _frame(parts: list[Part]) -> pd.DataFrame:
    """Stack event parts into one output frame; absent columns are -1 (NaN for floats).

    Built column by column with numpy (one DataFrame per chunk, not one per event type): pandas
    construction and concat were a third of the generator's time.
    """
    sizes = [len(part["event_key"]) for part in parts]
    data = {}
    for name, dtype in OUTPUT_COLUMNS.items():
        fill = np.nan if dtype is np.float64 else -1
        pieces = [np.full(n, fill, dtype=dtype) if part.get(name) is None
                  else np.asarray(part[name]).astype(dtype, copy=False)
                  for part, n in zip(parts, sizes, strict=True)]
        data[name] = np.concatenate(pieces) if pieces else np.array([], dtype=dtype)
    return pd.DataFrame(data, copy=False)


class _RowHashes:
    """Hash-chain prefixes (seed, stream, key, day) of a chunk's rows, one per stream.

    ``rng.hash_keys(seed, stream, key, day, k, j)`` is a chain, so it equals the row prefix
    gathered per session or view and extended by (k, j): identical draws, while the key and day
    are hashed once per row instead of once per event and stream (hashing was ~20% of the time).
    """

    def __init__(self, seed: int, key: np.ndarray, day: np.ndarray) -> None:
        self.seed = seed
        self.mixed = (rng.Mixed(key), rng.Mixed(day))
        self._cache: dict[int, np.ndarray] = {}

    def __call__(self, stream: int) -> np.ndarray:
        if stream not in self._cache:
            self._cache[stream] = rng.hash_keys(self.seed, stream, *self.mixed)
        return self._cache[stream]


def generate_batches(world: World, batches: Iterator[pd.DataFrame], plan: bool
                     ) -> Iterator[pd.DataFrame]:
    """mapInPandas body: rows (kind, key, day[, plan_promos, plan_props, plan_policy]) -> events.

    With ``plan`` False, visiting users see the built-in uniform-random policy's promotions;
    with ``plan`` True, they see the promotions listed in their plan columns (closed loop).
    A visitor's rows (its days) stay in one chunk, so its taste-derived matrices are computed
    once, not once per day; the events do not depend on how rows are batched or chunked.
    """
    for batch in batches:
        batch = batch.sort_values("key", kind="stable").reset_index(drop=True)
        key = batch["key"].to_numpy()
        firsts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]]) if len(key) else key
        bounds = [*firsts[::CHUNK_VISITORS], len(batch)]
        for lo, hi in zip(bounds[:-1], bounds[1:], strict=True):
            out = generate_chunk(world, batch.iloc[lo:hi].reset_index(drop=True), plan)
            if len(out):
                yield out


def generate_chunk(world: World, rows: pd.DataFrame, plan: bool) -> pd.DataFrame:
    """Events of one chunk of (visitor, day) rows; see :func:`generate_batches`."""
    kind = rows["kind"].to_numpy()
    parts: list[Part] = []
    people = np.flatnonzero(kind != KIND_BOT)
    if len(people):
        people_rows = rows.iloc[people].reset_index(drop=True)
        if world.catalog is not None:
            # Imported here: realistic_sessions builds on this module's helpers.
            from recsys_spark.simulate import realistic_sessions

            parts += realistic_sessions.organic(world, people_rows, plan)
        else:
            parts += _organic(world, people_rows, plan)
    bots = np.flatnonzero(kind == KIND_BOT)
    if len(bots):
        parts += _bots(world, rows.iloc[bots].reset_index(drop=True))
    return _frame(parts)


def _organic(world: World, rows: pd.DataFrame, plan: bool) -> list[Part]:
    cfg, seed = world.config, world.seed
    key = rows["key"].to_numpy().astype(np.int64)
    day = rows["day"].to_numpy().astype(np.int64)
    kind = rows["kind"].to_numpy()
    row_h = _RowHashes(seed, key, day)
    # Hidden parameters and (visitors x items) matrices once per distinct visitor; ``vis`` maps
    # each row to its visitor. Every step is row-wise, so the numbers are those of a per-row pass.
    visitors, vis = np.unique(key, return_inverse=True)
    params = user_params(world, visitors)
    probs = item_probabilities(world, params.taste)
    is_anon = kind == KIND_ANON
    active = is_anon | (params.signup_day[vis] <= day)
    mean_sess = params.activity[vis] * cfg.sessions_per_user_day
    n_sess = np.minimum(rng.geometric(rng.to_uniform(row_h(rng.S_SESSIONS)), mean_sess), 12)
    n_sess = np.where(is_anon, 1, np.where(active, n_sess, 0))

    # Sessions: start between 06:00 and 24:00 UTC of the day.
    s_row, s_k = _expand(n_sess)
    s_day = day[s_row]
    mixed_k = rng.Mixed(s_k)

    def sess_h(stream: int) -> np.ndarray:  # == rng.hash_keys(seed, stream, s_key, s_day, s_k)
        return rng.hash_extend(row_h(stream)[s_row], mixed_k)

    s_start = (world.start_ms + s_day * DAY_MS + 6 * 3_600_000
               + (rng.to_uniform(sess_h(rng.S_SESSION_START)) * 18 * 3_600_000).astype(np.int64))
    s_id = rng.to_signed(sess_h(rng.S_SESSION_ID))
    n_views = 1 + np.minimum(rng.geometric(rng.to_uniform(sess_h(rng.S_VIEWS)),
                                           cfg.views_per_session - 1.0), 40)

    # Views: items drawn from the visitor's taste by integer inverse-CDF lookup (exact, so the
    # result does not depend on the row's position in the chunk).
    v_sess, v_j = _expand(n_views)
    v_row = s_row[v_sess]
    v_vis = vis[v_row]
    mixed_j = rng.Mixed(v_j)

    def view_h(stream: int) -> np.ndarray:  # == rng.hash_keys(seed, stream, key, day, k, j)
        return rng.hash_extend(sess_h(stream)[v_sess], mixed_j)

    scale = 1 << 40
    n_items = world.n_items
    cdf = np.floor(np.cumsum(probs, axis=1) * scale).astype(np.int64)
    cdf[:, -1] = scale
    flat = (cdf + (np.arange(len(visitors), dtype=np.int64)[:, None] << 41)).ravel()
    u_item = np.floor(rng.to_uniform(view_h(rng.S_VIEW_ITEM)) * scale).astype(np.int64)
    item = np.searchsorted(flat, u_item + (v_vis << 41), side="right") - v_vis * n_items
    item = np.clip(item, 0, n_items - 1)
    gaps = (2_000 + rng.exponential(rng.to_uniform(view_h(rng.S_GAP)), 40_000.0)).astype(np.int64)
    csum = np.cumsum(gaps)
    sess_first = np.cumsum(n_views) - n_views
    # The first view opens the session; each later one follows after its gap.
    v_time = s_start[v_sess] + csum - csum[sess_first][v_sess]

    # Funnel: click, add to cart, purchase or remove, driven by affinity and price sensitivity.
    affinity = np.clip(np.log(probs[v_vis, item] * n_items), -4.0, 4.0)
    price = world.item_price[item]
    sens = params.price_sensitivity[v_vis]
    rel_price = np.log(price / 50.0)
    h_click, h_cart = view_h(rng.S_CLICK), view_h(rng.S_CART)
    h_buy, h_remove = view_h(rng.S_BUY), view_h(rng.S_REMOVE)
    clicked = rng.to_uniform(h_click) < _sigmoid(-1.0 + 0.6 * affinity)
    carted = clicked & (rng.to_uniform(h_cart)
                        < _sigmoid(-0.8 + 0.5 * affinity - 0.8 * (sens - 1.0) - 0.3 * rel_price))
    bought = carted & (rng.to_uniform(h_buy) < _sigmoid(0.3 - 0.8 * (sens - 1.0) - 0.2 * rel_price))
    removed = carted & ~bought & (rng.to_uniform(h_remove) < 0.35)

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
    parts += _promotions(world, rows, params, probs, vis, row_h, n_sess, s_row, s_start, s_id, plan)
    return parts


def _plan_impressions(rows: pd.DataFrame, rows_d: np.ndarray, active: np.ndarray
                      ) -> tuple[np.ndarray, ...]:
    """(row, position, promotion, propensity, policy) of the planned impressions of ``rows_d``,
    in row then plan order; promotions not running that day are dropped (cannot be shown)."""
    def flat(column: str, dtype: type) -> np.ndarray:
        values = rows[column].to_numpy()[rows_d]
        return (np.concatenate([np.asarray(v, dtype=dtype) for v in values]) if len(values)
                else np.array([], dtype=dtype))

    promos = flat("plan_promos", np.int64)
    lengths = np.array([len(v) for v in rows["plan_promos"].to_numpy()[rows_d]], dtype=np.int64)
    r = np.repeat(rows_d, lengths)
    policy = rows["plan_policy"].to_numpy().astype(np.int64)[r]
    keep = np.isin(promos, active)
    return (r[keep], flat("plan_positions", np.int64)[keep], promos[keep],
            flat("plan_props", np.float64)[keep], policy[keep])


def _promotions(world: World, rows: pd.DataFrame, params: UserParams, probs: np.ndarray,
                vis: np.ndarray, row_h: _RowHashes, n_sess: np.ndarray, s_row: np.ndarray,
                s_start: np.ndarray, s_id: np.ndarray, plan: bool) -> list[Part]:
    """Impressions at a logged-in visitor's first session of the day, then clicks and redeems."""
    cfg = world.config
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
            for out, values in zip((imp_row, imp_pos, imp_promo, imp_prop, imp_policy),
                                   _plan_impressions(rows, rows_d, active), strict=True):
                out.append(values)
        elif len(active):
            k = min(cfg.promo_slots, len(active))
            # == rng.uniform(seed, S_POLICY, key[rows_d][:, None], d, active[None, :])
            u = rng.to_uniform(rng.hash_extend(row_h(rng.S_POLICY)[rows_d][:, None], active[None, :]))
            chosen = active[np.argsort(u, axis=1, kind="stable")[:, :k]]
            imp_row.append(np.repeat(rows_d, k))
            imp_pos.append(np.tile(np.arange(1, k + 1), len(rows_d)))
            imp_promo.append(chosen.ravel())
            # Uniform random ranking: each active promotion lands in a given slot w.p. 1/|active|.
            imp_prop.append(np.full(len(rows_d) * k, 1.0 / len(active)))
            imp_policy.append(np.zeros(len(rows_d) * k, dtype=np.int64))
    if not imp_row:
        return []
    r = np.concatenate(imp_row).astype(np.int64)
    pos = np.concatenate(imp_pos).astype(np.int64)
    promo = np.concatenate(imp_promo).astype(np.int64)
    prop = np.concatenate(imp_prop)
    policy = np.concatenate(imp_policy).astype(np.int64)
    if len(r) == 0:
        return []
    p_redeem, p_click = response_probabilities(world, params, probs)
    pr, pc = p_redeem[vis[r], promo], p_click[vis[r], promo]
    k_, d_ = key[r], day[r]
    t_imp = s_start[first[r]] + 2_000 + pos * 100
    sess = s_id[first[r]]

    def promo_h(stream: int) -> np.ndarray:  # == rng.hash_keys(seed, stream, k_, d_, promo)
        return rng.hash_extend(row_h(stream)[r], promo)

    h_click, h_delay = promo_h(rng.S_PROMO_CLICK), promo_h(rng.S_REDEEM_DELAY)
    clicked = rng.to_uniform(h_click) < pc
    redeemed = clicked & (rng.to_uniform(promo_h(rng.S_PROMO_REDEEM)) < pr / pc)
    u_click = rng.to_uniform(rng.hash_extend(h_click, 1))
    t_click = t_imp + 5_000 + (u_click * 55_000).astype(np.int64)
    u_delay = rng.to_uniform(h_delay)
    u_when = rng.to_uniform(rng.hash_extend(h_delay, 1))
    late_days = 1 + (rng.to_uniform(rng.hash_extend(h_delay, 2)) * 3).astype(np.int64)
    delay = np.where(u_delay < cfg.delayed_redeem_share, late_days * DAY_MS + (u_when * 3_600_000 * 6),
                     60_000 + u_when * 7_140_000).astype(np.int64)
    t_redeem = t_click + delay
    h_event = rng.hash_extend(promo_h(rng.S_EVENT_ID), 1_000_000)
    parts = []
    for code, mask, times in ((ET["promo_impression"], slice(None), t_imp),
                              (ET["promo_click"], clicked, t_click),
                              (ET["promo_redeem"], redeemed, t_redeem)):
        sel = np.arange(len(r))[mask]
        is_imp = code == ET["promo_impression"]
        parts.append(dict(
            event_key=rng.to_signed(rng.hash_extend(h_event[sel], code)),
            kind=np.zeros(len(sel)), user_key=k_[sel], gen_day=d_[sel], event_ms=times[sel],
            etype=np.full(len(sel), code), session_key=sess[sel], promo_idx=promo[sel],
            position=pos[sel] if is_imp else None, propensity=prop[sel] if is_imp else None,
            policy_idx=policy[sel] if is_imp else None))
    return parts


def _bots(world: World, rows: pd.DataFrame) -> list[Part]:
    """Scrapers: 1-2 bursts a day of 200-600 views within one to two minutes."""
    key = rows["key"].to_numpy().astype(np.int64)
    day = rows["day"].to_numpy().astype(np.int64)
    row_h = _RowHashes(world.seed, key, day)
    n_bursts = 1 + (rng.to_uniform(row_h(rng.S_BOT)) * 2).astype(np.int64)
    b_row, b_k = _expand(n_bursts)
    b_key, b_day = key[b_row], day[b_row]
    # Burst-level prefixes: == rng.hash_keys(seed, stream, b_key, b_day, b_k, ...).
    h_bot = rng.hash_extend(row_h(rng.S_BOT)[b_row], b_k)
    u_start = rng.to_uniform(rng.hash_extend(h_bot, 1))
    b_start = world.start_ms + b_day * DAY_MS + (u_start * (DAY_MS - 200_000)).astype(np.int64)
    b_len = 200 + (rng.to_uniform(rng.hash_extend(h_bot, 2)) * 400).astype(np.int64)
    b_dur = 60_000 + (rng.to_uniform(rng.hash_extend(h_bot, 3)) * 60_000).astype(np.int64)
    b_sid = rng.to_signed(rng.hash_extend(row_h(rng.S_SESSION_ID)[b_row], b_k, 7))
    h_event = rng.hash_extend(row_h(rng.S_EVENT_ID)[b_row], b_k)
    e_b, e_j = _expand(b_len)
    mixed_j = rng.Mixed(e_j)
    item = (rng.to_uniform(rng.hash_extend(h_bot[e_b], mixed_j, 4)) * world.n_items).astype(np.int64)
    return [dict(event_key=rng.to_signed(rng.hash_extend(h_event[e_b], mixed_j, 99)),
                 kind=np.full(len(e_b), KIND_BOT), user_key=b_key[e_b], gen_day=b_day[e_b],
                 event_ms=b_start[e_b] + e_j * b_dur[e_b] // b_len[e_b],
                 etype=np.full(len(e_b), ET["view"]), session_key=b_sid[e_b], item_idx=item)]
