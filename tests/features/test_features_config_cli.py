"""Config validation of the features/similarity sections and the CLI failing before Spark starts."""
from __future__ import annotations

from pathlib import Path

import pytest

from recsys_spark.cli import main
from recsys_spark.config import load_config
from recsys_spark.settings.features import FeaturesConfig
from recsys_spark.settings.similarity import EventWeights, SimilarityConfig

LOCAL_YAML = str(Path(__file__).resolve().parents[2] / "conf" / "local.yaml")


@pytest.mark.unit
@pytest.mark.parametrize(("make", "message"), [
    (lambda: FeaturesConfig(k=0), "k: must be >= 1"),
    (lambda: FeaturesConfig(windows_days=(7, 7)), "windows_days: windows must be distinct"),
    (lambda: FeaturesConfig(rfm_frequency=(5, 2)), "rfm_frequency: need 0 < first <= second"),
    (lambda: EventWeights(view=3.0, add_to_cart=2.0), "need view < add_to_cart < purchase"),
    (lambda: SimilarityConfig(max_history_per_user=1), "need >= 2 for pairs"),
    (lambda: SimilarityConfig(dimsum_threshold=1.5), "dimsum_threshold: must be in (0, 1]"),
])
def test_invalid_settings_are_rejected_with_the_field_name(make, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        make()


@pytest.mark.unit
@pytest.mark.parametrize("command", ["features", "similarity"])
def test_bad_override_is_one_line_exit_2_before_spark(command, capsys, tmp_path):
    code = main([command, "--config", LOCAL_YAML, "--run-date", "2026-11-30",
                 "--set", f"{command}.top_k=0" if command == "similarity" else "features.k=0"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and f"{command}." in err


@pytest.mark.unit
def test_base_yaml_sections_load_with_their_defaults():
    config = load_config(LOCAL_YAML)
    assert config.features == FeaturesConfig()
    assert config.similarity == SimilarityConfig()
