from __future__ import annotations

import pytest

from recsys_spark.settings.simulate import PRESETS, DirtRates, SimulateSection, SimulatorConfig

pytestmark = pytest.mark.unit


def test_presets_resolve_with_overrides():
    tiny = SimulatorConfig.from_preset("tiny", n_users=123)
    assert (tiny.preset, tiny.n_users, tiny.n_items, tiny.n_promotions) == ("tiny", 123, 32, 8)
    assert set(PRESETS) == {"tiny", "demo", "bench-1m", "bench-10m", "realistic"}
    assert SimulatorConfig.from_dict(tiny.to_dict()) == tiny


def test_section_resolves_preset_and_disables_dirt():
    section = SimulateSection(preset="demo", n_users=50, dirt_enabled=False)
    resolved = section.resolve("tiny")
    assert (resolved.preset, resolved.n_users) == ("tiny", 50)
    assert resolved.dirt == DirtRates.clean()


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"n_users": 0}, "n_users: must be >= 1"),
    ({"promo_slots": 9}, "promo_slots: must be <= n_promotions"),
])
def test_invalid_settings_name_the_field(kwargs, message):
    with pytest.raises(ValueError, match=message):
        SimulatorConfig.from_preset("tiny", **kwargs)


def test_dirt_rates_are_validated():
    with pytest.raises(ValueError, match="malformed: content defect rates sum to 0.602"):
        DirtRates(malformed=0.4, missing_required=0.2)
    with pytest.raises(ValueError, match="duplicate: must be between 0 and 1"):
        DirtRates(duplicate=1.5)


def test_unknown_preset_is_rejected():
    with pytest.raises(ValueError, match="preset: unknown 'huge'"):
        SimulatorConfig.from_preset("huge")
