"""CleanConfig: the `clean:` section of the YAML config (issue 4)."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

Source = Literal["jsonl", "rees46", "obd"]
SOURCES: tuple[str, ...] = ("jsonl", "rees46", "obd")
QUARANTINE_RAW: tuple[str, ...] = ("pseudonymize", "drop")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# Canonical fields of a raw record a completeness gate may name.
COMPLETENESS_FIELDS: tuple[str, ...] = (
    "event_id", "event_time", "event_type", "user_id", "session_id", "item_id", "category",
    "brand", "price", "quantity", "promotion_id", "position", "propensity", "policy")


@dataclass(frozen=True)
class PrivacyConfig:
    """What happens to personal data on the way in."""

    # On: user ids become HMAC-SHA256(key, user_id) in hex; the key comes from the environment
    # variable named below (never from YAML) and the job refuses to run without it.
    pseudonymize_users: bool = False
    hmac_key_env: str = "RECSYS_HMAC_KEY"
    # Unknown fields with these names (case-insensitive) are dropped from `extra` ...
    pii_fields: tuple[str, ...] = ("email", "e_mail", "ip", "ip_address", "client_ip",
                                   "user_agent", "useragent", "ua")
    # ... unless allowlisted here.
    allowlisted_pii_fields: tuple[str, ...] = ()
    # With pseudonymization on, what the quarantine keeps of a rejected record's raw text:
    # "pseudonymize" replaces the user id in it by the same HMAC pseudonym `events` uses (a raw
    # text whose user id cannot be located is dropped); "drop" keeps no raw text at all.
    quarantine_raw: Literal["pseudonymize", "drop"] = "pseudonymize"

    def __post_init__(self) -> None:
        if not _ENV_NAME.match(self.hmac_key_env):
            raise ValueError("hmac_key_env: must be an environment variable name")
        if self.quarantine_raw not in QUARANTINE_RAW:
            raise ValueError(f"quarantine_raw: use one of {', '.join(QUARANTINE_RAW)}, "
                             f"got {self.quarantine_raw!r}")

    @property
    def dropped_fields(self) -> tuple[str, ...]:
        allowed = {f.lower() for f in self.allowlisted_pii_fields}
        return tuple(f.lower() for f in self.pii_fields if f.lower() not in allowed)


@dataclass(frozen=True)
class QualityConfig:
    """Data-quality gates (Deequ vocabulary), measured on the records as read, before the rules
    and dedup remove anything, so that a bad feed trips them. A breach commits nothing."""

    enabled: bool = True
    # Completeness: minimum share of parsed records that carry a value (of any type) per field.
    # user_id is optional per record (anonymous visitors), but a feed where it vanished is broken.
    min_completeness: dict[str, float] = field(default_factory=lambda: {
        "event_id": 0.99, "event_time": 0.99, "event_type": 0.99, "session_id": 0.99,
        "user_id": 0.5})
    # Uniqueness: distinct event ids / records that passed the rules, before deduplication
    # (at-least-once delivery re-sends a few percent; a feed sent twice scores 0.5).
    min_uniqueness: float = 0.8
    # Compliance: share of parsed records with a price whose price is a number within the bounds.
    min_price_compliance: float = 0.9
    # Price level: the run's median price against the median of the last runs' medians; a
    # factor beyond this (either way) fails (prices sent in cents are 100x).
    max_price_level_change: float = 4.0
    # Share of input records that went to quarantine.
    max_quarantine_share: float = 0.35
    # Size change: |input records / median of the last runs - 1| must stay below this; checked
    # only once `volume_min_history` earlier successful non-empty runs exist.
    max_volume_change: float = 0.8
    volume_history_runs: int = 7
    volume_min_history: int = 3

    def __post_init__(self) -> None:
        unknown = sorted(set(self.min_completeness) - set(COMPLETENESS_FIELDS))
        if unknown:
            raise ValueError(f"min_completeness: unknown field(s) {', '.join(unknown)} (use "
                             f"{', '.join(COMPLETENESS_FIELDS)})")
        for name, value in [*self.min_completeness.items(), ("min_uniqueness", self.min_uniqueness),
                            ("min_price_compliance", self.min_price_compliance),
                            ("max_quarantine_share", self.max_quarantine_share)]:
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name if name.startswith(('min_', 'max_')) else 'min_completeness'}"
                                 f": {name} must be within [0, 1], got {value}")
        if self.max_volume_change <= 0:
            raise ValueError("max_volume_change: must be > 0")
        if self.max_price_level_change <= 1:
            raise ValueError("max_price_level_change: must be > 1 (a factor)")
        if self.volume_history_runs < 1 or self.volume_min_history < 1:
            raise ValueError("volume_history_runs: history sizes must be >= 1")


@dataclass(frozen=True)
class CatalogImportConfig:
    """`recsys catalog import`: the gate on a file's bad records."""

    # A file whose share of quarantined records is above this commits nothing (exit 3).
    max_bad_share: float = 0.1

    def __post_init__(self) -> None:
        if not 0.0 <= self.max_bad_share <= 1.0:
            raise ValueError(f"max_bad_share: must be within [0, 1], got {self.max_bad_share}")


