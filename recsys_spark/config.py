"""The project's configuration: YAML in conf/ validated into frozen, typed objects.

Layering: ``conf/base.yaml`` <- the environment file given with ``--config`` (e.g.
``conf/local.yaml``) <- ``--set key.path=value`` overrides. Secrets never live in YAML: a
section names the environment variable that holds a secret (e.g. ``privacy.hmac_key_env``).
Loading happens in entry points only; library functions receive the typed objects.
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from recsys_spark.config_loader import build, merge_layer, nest, parse_override, read_yaml_file
from recsys_spark.errors import ConfigError
from recsys_spark.settings.als import AlsConfig
from recsys_spark.settings.bandit import BanditConfig
from recsys_spark.settings.clean import CleanConfig
from recsys_spark.settings.core import LandingConfig, RunConfig, SparkConfig, WarehouseConfig
from recsys_spark.settings.features import FeaturesConfig
from recsys_spark.settings.ranking import RankingConfig
from recsys_spark.settings.response import ResponseConfig
from recsys_spark.settings.similarity import SimilarityConfig
from recsys_spark.settings.simulate import SimulateSection

BASE_CONFIG_NAME = "base.yaml"


@dataclass(frozen=True)
class AppConfig:
    """The whole validated configuration."""

    warehouse: WarehouseConfig
    landing: LandingConfig
    spark: SparkConfig = field(default_factory=SparkConfig)
    run: RunConfig = field(default_factory=RunConfig)
    clean: CleanConfig = field(default_factory=CleanConfig)
    als: AlsConfig = field(default_factory=AlsConfig)
    bandit: BanditConfig = field(default_factory=BanditConfig)
    features: FeaturesConfig = field(default_factory=FeaturesConfig)
    similarity: SimilarityConfig = field(default_factory=SimilarityConfig)
    ranking: RankingConfig = field(default_factory=RankingConfig)
    response: ResponseConfig = field(default_factory=ResponseConfig)
    simulate: SimulateSection = field(default_factory=SimulateSection)
    # Which files built this config, in order (for messages and run records).
    sources: tuple[str, ...] = ()

    def fingerprint(self) -> str:
        """A short stable hash of the settings that decide results.

        Where data lives (warehouse, landing), how Spark runs and which files were read do
        not change a run's output, so they are left out: the same run on a laptop and on a
        cluster gets the same run id.
        """
        payload = {k: v for k, v in _plain(asdict(self)).items()
                   if k not in _NOT_RESULT_SETTINGS}
        blob = json.dumps(payload, sort_keys=True, default=str).encode("utf-8")
        return hashlib.sha256(blob).hexdigest()[:8]


_NOT_RESULT_SETTINGS = ("sources", "warehouse", "landing", "spark")


def _plain(value: Any) -> Any:
    if isinstance(value, dict) or hasattr(value, "items"):
        return {k: _plain(v) for k, v in dict(value).items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def default_config_dir() -> Path:
    """conf/ of the working tree when run from a checkout, else the copy shipped in the package."""
    here = Path.cwd() / "conf"
    if (here / BASE_CONFIG_NAME).is_file():
        return here
    return Path(__file__).resolve().parent / "conf"


def load_config(config_path: str | Path | None = None, overrides: Sequence[str] = ()) -> AppConfig:
    """Load and validate the layered configuration.

    Args:
        config_path: the environment file (e.g. conf/local.yaml). ``base.yaml`` from the same
            folder is loaded first. None means ``conf/local.yaml`` of the default config folder.
        overrides: ``key.path=value`` strings applied last.

    Returns:
        The frozen AppConfig.

    Raises:
        ConfigError: a file is missing or invalid, or a key is unknown, mistyped or missing;
            the message names the key and the file that set it.
    """
    env_path = Path(config_path) if config_path is not None else default_config_dir() / "local.yaml"
    base_path = env_path.parent / BASE_CONFIG_NAME
    provenance: dict[str, str] = {}
    merged: dict[str, Any] = {}
    sources: list[str] = []
    layers = [base_path] if env_path.name == BASE_CONFIG_NAME else [base_path, env_path]
    for path in layers:
        if path == base_path and not path.is_file() and path != env_path:
            continue  # an environment file may stand alone
        merged = merge_layer(merged, read_yaml_file(path), str(path), provenance)
        sources.append(str(path))
    for text in overrides:
        key_path, value = parse_override(text)
        merged = merge_layer(merged, nest(key_path, value), f"--set {text}", provenance)
    if "sources" in merged:
        raise ConfigError(f"{provenance.get('sources', 'config')}: 'sources' is reserved")
    merged["sources"] = sources
    provenance["sources"] = "loader"
    return build(AppConfig, merged, provenance)
