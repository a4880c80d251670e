"""The one way every ranking is chosen: fit on train, choose on validation, report on test,
publish the winner refitted on everything.

1. Every candidate (baselines and models alike) is fitted on the days before the validation
   window and ranks the validation users' keys; the blend's weights are fitted on that window
   (cross-fitted for its own validation figure, blend.py).
2. The candidate with the best validation NDCG@k wins (a tie goes to the baseline, then to the
   earlier candidate). A baseline that wins is what gets published, and the decision says so.
3. Every candidate is refitted on train + validation and measured on the test window. The
   published figure is the winner's test figure: no metric is ever reported on the window that
   chose the model.
4. The stage publishes the winner refitted on every day up to the run date (:func:`publish`).

A window judged on fewer than ``min_eval_users`` users (or with no day before it to fit on)
cannot choose: the task's fallback baseline is published, with the reason. Judged users are
those with a relevant event in the window and some history before it (a user without history
gets the same popularity list from every candidate), at most ``max_eval_users`` of them by a
stable hash sample.
"""
from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from recsys_spark.domain.models import PUBLISHED
from recsys_spark.ranking.blend import (
    BLEND,
    BlendModel,
    blend_features,
    cross_fitted_scores,
    fit_blend,
    with_labels,
)
from recsys_spark.ranking.candidate import (
    CANDIDATE,
    USER,
    Candidate,
    Cut,
    Fitted,
    complete,
    complete_many,
    top_per_user,
)
from recsys_spark.ranking.lineage import materialize
from recsys_spark.ranking.metrics import ranking_metrics_by
from recsys_spark.ranking.windows import TEST, VALIDATION, EvalWindows, Window
from recsys_spark.settings.ranking import RankingConfig

log = logging.getLogger(__name__)

_SAMPLE_RANGE = 1 << 30


@dataclass
class RankingTask:
    """One ranking to choose: its candidates and how to build cuts and truths."""

    name: str                                     # "categories", "items", "neighbours"
    key: str                                      # the ranked column: category, item_id
    candidates: Sequence[Candidate]
    fallback: str                                 # the baseline published when nothing can choose
    make_cut: Callable[[str, dt.date], Cut]       # (window name, last day of history) -> Cut
    window_truth: Callable[[Window], DataFrame]   # [user_id, <key>] relevant in the window
    blend: Sequence[str] = ()                     # the blend's components ([] = no blend)

    def candidate(self, name: str) -> Candidate:
        return next(c for c in self.candidates if c.name == name)

    def role(self, name: str) -> str:
        return "blend" if name == BLEND else self.candidate(name).role


@dataclass
class Decision:
    """What was chosen, why, and every candidate's figures (model_metrics rows)."""

    task: str
    published: str
    reason: str
    k: int
    validation: dict[str, dict[str, float]] = field(default_factory=dict)
    test: dict[str, dict[str, float]] = field(default_factory=dict)
    blend_model: BlendModel | None = None
    published_role: str = ""
    rows: list[dict[str, Any]] = field(default_factory=list)
    notes: dict[str, str] = field(default_factory=dict)

    @property
    def ndcg(self) -> str:
        return f"ndcg@{self.k}"

    def published_test(self) -> float | None:
        return self.test.get(self.published, {}).get(self.ndcg)


def eval_truth(truth_df: DataFrame, cut: Cut, cfg: RankingConfig) -> tuple[DataFrame, int]:
    """The judged users' relevant keys (materialised) and how many users that is."""
    known_df = cut.history_df.select(USER).distinct()
    judged_df = materialize(truth_df.join(known_df, on=USER, how="left_semi"))
    users = judged_df.select(USER).distinct().count()
    if users <= cfg.max_eval_users:
        return judged_df, users
    share = cfg.max_eval_users / users
    draw = F.pmod(F.xxhash64(F.lit("eval-users"), F.col(USER)), F.lit(_SAMPLE_RANGE)) / _SAMPLE_RANGE
    sampled_df = materialize(judged_df.filter(draw < F.lit(share)))
    users = sampled_df.select(USER).distinct().count()
    return sampled_df, users


@dataclass
class _CutLists:
    """Each candidate's fitted ranker and top-``pool`` lists on one cut, for the judged users."""

    fitted: dict[str, Fitted] = field(default_factory=dict)
    lists: dict[str, DataFrame] = field(default_factory=dict)

    def release(self) -> None:
        for df in self.lists.values():
            df.unpersist()
        for fitted in self.fitted.values():
            fitted.release()


def _candidate_lists(task: RankingTask, cut: Cut, users_df: DataFrame, pool: int) -> _CutLists:
    """Every candidate fitted on ``cut`` and its top-``pool`` list for ``users_df``, materialised:
    the blend and the judging read every list, and their plans stay a scan of stored rows."""
    out = _CutLists()
    for candidate in task.candidates:
        started = time.time()
        out.fitted[candidate.name] = candidate.fit(cut)
        out.lists[candidate.name] = materialize(out.fitted[candidate.name].top(users_df, pool))
        log.info("%s/%s: %s fitted through %s in %.1f s", task.name, cut.name, candidate.name,
                 cut.end, time.time() - started)
    return out


