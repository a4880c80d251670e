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
from typing import Any, Literal

from recsys_spark.als.settings import AlsConfig
from recsys_spark.bandit.settings import BanditConfig
from recsys_spark.config_loader import build, merge_layer, nest, parse_override, read_yaml_file
from recsys_spark.errors import ConfigError
from recsys_spark.features.settings import FeaturesConfig
from recsys_spark.ingest.settings import CleanConfig
from recsys_spark.response.settings import ResponseConfig
from recsys_spark.similarity.settings import SimilarityConfig
from recsys_spark.simulate.settings import SimulateSection

BASE_CONFIG_NAME = "base.yaml"


@dataclass(frozen=True)
class WarehouseConfig:
    """Where the Delta tables live and how they are written."""

    root: str
    # auto: native delta-spark when its JVM classes are on the classpath, else delta-rs commits.
    backend: Literal["auto", "native", "delta_rs"] = "auto"
    # Files this many hours old and no longer referenced are removed by `recsys vacuum`.
    vacuum_retention_hours: int = 168

    def __post_init__(self) -> None:
        if not self.root.strip():
            raise ValueError("root: must not be empty")
        if self.vacuum_retention_hours < 0:
            raise ValueError("vacuum_retention_hours: must be >= 0")


@dataclass(frozen=True)
class LandingConfig:
    """Where raw logs arrive (a local path or an object-store URI)."""

    root: str


@dataclass(frozen=True)
class SparkConfig:
    """Session settings. ``master`` is ignored when spark-submit already set one."""

    master: str = "local[*]"
    shuffle_partitions: int = 8
    driver_memory: str = "2g"
    # Where ALS and long lineages checkpoint; relative paths resolve under the warehouse root.
    checkpoint_dir: str = "_checkpoints"
    ui_enabled: bool = False
    log_level: Literal["ERROR", "WARN", "INFO", "DEBUG"] = "ERROR"
    # Any further spark.* settings, passed through as given.
    extra: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.shuffle_partitions < 1:
            raise ValueError("shuffle_partitions: must be >= 1")


@dataclass(frozen=True)
class RunConfig:
    """What makes a run reproducible."""

    seed: int = 20261123


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
