"""Config loading: layering, overrides, and one clear message per kind of mistake."""
from __future__ import annotations

from pathlib import Path

import pytest

from recsys_spark.config import load_config
from recsys_spark.errors import ConfigError

pytestmark = pytest.mark.unit

BASE = """
warehouse:
  root: wh-base
landing:
  root: landing-base
spark:
  shuffle_partitions: 8
"""


def write_conf(tmp_path: Path, env_text: str, base_text: str = BASE) -> Path:
    (tmp_path / "base.yaml").write_text(base_text)
    env = tmp_path / "local.yaml"
    env.write_text(env_text)
    return env


def test_layers_base_then_environment_then_overrides(tmp_path):
    env = write_conf(tmp_path, "spark:\n  shuffle_partitions: 4\nwarehouse:\n  root: wh-env\n")
    config = load_config(env, ["warehouse.root=s3a://bucket/wh", "run.seed=7"])
    assert config.warehouse.root == "s3a://bucket/wh"
    assert config.landing.root == "landing-base"
    assert config.spark.shuffle_partitions == 4
    assert config.run.seed == 7
    assert config.sources == (str(tmp_path / "base.yaml"), str(env))


def test_unquoted_dates_are_text_for_string_settings(tmp_path):
    # YAML reads 2026-11-05 as a date; the setting is a string and keeps its text.
    env = write_conf(tmp_path, "simulate:\n  start_date: 2026-11-03\n")
    assert load_config(env).simulate.start_date == "2026-11-03"
    assert load_config(env, ["simulate.start_date=2026-11-05"]).simulate.start_date == "2026-11-05"


def test_config_is_frozen(tmp_path):
    config = load_config(write_conf(tmp_path, ""))
    with pytest.raises(AttributeError):
        config.warehouse.root = "x"  # type: ignore[misc]


def test_fingerprint_depends_on_values_not_on_files(tmp_path):
    env = write_conf(tmp_path, "")
    assert load_config(env).fingerprint() == load_config(env).fingerprint()
    assert load_config(env).fingerprint() != load_config(env, ["run.seed=1"]).fingerprint()
    # where data lives and how Spark runs do not change results, so not the run id either
    moved = load_config(env, ["warehouse.root=s3a://b/wh", "spark.shuffle_partitions=99"])
    assert moved.fingerprint() == load_config(env).fingerprint()


@pytest.mark.parametrize(("env_text", "overrides", "message"), [
    ("spark:\n  shuffle_partitions: many\n", [],
     "local.yaml: spark.shuffle_partitions: expected an integer, got 'many' (str)"),
    ("spark:\n  shufle_partitions: 4\n", [], "local.yaml: unknown key 'spark.shufle_partitions'"),
    ("", ["warehouse.backend=hive"],
     "--set warehouse.backend=hive: warehouse.backend: expected one of 'auto', 'native', 'delta_rs'"),
    ("", ["spark.shuffle_partitions=0"],
     "--set spark.shuffle_partitions=0: spark.shuffle_partitions: must be >= 1"),
    ("spark: [1, 2]\n", [], "local.yaml: spark: expected a mapping"),
    ("warehouse:\n  root: [a]\n", [], "local.yaml: warehouse.root: expected a string"),
    ("", ["nonsense"], "--set 'nonsense': expected key.path=value"),
    ("bogus_section: {}\n", [], "local.yaml: unknown key 'bogus_section'"),
    ("spark:\n  ui_enabled: yes please\n", [], "spark.ui_enabled: expected true or false"),
])
def test_each_mistake_gets_its_clear_message(tmp_path, env_text, overrides, message):
    env = write_conf(tmp_path, env_text)
    with pytest.raises(ConfigError) as info:
        load_config(env, overrides)
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_missing_required_key_names_key_and_file(tmp_path):
    env = write_conf(tmp_path, "", base_text="warehouse:\n  root: wh\n")
    with pytest.raises(ConfigError, match=r"missing required key 'landing.root'"):
        load_config(env)


def test_missing_file_and_bad_yaml(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "nope.yaml")
    env = write_conf(tmp_path, "spark: {shuffle_partitions: 4\n")
    with pytest.raises(ConfigError, match=r"local.yaml \(line \d+\): not valid YAML"):
        load_config(env)


def test_the_shipped_configs_load():
    repo = Path(__file__).resolve().parents[2]
    for name in ("base.yaml", "local.yaml", "cluster.yaml"):
        config = load_config(repo / "conf" / name)
        assert config.warehouse.root
    assert load_config(repo / "conf" / "cluster.yaml").warehouse.root.startswith("s3a://")
