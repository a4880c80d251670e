"""Simulator settings: world sizes, behaviour rates and dirt rates, with named presets.

``SimulatorConfig`` is the fully resolved, frozen set of parameters the generator takes.
``SimulateSection`` is the ``simulate:`` block of the app config (conf/base.yaml): a preset name
plus optional overrides, resolved with :meth:`SimulateSection.resolve`.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Literal

PresetName = Literal["tiny", "demo", "bench-1m", "bench-10m", "realistic"]


def _check_rate(name: str, value: float, upper: float = 1.0) -> None:
    if not 0.0 <= value <= upper:
        raise ValueError(f"{name}: must be between 0 and {upper}, got {value}")


@dataclass(frozen=True)
class DirtRates:
    """How often each defect is injected. Row rates are fractions of generated (non-bot) events;
    ``wrong_type`` and ``bad_price`` are fractions of events that carry a price; file rates are
    fractions of written event files. Content defects are mutually exclusive per event."""

    duplicate: float = 0.02          # event re-delivered 2-5 times with the same event_id
    malformed: float = 0.002         # truncated JSON line
    missing_required: float = 0.002  # one of event_id/event_time/event_type/session_id absent
    wrong_type: float = 0.01         # price as a string with a decimal comma, e.g. "12,99"
    unknown_event_type: float = 0.001
    future_timestamp: float = 0.0005  # event_time 1-5 years ahead
    epoch_timestamp: float = 0.0005   # event_time in 1970
    late_arrival: float = 0.01        # file lands 1-3 days after the event date
    bad_price: float = 0.005          # zero, negative or absurd (>= 1e6) price
    invalid_utf8: float = 0.0005      # line contains bytes that are not UTF-8
    bot_users_per_1000: float = 2.0   # bot accounts per 1000 users (at least 1 when > 0)
    extra_field_files: float = 0.2    # files whose lines carry an unknown "app_version" field
    renamed_field_files: float = 0.1  # files that spell user_id as "userId"
    empty_files_per_day: int = 1      # extra empty files per generated day

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name == "bot_users_per_1000":
                _check_rate(f.name, value, 1000.0)
            elif f.name == "empty_files_per_day":
                if value < 0:
                    raise ValueError(f"{f.name}: must be >= 0, got {value}")
            else:
                _check_rate(f.name, value)
        content = (self.malformed + self.missing_required + self.unknown_event_type
                   + self.future_timestamp + self.epoch_timestamp + self.invalid_utf8)
        if content > 0.5:
            raise ValueError(f"malformed: content defect rates sum to {content:.3f}; must be <= 0.5")
        if self.wrong_type + self.bad_price > 0.5:
            raise ValueError("wrong_type: wrong_type + bad_price must be <= 0.5")

    @classmethod
    def clean(cls) -> DirtRates:
        """No dirt at all (every rate zero)."""
        return cls(**{f.name: 0 for f in dataclasses.fields(cls)})


@dataclass(frozen=True)
class RealisticBehaviour:
    """The ``realistic`` world model (docs/realistic_world.md): a large catalog under a category
    tree, users who keep coming back to a drifting handful of categories, heavy-tailed sessions.

    Present only in the ``realistic`` preset; the other presets keep the latent-taste model.
    """

    items_per_leaf: float = 30.0          # leaf categories = n_items / this (at least one per sub)
    leaf_popularity_exponent: float = 0.75  # Zipf exponent of leaf categories' browse share
    item_popularity_exponent: float = 1.0  # Zipf exponent of items within their leaf
    interest_slots: int = 6               # categories a user is into at a time
    slot_weight_exponent: float = 1.2     # slot k is visited with weight (k + 1) ** -exponent
    interest_drift: float = 0.2           # daily chance that a slot moves to a new category
    related_categories: int = 6           # related leaves per leaf (shared by every user)
    related_share: float = 0.45           # a new interest follows a related leaf of a current one
    home_share: float = 0.4               # ... or a persona leaf or a popular leaf of a home top
    cross_top_related: float = 0.2        # share of related leaves under another top category
    home_concentration: float = 2.0       # sd of the personas' home-top logits (higher: fewer tops)
    n_personas: int = 40                  # shared lifestyles: each a home-top mix and a leaf list
    persona_leaves: int = 40              # leaves per persona (Zipf-weighted)
    persona_share: float = 0.6            # home draws from the persona's leaves (else by popularity)
    session_length_sigma: float = 1.1     # log-normal sd of views per session (mean views_per_session)
    max_session_views: int = 300
    session_focus: float = 0.7            # a view stays in the session's category
    sibling_share: float = 0.15           # ... or moves to a sibling leaf (else another interest)
    revisit_share: float = 0.2            # a view re-opens the previous item of the session
    anchor_share: float = 0.15            # a view in an interest opens that interest's own item
    activity_sigma: float = 1.6           # log-normal sd of users' visit rates (mean 1)
    response_base_logit: float = -5.5     # the response model's intercept (latent model: -3)

    def __post_init__(self) -> None:
        for name in ("items_per_leaf", "leaf_popularity_exponent", "item_popularity_exponent",
                     "slot_weight_exponent", "home_concentration", "session_length_sigma",
                     "activity_sigma"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name}: must be > 0, got {getattr(self, name)}")
        for name in ("interest_slots", "related_categories", "max_session_views", "n_personas",
                     "persona_leaves"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name}: must be >= 1, got {getattr(self, name)}")
        for name in ("interest_drift", "related_share", "home_share", "cross_top_related",
                     "persona_share", "session_focus", "sibling_share", "revisit_share", "anchor_share"):
            _check_rate(name, getattr(self, name))
        if self.related_share + self.home_share > 1.0:
            raise ValueError("related_share: related_share + home_share must be <= 1")
        if self.session_focus + self.sibling_share > 1.0:
            raise ValueError("session_focus: session_focus + sibling_share must be <= 1")


@dataclass(frozen=True)
class SimulatorConfig:
    """The shop world and its behaviour. Defaults are the ``demo`` preset."""

    preset: str = "demo"
    n_users: int = 3000
    n_items: int = 200
    n_top_categories: int = 6
    n_sub_categories: int = 4         # per top category
    n_brands: int = 25
    n_promotions: int = 20
    n_factors: int = 8                 # latent taste dimensions
    taste_strength: float = 2.5        # how sharply tastes concentrate choices (softmax temperature^-1)
    sessions_per_user_day: float = 0.35  # mean sessions of an average user per day
    views_per_session: float = 5.0
    anonymous_session_share: float = 0.15  # anonymous sessions relative to logged-in ones
    promo_slots: int = 3               # promotions shown per visiting user per day
    # Hidden appeal per promotion (its creative, its wording): a logit offset ~ N(0, sd) of its
    # true response that none of its catalog attributes reveal. 0 = attributes tell everything.
    promo_appeal_sd: float = 0.0
    # Promotions beyond the always-on half launch on a day drawn uniformly from
    # [launch_start_day, launch_start_day + launch_span_days) (day 0 = start_date) and run 3-14 days.
    launch_start_day: int = -10
    launch_span_days: int = 20
    # Budget (redemptions) per promotion = max(100, n_users * (0.05 + 0.2 u)) * promo_budget_scale;
    # tiny worlds hit the 100 floor, so good promotions run out within a day or two at scale 1.
    promo_budget_scale: float = 1.0
    late_signup_share: float = 0.1     # users who sign up during the simulated days
    delayed_redeem_share: float = 0.3  # redemptions that arrive 1-3 days after the impression
    files_per_day: int = 4             # event files written per generated day and arrival date
    generation_partitions: int = 4     # Spark partitions of the generator input
    dirt: DirtRates = field(default_factory=DirtRates)
    # None: the latent-taste model (tiny, demo, bench-*); set: the realistic model.
    realistic: RealisticBehaviour | None = None

    def __post_init__(self) -> None:
        positive = ("n_users", "n_items", "n_top_categories", "n_sub_categories", "n_brands",
                    "n_promotions", "n_factors", "promo_slots", "files_per_day",
                    "generation_partitions")
        for name in positive:
            if getattr(self, name) < 1:
                raise ValueError(f"{name}: must be >= 1, got {getattr(self, name)}")
        if self.n_items < self.n_top_categories * self.n_sub_categories:
            raise ValueError("n_items: must be at least n_top_categories * n_sub_categories")
        if self.promo_slots > self.n_promotions:
            raise ValueError("promo_slots: must be <= n_promotions")
        for name in ("sessions_per_user_day", "views_per_session", "taste_strength"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name}: must be > 0")
        if self.promo_appeal_sd < 0:
            raise ValueError(f"promo_appeal_sd: must be >= 0, got {self.promo_appeal_sd}")
        if self.launch_span_days < 1:
            raise ValueError(f"launch_span_days: must be >= 1, got {self.launch_span_days}")
        if self.promo_budget_scale <= 0:
            raise ValueError(f"promo_budget_scale: must be > 0, got {self.promo_budget_scale}")
        for name in ("anonymous_session_share", "late_signup_share", "delayed_redeem_share"):
            _check_rate(name, getattr(self, name))
        if self.realistic is not None and self.n_items < self.n_top_categories * self.n_sub_categories * 2:
            raise ValueError("n_items: the realistic model needs at least two items per subcategory")

    @classmethod
    def from_preset(cls, name: str, **overrides: Any) -> SimulatorConfig:
        """The named preset with ``overrides`` applied. Raises ValueError for an unknown name."""
        if name not in PRESETS:
            raise ValueError(f"preset: unknown {name!r} (choose from {', '.join(PRESETS)})")
        values = {**PRESETS[name], **overrides}
        return cls(preset=name, **values)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict (written into the ground truth's world.json).

        ``realistic`` is left out when unset, so the latent presets' world.json is unchanged.
        """
        data = dataclasses.asdict(self)
        if data["realistic"] is None:
            del data["realistic"]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SimulatorConfig:
        values = dict(data)
        values["dirt"] = DirtRates(**values.get("dirt", {}))
        if values.get("realistic") is not None:
            values["realistic"] = RealisticBehaviour(**values["realistic"])
        return cls(**values)