def _blend_top(task: RankingTask, lists: _CutLists, truth_df: DataFrame, cut: Cut,
               cfg: RankingConfig, seed: int, blend_model: BlendModel | None, fit_blend_here: bool
               ) -> tuple[DataFrame | None, BlendModel | None]:
    """The blend's top-k list on this cut (None when it cannot be fitted) and its model (fitted
    here on the window when ``fit_blend_here``: its own list is then cross-fitted)."""
    features_df = materialize(blend_features({name: lists.lists[name] for name in task.blend},
                                             cut.key))
    if fit_blend_here:
        labelled_df = materialize(with_labels(features_df, truth_df, cut.key))
        scored_df = cross_fitted_scores(labelled_df, task.blend, cfg.blend_reg_param,
                                        cfg.blend_max_iter, seed, cut.key)
        blend_model = fit_blend(labelled_df, task.blend, cfg.blend_reg_param,
                                cfg.blend_max_iter) if scored_df is not None else None
    else:
        scored_df = blend_model.score(features_df, cut.key) if blend_model else None
    if scored_df is None or blend_model is None:
        return None, blend_model
    return top_per_user(scored_df, cut.key, cfg.k), blend_model


def score_window(task: RankingTask, window: Window, cfg: RankingConfig, seed: int,
                 blend_model: BlendModel | None, fit_blend_here: bool
                 ) -> tuple[dict[str, dict[str, float]], BlendModel | None, str | None]:
    """Every candidate's figures on ``window`` (fitted on the days before it).

    All lists (the blend's too) are completed and judged together: one Spark job per window.

    Returns:
        (figures per candidate — empty when the window cannot judge —, the blend model fitted
        here if ``fit_blend_here``, else the given one, and why the window could not judge).
    """
    cut = task.make_cut(window.name, window.fit_end)
    truth_df, users = eval_truth(task.window_truth(window), cut, cfg)
    try:
        if users < cfg.min_eval_users:
            return {}, blend_model, (f"{window.name} window {window.label()} has {users} judged users "
                                     f"(< ranking.min_eval_users {cfg.min_eval_users})")
        users_df = truth_df.select(USER).distinct()
        lists = _candidate_lists(task, cut, users_df, cfg.blend_pool)
        try:
            tops = dict(lists.lists)
            if task.blend:
                blend_df, blend_model = _blend_top(task, lists, truth_df, cut, cfg, seed,
                                                   blend_model, fit_blend_here)
                if blend_df is not None:
                    tops[BLEND] = blend_df
            ranked_df = complete_many(tops, cut, users_df, cfg.k)
            figures = ranking_metrics_by(ranked_df, truth_df, cfg.k, cut.key, CANDIDATE)
            figures = {name: figures[name] for name in tops}   # candidates' order
        finally:
            lists.release()
        return figures, blend_model, None
    finally:
        truth_df.unpersist()
        cut.release()


def _choose(task: RankingTask, validation: dict[str, dict[str, float]], ndcg: str) -> str:
    """Best validation NDCG; ties to a baseline, then to the earlier candidate."""
    order = [c.name for c in task.candidates] + [BLEND]
    return max(validation, key=lambda name: (validation[name][ndcg],
                                             task.role(name) == "baseline", -order.index(name)))


def _best_baseline(task: RankingTask, figures: dict[str, dict[str, float]], ndcg: str) -> str | None:
    baselines = [n for n in figures if task.role(n) == "baseline"]
    return max(baselines, key=lambda n: figures[n][ndcg]) if baselines else None


def _reason(task: RankingTask, decision: Decision) -> str:
    ndcg, val = decision.ndcg, decision.validation
    winner = decision.published
    baseline = _best_baseline(task, val, ndcg)
    models = [n for n in val if task.role(n) != "baseline"]
    best_model = max(models, key=lambda n: val[n][ndcg]) if models else None
    if task.role(winner) == "baseline":
        against = (f"; best model {best_model} {val[best_model][ndcg]:.4f}" if best_model else "")
        return (f"baseline {winner} won on validation ({ndcg} {val[winner][ndcg]:.4f}{against}): "
                "the baseline is published")
    against = f"; best baseline {baseline} {val[baseline][ndcg]:.4f}" if baseline else ""
    return f"{winner} won on validation ({ndcg} {val[winner][ndcg]:.4f}{against})"


