"""The realistic world model on the driver (no Spark): catalog tree, interests, generated chunks."""
from __future__ import annotations

import dataclasses
import datetime as dt
import json

import numpy as np
import pandas as pd
import pytest

from recsys_spark.settings.simulate import PRESETS, RealisticBehaviour, SimulatorConfig
from recsys_spark.simulate import realistic
from recsys_spark.simulate.behaviour import EVENT_TYPES, generate_chunk
from recsys_spark.simulate.world import KIND_USER, build_world, user_params, users_frame

pytestmark = pytest.mark.unit

SEED = 20261123
START = dt.date(2026, 11, 1)


def small(**overrides) -> SimulatorConfig:
    return SimulatorConfig.from_preset("realistic", n_users=600, n_items=6000, **overrides)


@pytest.fixture(scope="module")
def world():
    return build_world(small(), SEED, START)


def test_latent_presets_keep_their_world_json_and_realistic_round_trips():
    # world.json of tiny/demo/bench-* must not change: no "realistic" key when it is unset.
    for name in PRESETS:
        data = SimulatorConfig.from_preset(name).to_dict()
        assert ("realistic" in data) == (name == "realistic")
        assert SimulatorConfig.from_dict(json.loads(json.dumps(data))) == SimulatorConfig.from_preset(name)


def test_catalog_is_a_three_level_tree_with_every_leaf_stocked(world):
    catalog = world.catalog
    assert catalog.n_leaves == 200  # 6000 items / 30 per leaf
    names = np.array(catalog.leaf_names)
    assert len(set(names)) == 200 and all(n.count(".") == 2 for n in names)
    # Leaves of one top are contiguous; the name's first part is that top.
    tops = np.array([n.split(".")[0] for n in names])
    assert (tops == np.array(world.top_names)[catalog.leaf_top]).all()
    assert (np.diff(catalog.leaf_top) >= 0).all()
    # Every leaf holds items, every item sits in the leaf its category names.
    assert catalog.leaf_pos_n.min() >= 1 and catalog.leaf_pos_n.sum() == 6000
    assert sorted(catalog.pos_item.tolist()) == list(range(6000))
    assert list(world.item_category) == names[catalog.item_leaf].tolist()
    # Subcategory ranges hold leaves of that subcategory only.
    subs = np.array([n.rsplit(".", 1)[0] for n in names])
    for leaf in (0, 57, 199):
        lo, n = catalog.leaf_sub_lo[leaf], catalog.leaf_sub_n[leaf]
        assert set(subs[lo:lo + n]) == {subs[leaf]}
    np.testing.assert_allclose(catalog.leaf_share.sum(), 1.0)


def test_item_draws_stay_in_their_leaf_and_follow_its_popularity(world):
    catalog = world.catalog
    leaf = np.full(200_000, int(np.argmax(catalog.leaf_pos_n)))
    u = np.random.default_rng(1).random(len(leaf))
    items = realistic.draw_item_in_leaf(catalog, leaf, u)
    assert (catalog.item_leaf[items] == leaf[0]).all()
    counts = np.bincount(items, minlength=world.n_items)[catalog.item_leaf == leaf[0]]
    expected = catalog.item_share[catalog.item_leaf == leaf[0]] * len(leaf)
    # Zipf within the leaf: the drawn counts match the shares within 5 sd.
    assert (np.abs(counts - expected) <= 5 * np.sqrt(expected) + 1).all()


def test_interests_drift_at_the_configured_rate_and_do_not_depend_on_the_batch(world):
    model = world.config.realistic
    keys = np.arange(400)
    params = user_params(world, keys)
    ints = realistic.interests(model, world.catalog, SEED, keys, params.persona, params.home, 6)
    moved = (ints.leaf[1:] != ints.leaf[:-1]) | (ints.anchor[1:] != ints.anchor[:-1])
    # A slot moves w.p. interest_drift a day (a move may land on the same leaf and item: rare).
    assert abs(moved.mean() - model.interest_drift) < 0.02, moved.mean()
    # Users keep most of yesterday's interests but few of last week's.
    assert moved[0].mean() < 0.3 and (ints.leaf[6] != ints.leaf[0]).mean() > 0.55
    some = np.array([7, 123, 399])
    alone = realistic.interests(model, world.catalog, SEED, some, params.persona[some],
                                params.home[some], 6)
    np.testing.assert_array_equal(alone.leaf, ints.leaf[:, some])
    np.testing.assert_array_equal(alone.anchor, ints.anchor[:, some])