# Sizes per preset; everything not named keeps the SimulatorConfig default.
PRESETS: dict[str, dict[str, Any]] = {
    # tests: a few hundred users, ~10k events over 2 days, generated in seconds
    "tiny": dict(n_users=400, n_items=32, n_top_categories=4, n_sub_categories=2, n_brands=8,
                 n_promotions=8, n_factors=4, sessions_per_user_day=0.9, views_per_session=5.0,
                 files_per_day=3, generation_partitions=2),
    # README main job: the whole pipeline in a couple of minutes on 2 cores
    "demo": dict(n_users=3000, n_items=200, n_promotions=20, files_per_day=4,
                 generation_partitions=4),
    # ~1M events over 7 days
    "bench-1m": dict(n_users=20000, n_items=1000, n_top_categories=8, n_sub_categories=5,
                     n_brands=60, n_promotions=30, n_factors=12, sessions_per_user_day=0.4,
                     files_per_day=8, generation_partitions=8),
    # ~10M events over 7 days
    "bench-10m": dict(n_users=200000, n_items=2000, n_top_categories=10, n_sub_categories=6,
                      n_brands=100, n_promotions=40, n_factors=16, sessions_per_user_day=0.4,
                      files_per_day=16, generation_partitions=32),
    # A large shop's logs rather than the models' assumptions (docs/realistic_world.md):
    # ~5,000 users, 40,000 items in ~1,300 leaf categories, mostly views, heavy tails.
    "realistic": dict(n_users=5000, n_items=40000, n_top_categories=12, n_sub_categories=8,
                      n_brands=400, n_promotions=24, sessions_per_user_day=0.3,
                      views_per_session=6.0, anonymous_session_share=0.3, files_per_day=4,
                      generation_partitions=4, realistic=RealisticBehaviour(),
                      # two scrapers, not ten: bot lines stay a few percent of the files
                      dirt=DirtRates(bot_users_per_1000=0.4)),
}