def choose(task: RankingTask, windows: EvalWindows, cfg: RankingConfig, seed: int) -> Decision:
    """Run the protocol of the module docstring; returns the decision with its model_metrics
    rows (the stage writes them) and notes."""
    decision = Decision(task.name, task.fallback, "", cfg.k)
    decision.notes.update({f"{task.name}.{k}": v for k, v in windows.describe().items()})
    if windows.train_days < 1:
        decision.reason = (f"no history before the validation window {windows.validation.label()} "
                           f"to fit on: the fallback baseline {task.fallback} is published")
        return _finish(task, decision, windows)
    decision.validation, decision.blend_model, why_not = score_window(
        task, windows.validation, cfg, seed, None, fit_blend_here=True)
    if why_not:
        decision.reason = f"{why_not}: the fallback baseline {task.fallback} is published"
        return _finish(task, decision, windows)
    decision.published = _choose(task, decision.validation, decision.ndcg)
    decision.reason = _reason(task, decision)
    decision.test, _, why_not = score_window(task, windows.test, cfg, seed, decision.blend_model,
                                              fit_blend_here=False)
    if why_not:
        decision.notes[f"{task.name}.test"] = f"{why_not}: no test figures"
    return _finish(task, decision, windows)


def without_choice(task: RankingTask, name: str, reason: str, windows: EvalWindows,
                   cfg: RankingConfig) -> Decision:
    """A decision made without evaluation (the stage was told not to evaluate): ``name`` is
    published with ``reason`` and no figures."""
    return _finish(task, Decision(task.name, name, reason, cfg.k), windows)


def _finish(task: RankingTask, decision: Decision, windows: EvalWindows) -> Decision:
    fitted_on = {VALIDATION: windows.validation.fit_end, TEST: windows.test.fit_end}
    for split, figures in ((VALIDATION, decision.validation), (TEST, decision.test)):
        window = windows.validation if split == VALIDATION else windows.test
        for name, values in figures.items():
            params = {"ranking": task.name, "role": task.role(name), "window": window.label(),
                      "fitted_through": fitted_on[split].isoformat()}
            decision.rows += [{"model": name, "metric": metric, "value": value, "split": split,
                               "params": params} for metric, value in values.items()]
    best_baseline = _best_baseline(task, decision.validation, decision.ndcg)
    params: dict[str, str] = {"ranking": task.name, "candidate": decision.published,
                              "role": task.role(decision.published), "reason": decision.reason,
                              "chosen_on": f"validation {windows.validation.label()}",
                              "reported_on": f"test {windows.test.label()}"}
    chosen_figures = decision.validation.get(decision.published)
    if chosen_figures is not None:
        params[f"validation_{decision.ndcg}"] = f"{chosen_figures[decision.ndcg]:.6f}"
    if best_baseline is not None:
        params["best_baseline"] = best_baseline
        test_baseline = decision.test.get(best_baseline, {}).get(decision.ndcg)
        if test_baseline is not None:
            params[f"best_baseline_test_{decision.ndcg}"] = f"{test_baseline:.6f}"
    if decision.published == BLEND and decision.blend_model is not None:
        params.update(decision.blend_model.weights())
    decision.rows.append({"model": PUBLISHED, "metric": decision.ndcg,
                          "value": decision.published_test(), "split": TEST, "params": params})
    decision.published_role = task.role(decision.published)
    decision.notes[f"{task.name}.published"] = decision.published
    decision.notes[f"{task.name}.decision"] = decision.reason
    log.info("%s: published %s — %s", task.name, decision.published, decision.reason)
    return decision


@dataclass
class Published:
    """The published ranking (lazy) and what to release once it is written."""

    ranking_df: DataFrame       # [user_id, rank, <key>, score, source]
    fitted: list[Fitted]
    cut: Cut

    def release(self) -> None:
        for fitted in self.fitted:
            fitted.release()
        self.cut.release()


def publish(task: RankingTask, decision: Decision, run_date: dt.date, users_df: DataFrame, n: int,
            pool: int) -> Published:
    """The decision's winner refitted on every day up to ``run_date``: top ``n`` per user of
    ``users_df``, completed with popular keys."""
    cut = task.make_cut("publish", run_date)
    if decision.published == BLEND and decision.blend_model is not None:
        fitted = {name: task.candidate(name).fit(cut) for name in task.blend}
        lists = {name: materialize(f.top(users_df, pool)) for name, f in fitted.items()}
        top_df = top_per_user(decision.blend_model.score(blend_features(lists, cut.key), cut.key),
                              cut.key, n)
        return Published(complete(top_df, cut, users_df, n, BLEND), list(fitted.values()), cut)
    fitted_one = task.candidate(decision.published).fit(cut)
    return Published(complete(fitted_one.top(users_df, n), cut, users_df, n, decision.published),
                     [fitted_one], cut)


def report_figures(decision: Decision) -> dict[str, float]:
    """StageReport metrics: whether a baseline was published and the published test figure."""
    out = {f"{decision.task}.published_is_baseline": float(decision.published_role == "baseline")}
    value = decision.published_test()
    if value is not None:
        out[f"{decision.task}.test_{decision.ndcg}"] = value
    return out
