"""Report sections: each gathers its small frames, draws its figures, and says plainly what
is not available (and which command produces it) instead of failing the whole report."""
from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from recsys_spark.report import gather_events as ge
from recsys_spark.report import gather_models as gm
from recsys_spark.report import plots
from recsys_spark.report.model import MissingInput, Section, Table
from recsys_spark.report.snapshot import Snapshot

SectionBuilder = Callable[[Snapshot, dt.date], Section]


@contextmanager
def unless_missing(section: Section) -> Iterator[None]:
    """Runs the block; a MissingInput raised inside ends the block and is listed on the section
    ("not available: run X") instead of failing the whole report."""
    try:
        yield
    except MissingInput as exc:
        section.missing.append(exc)


def quality_section(snapshot: Snapshot, run_date: dt.date, days: int = 30) -> Section:
    """Clean-run counts and quarantined records per run date and reason."""
    section = Section("quality", "Data quality",
                      f"Clean runs in the {days} days up to {run_date}: records read, kept, "
                      "dropped as duplicates and quarantined, and the quarantine reason codes.")
    with unless_missing(section):
        section.tables.append(Table("Clean runs (last attempt per run date)",
                                    ge.clean_runs(snapshot, run_date, days)))
    with unless_missing(section):
        reasons = ge.quarantine_by_reason(snapshot, run_date, days)
        if reasons.empty:
            section.notes.append("No record was quarantined in this window.")
        else:
            wide = reasons.pivot_table(index="run_date", columns="reason", values="records",
                                       aggfunc="sum", fill_value=0)
            wide.columns.name = None
            section.tables.append(Table("Quarantined records per run date and reason",
                                        wide.reset_index()))
            section.figures.append(("quarantined records per run date and reason",
                                    plots.quarantine_plot(reasons)))
    return section


def ranking_section(snapshot: Snapshot, run_date: dt.date) -> Section:
    """ALS and item-similarity metrics against the popularity baselines."""
    section = Section("ranking", "Recommendations: ALS and item similarity against baselines",
                      "Top-k metrics of each model on its chronological holdout, next to the "
                      "baselines measured on the same users.")
    with unless_missing(section):
        metrics = gm.ranking_metrics(snapshot, run_date)
        for stage in gm.RANKING_STAGES:
            if stage not in set(metrics["stage"]):
                section.missing.append(MissingInput(
                    f"no model_metrics rows of the {stage} stage on or before {run_date}",
                    f"recsys {stage} --run-date {run_date} (ALS writes none when the holdout has "
                    "no relevant events)" if stage == "als" else f"recsys {stage} --run-date {run_date}"))
                continue
            rows = metrics[metrics["stage"] == stage].dropna(axis=1, how="all")
            section.tables.append(Table(f"{stage} metrics ({rows['run_date'].iloc[0]})", rows))
            section.figures.append((f"{stage} metrics against baselines", plots.ranking_plot(rows, stage)))
    return section


def response_section(snapshot: Snapshot, run_date: dt.date) -> Section:
    """The response model's AUC and calibration, with its two baselines."""
    section = Section("response", "Response model: calibration and AUC",
                      "Ranking (AUC-ROC, AUC-PR) and probability quality (log loss, Brier, "
                      "expected calibration error) on the evaluation split, and the reliability "
                      "diagram: a calibrated model lies on the diagonal.")
    with unless_missing(section):
        summary, bins = gm.response_metrics(snapshot, run_date)
        section.tables.append(Table(f"Response model against baselines ({summary['run_date'].iloc[0]})",
                                    summary))
        if bins.empty:
            section.notes.append("No reliability bins were recorded.")
        else:
            section.tables.append(Table("Reliability bins", bins))
            section.figures.append(("response model reliability diagram",
                                    plots.calibration_plot(bins, summary)))
    return section


def bandit_section(snapshot: Snapshot, run_date: dt.date, top: int = 5) -> Section:
    """Beta posteriors of the bandit's arms per context, with 95% credible intervals."""
    section = Section("bandit", "Bandit arm posteriors per segment",
                      "Posterior mean of each promotion's response rate per context (segment, "
                      "or global) with its central 95% Beta credible interval.")
    with unless_missing(section):
        arms = gm.arm_posteriors(snapshot, run_date)
        shown = arms.groupby("context", sort=True, group_keys=False).head(top)
        section.tables.append(Table(f"Best {top} arms per context by posterior mean "
                                    f"({arms['run_date'].iloc[0]}; the figure shows every arm)", shown))
        section.figures.append(("bandit arm posteriors per context", plots.posterior_plot(arms)))
        contexts = arms["context"].nunique()
        if contexts > 12:
            section.notes.append(f"The figure shows the first 12 of {contexts} contexts.")
    return section


