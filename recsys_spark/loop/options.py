"""What a closed loop runs: policies, days, warm-up, retraining. Validated before Spark starts."""
from __future__ import annotations

from dataclasses import dataclass

from recsys_spark.errors import RecsysError
from recsys_spark.settings.bandit import POLICIES

# Names a loop accepts beyond the bandit's own: `ucb` is the name for UCB1.
POLICY_ALIASES: dict[str, str] = {"ucb": "ucb1"}
LOOP_POLICIES: tuple[str, ...] = ("thompson", "ucb", "greedy", "random", "epsilon_greedy", "ucb1",
                                  "bayes_ucb")
DEFAULT_POLICIES: tuple[str, ...] = ("thompson", "ucb", "greedy", "random")


class LoopInputError(RecsysError, ValueError):
    """The loop's arguments are invalid (unknown policy, days < 1, ...)."""


@dataclass(frozen=True)
class LoopOptions:
    """One closed-loop request.

    ``policies`` are the names shown in `loop_results` (``ucb`` stays ``ucb``); ``bandit_policy``
    maps them to the bandit stage's names. ``retrain_every`` = K > 0 re-runs features,
    similarity, als and response before the bandit on loop days 1 + K, 1 + 2K, ...; 0 never.
    """

    policies: tuple[str, ...]
    days: int
    warmup_days: int | None = None      # None: simulate.days of the config (as `recsys run`)
    preset: str | None = None
    retrain_every: int = 0
    rebuild_warmup: bool = False
    # (warehouse root, landing root) of a finished `recsys run` to copy as the warm-up instead of
    # simulating and fitting one; its days must be the loop's warm-up days.
    warmup_from: tuple[str, str] | None = None

    def __post_init__(self) -> None:
        if not self.policies:
            raise LoopInputError("--policy: give at least one policy")
        unknown = [p for p in self.policies if p not in LOOP_POLICIES]
        if unknown:
            raise LoopInputError(f"--policy: unknown {', '.join(map(repr, unknown))} "
                                 f"(choose from {', '.join(LOOP_POLICIES)})")
        if len(set(self.policies)) != len(self.policies):
            raise LoopInputError(f"--policy: {','.join(self.policies)} names a policy twice")
        if self.days < 1:
            raise LoopInputError(f"--days {self.days}: must be >= 1")
        # The response model needs labelled history for its train/validation/test split.
        if self.warmup_days is not None and self.warmup_days < 2:
            raise LoopInputError(f"--warmup-days {self.warmup_days}: must be >= 2")
        if self.warmup_from is not None and (len(self.warmup_from) != 2 or not all(self.warmup_from)):
            raise LoopInputError("--warmup-from: give WAREHOUSE,LANDING (the roots of a `recsys run`)")
        if self.retrain_every < 0:
            raise LoopInputError(f"--retrain-every {self.retrain_every}: must be >= 0 (0 = never)")

    @staticmethod
    def bandit_policy(name: str) -> str:
        """The bandit stage's policy name for a loop policy name."""
        resolved = POLICY_ALIASES.get(name, name)
        assert resolved in POLICIES, resolved  # LOOP_POLICIES only lists names that resolve
        return resolved

    def retrains_on(self, loop_day: int) -> bool:
        """True when the models are re-fitted before the bandit on this loop day."""
        return self.retrain_every > 0 and loop_day > 1 and (loop_day - 1) % self.retrain_every == 0


def parse_warmup_from(text: str | None) -> tuple[str, str] | None:
    """``"wh,landing"`` -> ("wh", "landing"); None stays None. Raises LoopInputError otherwise."""
    if text is None:
        return None
    parts = tuple(p.strip() for p in text.split(","))
    if len(parts) != 2 or not all(parts):
        raise LoopInputError(f"--warmup-from {text!r}: give WAREHOUSE,LANDING (the roots of a "
                             "`recsys run`)")
    return parts  # type: ignore[return-value]


def parse_policies(text: str) -> tuple[str, ...]:
    """``"thompson, greedy"`` -> ("thompson", "greedy"); validation happens in LoopOptions."""
    return tuple(p.strip() for p in text.split(",") if p.strip())