@dataclass(frozen=True)
class SimulateSection:
    """The ``simulate:`` section of the app config: a preset plus optional overrides."""

    preset: PresetName = "demo"
    days: int = 7
    start_date: str = "2026-11-01"
    n_users: int | None = None
    n_items: int | None = None
    n_promotions: int | None = None
    sessions_per_user_day: float | None = None
    promo_appeal_sd: float | None = None
    launch_start_day: int | None = None
    launch_span_days: int | None = None
    promo_budget_scale: float | None = None
    dirt_enabled: bool = True

    def __post_init__(self) -> None:
        if self.days < 1:
            raise ValueError(f"days: must be >= 1, got {self.days}")
        import datetime as dt

        try:
            dt.date.fromisoformat(self.start_date)
        except ValueError:
            raise ValueError(f"start_date: expected YYYY-MM-DD, got {self.start_date!r}") from None

    def resolve(self, preset: str | None = None) -> SimulatorConfig:
        """The SimulatorConfig for ``preset`` (default: this section's) with the overrides.

        Raises:
            ValueError: unknown preset or an override out of range.
        """
        overrides: dict[str, Any] = {}
        for name in ("n_users", "n_items", "n_promotions", "sessions_per_user_day", "promo_appeal_sd",
                     "launch_start_day", "launch_span_days", "promo_budget_scale"):
            value = getattr(self, name)
            if value is not None:
                overrides[name] = value
        if not self.dirt_enabled:
            overrides["dirt"] = DirtRates.clean()
        return SimulatorConfig.from_preset(preset or self.preset, **overrides)
