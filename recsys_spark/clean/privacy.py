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
import re
from collections.abc import Sequence

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


def pseudonymize_raw_text(raw: Column, source: str, user_id: Column, key: bytes,
                          user_keys: Sequence[str] = ("user_id",)) -> Column:
    """A rejected record's raw text with its user id replaced by the pseudonym `events` uses,
    for the quarantine. JSON: every ``"user_id": "<id>"`` (or its renamed key; a value cut off
    at the end of a truncated line too); CSV: the field equal to the parsed user id. A text that
    may hold a user id the pattern cannot locate (a JSON text naming a user key that did not
    match, a CSV row whose user id could not be parsed) is dropped (null): never kept in clear."""
    if source == "obd":  # the Open Bandit Dataset carries no user ids
        return raw
    if source == "jsonl":
        keys = "|".join(re.escape(k) for k in sorted(user_keys))
        pattern = '("(?:' + keys + r')"\s*:\s*")([^"]*)'
        found = F.regexp_extract(raw, pattern, 2)
        replaced = F.regexp_replace(raw, F.lit(pattern),
                                    F.concat(F.lit("$1"), pseudonymize(found, key)))
        return (F.when(F.regexp_like(raw, F.lit(pattern)), replaced)
                .when(F.lower(raw).contains("user"), F.lit(None).cast("string"))
                .otherwise(raw))
    field = F.concat(F.lit(r"(^|,)\Q"), user_id, F.lit(r"\E(,|$)"))
    replaced = F.regexp_replace(raw, field, F.concat(F.lit("$1"), pseudonymize(user_id, key),
                                                     F.lit("$2")))
    return F.when(user_id.isNotNull(), replaced).otherwise(F.lit(None).cast("string"))


def hmac_hex(value: str, key: bytes) -> str:
    """The same pseudonym computed in Python (tests, support look-ups)."""
    return hmac.new(key, value.encode("utf-8"), hashlib.sha256).hexdigest()