def loop_section(snapshot: Snapshot, run_date: dt.date) -> Section:
    """Closed-loop simulation: cumulative expected reward and regret per policy."""
    section = Section("loop", "Closed loop: cumulative reward and regret per policy",
                      "Each policy chose promotions day after day on the simulated shop, which "
                      "answered with its true response probabilities; regret is the oracle's "
                      "expected reward minus the policy's.")
    with unless_missing(section):
        curves = gm.loop_curves(snapshot)
        summary = gm.loop_summary(snapshot)
        section.tables.append(Table("Whole loop per policy (lowest regret first)", summary))
        section.figures.append(("cumulative reward and regret per policy", plots.loop_plot(curves)))
    return section


def ope_section(snapshot: Snapshot, run_date: dt.date) -> Section:
    """Off-policy value estimates with bootstrap confidence intervals."""
    section = Section("ope", "Off-policy evaluation",
                      "Estimated value (expected reward per impression) of each policy from "
                      "logged data, with 95% bootstrap confidence intervals.")
    with unless_missing(section):
        estimates = gm.ope_estimates(snapshot, run_date)
        section.tables.append(Table(f"Estimates ({estimates['run_date'].iloc[0]})", estimates))
        section.figures.append(("off-policy estimates with confidence intervals",
                                plots.ope_plot(estimates)))
    return section


def activity_section(snapshot: Snapshot, run_date: dt.date, days: int = 14) -> Section:
    """Events, users and sessions per day, and the shop and promotion funnels (notebooks)."""
    section = Section("activity", "Activity and funnels",
                      f"Clean events in the {days} days up to {run_date}.")
    with unless_missing(section):
        activity = ge.daily_activity(snapshot, run_date, days)
        funnel = ge.funnels(snapshot, run_date, days)
        section.tables += [Table("Activity per day", activity), Table("Funnels", funnel)]
        section.figures += [("activity per day", plots.activity_plot(activity)),
                            ("funnels", plots.funnel_plot(funnel))]
    return section


def readout_section(snapshot: Snapshot, run_date: dt.date) -> Section:
    """The A/B readout: holdout vs treated users, overall, per segment and per promo type."""
    section = Section("readout", "A/B readout: holdout vs treated users",
                      "Difference in means of treated minus holdout users over the readout "
                      "window, with its confidence interval (Welch, normal) and p-value; the "
                      "sample-ratio check compares the holdout share with bandit.holdout_share.")
    with unless_missing(section):
        readout = gm.ab_readout(snapshot, run_date)
        first = readout.iloc[0]
        section.tables.append(Table(f"Readout of {first['run_date']} over {first['window_days']} days",
                                    readout.drop(columns=["run_date", "window_days"])))
        section.figures.append(("uplift per metric with confidence intervals",
                                plots.readout_plot(readout)))
        flagged = readout[readout["srm_flag"].fillna(False).astype(bool)]
        if len(flagged):
            section.notes.append(f"Sample-ratio mismatch on {len(flagged)} rows (e.g. "
                                 f"{flagged['dimension'].iloc[0]} {flagged['dim_value'].iloc[0]}): "
                                 "the split is not what the holdout hashing gives; distrust them.")
    return section


def monitor_section(snapshot: Snapshot, run_date: dt.date, days: int = 30) -> Section:
    """Trends of the policy monitor's overall figures."""
    section = Section("monitor", "Policy monitor",
                      f"Overall figures of the live policy per run date ({days} days up to "
                      f"{run_date}); dashed: the threshold, red: a flagged day.")
    with unless_missing(section):
        trend = gm.policy_monitor_trend(snapshot, run_date, days)
        latest = trend[trend["run_date"] == trend["run_date"].max()]
        section.tables.append(Table(f"Latest figures ({latest['run_date'].iloc[0]})",
                                    latest.drop(columns=["run_date"])))
        section.figures.append(("policy monitor trends", plots.monitor_plot(trend)))
    return section


# The report's sections, in page order.
REPORT_SECTIONS: tuple[SectionBuilder, ...] = (quality_section, ranking_section, response_section,
                                               bandit_section, readout_section, monitor_section,
                                               loop_section, ope_section)


def build_sections(snapshot: Snapshot, run_date: dt.date,
                   builders: tuple[SectionBuilder, ...] = REPORT_SECTIONS) -> list[Section]:
    """Every section of the report for ``run_date``, in page order."""
    return [builder(snapshot, run_date) for builder in builders]

