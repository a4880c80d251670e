"""Pseudonymization of user ids: HMAC-SHA256 with a key read from the environment.

The key never appears in YAML, logs or query plans: it is read from the environment variable
named by ``privacy.hmac_key_env`` and used inside a pandas UDF. A Spark built-in HMAC would need
the key (or its padded forms, which reveal it) as a literal in the plan, where the UI, event
logs and ``explain`` would show it; that is why this is a UDF (vectorized over Arrow batches).
"""
from __future__ import annotations

import hashlib
import hmac
import os

import pandas as pd
from pyspark.sql import Column
from pyspark.sql import functions as F

from recsys_spark.errors import RecsysError
from recsys_spark.settings.clean import PrivacyConfig

MIN_KEY_BYTES = 16


class PrivacyKeyError(RecsysError):
    """Pseudonymization is on but its key is missing or too short."""


def resolve_hmac_key(privacy: PrivacyConfig) -> bytes | None:
    """The HMAC key when pseudonymization is on, else None.

    Raises:
        PrivacyKeyError: the environment variable is unset or shorter than 16 bytes; the
            message names the variable, never its value.
    """
    if not privacy.pseudonymize_users:
        return None
    value = os.environ.get(privacy.hmac_key_env, "")
    if not value:
        raise PrivacyKeyError(f"privacy.pseudonymize_users is on but the environment variable "
                              f"{privacy.hmac_key_env} (privacy.hmac_key_env) is not set; "
                              "refusing to run")
    key = value.encode("utf-8")
    if len(key) < MIN_KEY_BYTES:
        raise PrivacyKeyError(f"environment variable {privacy.hmac_key_env}: the HMAC key must "
                              f"have at least {MIN_KEY_BYTES} bytes")
    return key


def pseudonymize(column: Column, key: bytes) -> Column:
    """HMAC-SHA256(key, value) as 64 hex characters; null stays null."""

    @F.pandas_udf("string")  # type: ignore[call-overload]
    def _hmac(values: pd.Series) -> pd.Series:
        return values.map(lambda v: None if v is None else
                          hmac.new(key, v.encode("utf-8"), hashlib.sha256).hexdigest())

    return _hmac(column)


def hmac_hex(value: str, key: bytes) -> str:
    """The same pseudonym computed in Python (tests, support look-ups)."""
    return hmac.new(key, value.encode("utf-8"), hashlib.sha256).hexdigest()
