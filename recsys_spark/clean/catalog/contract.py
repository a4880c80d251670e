"""The catalog file contract: which columns a file for each dimension must have, which values
every record needs, and how list values are written. docs/real_data.md documents the same.

Column types come from the table schemas (recsys_spark/schemas/events.py); a file may hold
extra columns (ignored, listed in the run's notes).
"""
from __future__ import annotations

from dataclasses import dataclass

from recsys_spark.clean.catalog.model import (
    DIM_KEYS,
    DIM_SCHEMAS,
    ITEMS_TABLE,
    PROMOTIONS_TABLE,
    USERS_TABLE,
)

# Written by the import itself, never read from a file.
NOT_FROM_FILE: tuple[str, ...] = ("origin", "run_id")
# A list value (eligible_categories) in CSV: items separated by this; JSON and Parquet may also
# give an array.
LIST_SEPARATOR = "|"


@dataclass(frozen=True)
class FileContract:
    """What a catalog file of one dimension must hold."""

    table: str
    required: tuple[str, ...]      # columns the file must have (values may be empty unless below)
    not_null: tuple[str, ...]      # columns every record needs a value in

    @property
    def key(self) -> str:
        return DIM_KEYS[self.table]

    @property
    def columns(self) -> tuple[str, ...]:
        """Every column the file may give, in table order."""
        return tuple(f.name for f in DIM_SCHEMAS[self.table].fields if f.name not in NOT_FROM_FILE)

    def missing(self, found: set[str]) -> list[str]:
        """The required columns absent from ``found``, in contract order."""
        return [c for c in self.required if c not in found]


CONTRACTS: dict[str, FileContract] = {
    ITEMS_TABLE: FileContract(ITEMS_TABLE, required=("item_id", "category"), not_null=("item_id",)),
    # Dates and budget are required columns because an empty value means something (open start,
    # no end, unlimited budget): a file that simply lacks them must not silently mean that.
    PROMOTIONS_TABLE: FileContract(
        PROMOTIONS_TABLE,
        required=("promotion_id", "promo_type", "discount_value", "start_date", "end_date", "budget"),
        not_null=("promotion_id", "promo_type")),
    USERS_TABLE: FileContract(USERS_TABLE, required=("user_id",), not_null=("user_id",)),
}