def _events(world, n_users: int, days: int) -> pd.DataFrame:
    rows = pd.DataFrame({"kind": KIND_USER, "key": np.repeat(np.arange(n_users), days),
                         "day": np.tile(np.arange(days), n_users)})
    out = generate_chunk(world, rows, plan=False)
    return out.assign(etype=out["etype"].map(dict(enumerate(EVENT_TYPES))))


def test_a_visitors_events_do_not_depend_on_who_shares_the_chunk(world):
    together = _events(world, 300, 4)
    busy = together["user_key"].value_counts().index[:2].to_numpy()
    rows = pd.DataFrame({"kind": KIND_USER, "key": np.repeat(busy, 4), "day": np.tile(range(4), 2)})
    alone = generate_chunk(world, rows, plan=False)
    alone = alone.assign(etype=alone["etype"].map(dict(enumerate(EVENT_TYPES))))
    expected = together[together["user_key"].isin(busy)]
    assert len(alone) > 50
    pd.testing.assert_frame_equal(alone.sort_values("event_key").reset_index(drop=True),
                                  expected.sort_values("event_key").reset_index(drop=True))


def test_funnels_hold_and_promotions_are_labelled(world):
    ev = _events(world, 600, 4)
    items = ev[ev["item_idx"] >= 0]

    def keys(kind: str) -> set:
        part = items[items["etype"] == kind]
        return set(zip(part["session_key"], part["item_idx"], strict=True))

    assert keys("click") <= keys("view") and keys("add_to_cart") <= keys("click")
    assert keys("purchase") <= keys("add_to_cart") and keys("remove_from_cart") <= keys("add_to_cart")
    promo = ev["etype"].value_counts()
    assert promo["promo_impression"] > promo["promo_click"] > promo["promo_redeem"] > 0


def test_users_truth_lists_items_of_the_users_own_interests(world):
    frame = users_frame(world, np.arange(50))
    assert frame["top_items"].map(len).eq(20).all()
    assert all(len(set(row)) == 20 for row in frame["top_items"])
    probs = np.stack(frame["top_item_probs"].to_numpy())
    assert (np.diff(probs, axis=1) <= 1e-12).all() and (probs > 0).all()
    # The first listed item sits in one of the user's day-0 interest leaves.
    params = user_params(world, np.arange(50))
    day0 = realistic.interests(world.config.realistic, world.catalog, SEED, np.arange(50),
                               params.persona, params.home, 0)
    first = np.array([int(row[0][1:]) for row in frame["top_items"]])
    leaf = world.catalog.item_leaf[first]
    assert all(leaf[u] in day0.leaf[0, u] for u in range(50))


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"related_share": 0.7, "home_share": 0.4}, "related_share: related_share \\+ home_share"),
    ({"session_focus": 0.9, "sibling_share": 0.2}, "session_focus: session_focus \\+ sibling_share"),
    ({"interest_drift": 1.5}, "interest_drift: must be between 0 and 1"),
    ({"interest_slots": 0}, "interest_slots: must be >= 1"),
])
def test_bad_realistic_settings_name_the_field(kwargs, message):
    with pytest.raises(ValueError, match=message):
        dataclasses.replace(RealisticBehaviour(), **kwargs)


def test_too_few_items_for_the_tree_is_refused():
    with pytest.raises(ValueError, match="n_items: the realistic model needs at least two items"):
        SimulatorConfig.from_preset("realistic", n_items=150)
