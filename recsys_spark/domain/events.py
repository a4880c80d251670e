"""Event types of the `events` table and what each group of them means."""
from __future__ import annotations

from pyspark.sql import Column
from pyspark.sql import functions as F

VIEW, CLICK, ADD_TO_CART, REMOVE_FROM_CART, PURCHASE = (
    "view", "click", "add_to_cart", "remove_from_cart", "purchase")
PROMO_IMPRESSION, PROMO_CLICK, PROMO_REDEEM = "promo_impression", "promo_click", "promo_redeem"

# Behaviour on items (what recommendations and taste are learned from).
ITEM_EVENT_TYPES: tuple[str, ...] = (VIEW, CLICK, ADD_TO_CART, REMOVE_FROM_CART, PURCHASE)
# Item events that show interest (removing from the cart does not).
INTEREST_EVENT_TYPES: tuple[str, ...] = (VIEW, CLICK, ADD_TO_CART, PURCHASE)
# The promotion funnel: shown, clicked, redeemed.
PROMO_EVENT_TYPES: tuple[str, ...] = (PROMO_IMPRESSION, PROMO_CLICK, PROMO_REDEEM)
# Events that count as a response to a promotion impression.
RESPONSE_EVENT_TYPES: tuple[str, ...] = (PROMO_CLICK, PROMO_REDEEM)
EVENT_TYPES: tuple[str, ...] = ITEM_EVENT_TYPES + PROMO_EVENT_TYPES


def top_level(category: Column) -> Column:
    """'electronics.audio' -> 'electronics' (promotions target top-level categories)."""
    return F.substring_index(category, ".", 1)