@dataclass(frozen=True)
class CleanConfig:
    """Settings of the clean stage."""

    # Which adapter reads the raw files (the CLI's --source overrides it).
    source: Source = "jsonl"
    # Time zone applied to timestamps that carry no offset, per source (IANA names).
    time_zones: dict[str, str] = field(default_factory=lambda: {
        "jsonl": "UTC", "rees46": "UTC", "obd": "UTC"})
    # Schema drift: raw field name -> canonical name.
    renames: dict[str, str] = field(default_factory=lambda: {"userId": "user_id"})
    # Late events with event_date >= run_date - lookback_days land in their own partition and
    # are deduplicated against `events`; older ones are quarantined as too_old.
    lookback_days: int = 3
    # Events later than the end of the run date plus this are quarantined as future_ts.
    future_tolerance_minutes: int = 15
    # A user (or anonymous session) with more distinct events than this in any one minute is
    # a bot: all of its events of the run are quarantined as bot_traffic.
    bot_max_events_per_minute: int = 60
    # Prices must satisfy price_min < price <= price_max (EUR).
    price_min: float = 0.0
    price_max: float = 100_000.0
    max_quantity: int = 1_000
    # size_violation: a raw record longer than this (bytes) or an id longer than max_id_chars.
    max_record_bytes: int = 65_536
    max_id_chars: int = 256
    # Open Bandit Dataset: the logging policy's name; None takes it from the path
    # (`.../<policy>/<campaign>/<campaign>.csv`, as the dataset is laid out).
    obd_policy: str | None = None
    # Commit order: a run commits only after every earlier run date whose events it may have to
    # deduplicate against (the lookback_days + 1 days before it) and whose raw input has landed
    # has been cleaned. Parallel backfills then give the serial tables. A run waits this long for
    # them, then fails with exit code 4 (nothing committed; safe to retry).
    wait_for_earlier_s: int = 1800
    # Duplicate marks (row positions) and bot keys are broadcast to every task up to this many
    # rows; above it they are joined with a shuffle instead (driver memory stays bounded).
    max_broadcast_marks: int = 2_000_000
    privacy: PrivacyConfig = field(default_factory=PrivacyConfig)
    quality: QualityConfig = field(default_factory=QualityConfig)
    catalog: CatalogImportConfig = field(default_factory=CatalogImportConfig)

    def __post_init__(self) -> None:
        for source, zone in self.time_zones.items():
            if source not in SOURCES:
                raise ValueError(f"time_zones: unknown source {source!r} (use {', '.join(SOURCES)})")
            try:
                ZoneInfo(zone)
            except (ZoneInfoNotFoundError, ValueError):
                raise ValueError(f"time_zones: {source}: unknown time zone {zone!r}") from None
        if self.lookback_days < 0:
            raise ValueError("lookback_days: must be >= 0")
        if self.future_tolerance_minutes < 0:
            raise ValueError("future_tolerance_minutes: must be >= 0")
        if self.bot_max_events_per_minute < 1:
            raise ValueError("bot_max_events_per_minute: must be >= 1")
        if not self.price_min < self.price_max:
            raise ValueError("price_min: must be below price_max")
        if self.max_quantity < 1:
            raise ValueError("max_quantity: must be >= 1")
        if self.wait_for_earlier_s < 0:
            raise ValueError("wait_for_earlier_s: must be >= 0")
        if self.max_broadcast_marks < 0:
            raise ValueError("max_broadcast_marks: must be >= 0")
        if self.max_record_bytes < 64 or self.max_id_chars < 1:
            raise ValueError("max_record_bytes: must be >= 64 (and max_id_chars >= 1)")

    def time_zone(self, source: str) -> str:
        return self.time_zones.get(source, "UTC")
