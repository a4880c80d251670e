"""Run identity and bookkeeping: run ids, transaction ids and the `pipeline_runs` table.

A run is (config, run_date). Its ``run_id`` is derived from both, so re-running a stage for
the same date with the same config writes the same ``run_id`` into every row and the tables
come out identical. Each *attempt* also gets a growing ``attempt`` number (epoch
milliseconds) that versions the Delta transaction ids: a retried commit of one attempt is
skipped, a later attempt replaces the partition, and two concurrent attempts cannot both win.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from recsys_spark.config import AppConfig
from recsys_spark.errors import ConfigError
from recsys_spark.tables import CommitInfo, TxnId

log = logging.getLogger(__name__)

PIPELINE_RUNS_TABLE = "pipeline_runs"


def parse_run_date(text: str) -> dt.date:
    """A run date is exactly YYYY-MM-DD. Raises ConfigError otherwise."""
    try:
        if len(text) != 10:
            raise ValueError
        return dt.date.fromisoformat(text)
    except ValueError:
        raise ConfigError(f"--run-date {text!r}: expected a date as YYYY-MM-DD") from None


def make_run_id(config: AppConfig, run_date: dt.date) -> str:
    return f"{run_date:%Y%m%d}-{config.fingerprint()}"


def derive_seed(base_seed: int, *keys: Any) -> int:
    """A 63-bit seed from the config seed and any keys (run date, stage, ...)."""
    blob = json.dumps([base_seed, *[str(k) for k in keys]]).encode("utf-8")
    return int.from_bytes(hashlib.sha256(blob).digest()[:8], "big") & (2**63 - 1)


@dataclass(frozen=True)
class RunContext:
    """Everything a stage needs to know about the run it is part of."""

    config: AppConfig
    run_date: dt.date
    stage: str
    attempt: int = field(default_factory=lambda: time.time_ns() // 1_000_000)

    @property
    def run_id(self) -> str:
        return make_run_id(self.config, self.run_date)

    def seed(self, *keys: Any) -> int:
        return derive_seed(self.config.run.seed, self.run_date.isoformat(), self.stage, *keys)

    def commit_info(self, **extra: str) -> CommitInfo:
        return CommitInfo(run_id=self.run_id, stage=self.stage,
                          extra={"run_date": self.run_date.isoformat(),
                                 "attempt": str(self.attempt), **extra})

    def txn(self, table: str, partition_key: str = "all") -> TxnId:
        """The transaction id of this attempt's write of one table partition."""
        return TxnId(app_id=f"{table}/{self.stage}/{partition_key}", version=self.attempt)


@dataclass
class StageReport:
    """What a stage run did, recorded as one `pipeline_runs` row."""

    inputs: dict[str, int] = field(default_factory=dict)       # table -> version read
    outputs: dict[str, int] = field(default_factory=dict)      # table -> version written
    rows_in: int = 0
    rows_out: int = 0
    metrics: dict[str, float] = field(default_factory=dict)
    quality: dict[str, str] = field(default_factory=dict)      # check -> "pass"/"fail: ..."
    notes: dict[str, str] = field(default_factory=dict)
    files_read: dict[str, int] = field(default_factory=dict)   # table -> data files read
    # table -> the data files themselves (not recorded; benchmarks re-read them for floors)
    input_files: dict[str, set[str]] = field(default_factory=dict)


def summarize(values: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in values.items())
