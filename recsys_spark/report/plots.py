"""Figures of the report and the notebooks, drawn from the small frames of the gather modules.

Figures are built with the object API (``matplotlib.figure.Figure``), never pyplot: no global
state, no GUI backend, and PNG export goes through Agg whatever backend is configured.
"""
from __future__ import annotations

import io
import math

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

WIDE = (9.0, 4.0)


def png_bytes(fig: Figure, dpi: int = 100) -> bytes:
    """The figure as PNG bytes (no timestamp metadata, so equal figures give equal bytes)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight", metadata={"Software": None})
    return buffer.getvalue()


def _grid(n: int, columns: int, cell: tuple[float, float]) -> tuple[Figure, list]:
    rows = max(1, math.ceil(n / columns))
    cols = min(columns, max(n, 1))
    fig = Figure(figsize=(cell[0] * cols, cell[1] * rows), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False).ravel().tolist()
    for ax in axes[n:]:
        ax.set_visible(False)
    return fig, axes[:n]


def quarantine_plot(reasons: pd.DataFrame) -> Figure:
    """Stacked bars: quarantined records per run date, one colour per reason code."""
    fig = Figure(figsize=WIDE, layout="constrained")
    ax = fig.subplots()
    table = reasons.pivot_table(index="run_date", columns="reason", values="records",
                                aggfunc="sum", fill_value=0).sort_index()
    bottom = np.zeros(len(table))
    labels = [str(d) for d in table.index]
    for reason in table.columns:
        ax.bar(labels, table[reason].to_numpy(), bottom=bottom, label=reason)
        bottom += table[reason].to_numpy()
    ax.set_title("Quarantined records per run date and reason")
    ax.set_ylabel("records (a record counts once per reason)")
    ax.tick_params(axis="x", labelrotation=45)
    if len(table.columns):
        ax.legend(fontsize="small", loc="center left", bbox_to_anchor=(1.0, 0.5))
    return fig


def activity_plot(activity: pd.DataFrame) -> Figure:
    """Events, users and sessions per event date (two panels: events; users and sessions)."""
    fig = Figure(figsize=WIDE, layout="constrained")
    left, right = fig.subplots(1, 2)
    dates = [str(d) for d in activity["event_date"]]
    left.bar(dates, activity["events"], color="tab:blue")
    left.set_title("Events per day")
    right.plot(dates, activity["users"], marker="o", label="users")
    right.plot(dates, activity["sessions"], marker="s", label="sessions")
    right.set_title("Active users and sessions per day")
    right.legend(fontsize="small")
    for ax in (left, right):
        ax.tick_params(axis="x", labelrotation=45)
    return fig


def funnel_plot(funnel: pd.DataFrame) -> Figure:
    """Horizontal bars of sessions per funnel step, one panel per funnel."""
    names = list(dict.fromkeys(funnel["funnel"]))
    fig, axes = _grid(len(names), 2, (4.5, 3.0))
    for ax, name in zip(axes, names, strict=True):
        steps = funnel[funnel["funnel"] == name].sort_values("step")
        ax.barh(steps["event_type"], steps["sessions"], color="tab:green")
        ax.invert_yaxis()
        for y, (n, share) in enumerate(zip(steps["sessions"], steps["share_of_first"], strict=True)):
            ax.annotate(f"{n:,} ({share:.0%})" if share == share else f"{n:,}", (n, y),
                        xytext=(3, 0), textcoords="offset points", va="center", fontsize="small")
        ax.set_title(f"{name} funnel (sessions)")
    return fig


def ranking_plot(metrics: pd.DataFrame, stage: str) -> Figure:
    """Grouped bars of the top-k metrics (columns with '@') of each model of one stage."""
    rows = metrics[metrics["stage"] == stage]
    names = [c for c in rows.columns if "@" in c and rows[c].notna().any()]
    fig = Figure(figsize=WIDE, layout="constrained")
    ax = fig.subplots()
    labels = [f"{m} ({s})" if rows["model"].duplicated(keep=False).any() else m
              for m, s in zip(rows["model"], rows["split"], strict=True)]
    width = 0.8 / max(len(rows), 1)
    x = np.arange(len(names))
    for i, (label, (_, row)) in enumerate(zip(labels, rows.iterrows(), strict=True)):
        ax.bar(x + i * width - 0.4 + width / 2, [row[n] for n in names], width, label=label)
    ax.set_xticks(x, names)
    ax.set_ylim(0, 1)
    ax.set_title(f"{stage}: model against baselines ({rows['run_date'].iloc[0]})")
    ax.legend(fontsize="small")
    return fig


def calibration_plot(bins: pd.DataFrame, summary: pd.DataFrame) -> Figure:
    """Reliability diagram: observed response rate against mean predicted probability per bin,
    one line per model (marker area ~ bin size), with the diagonal of perfect calibration."""
    fig = Figure(figsize=(5.5, 5.0), layout="constrained")
    ax = fig.subplots()
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", label="perfectly calibrated")
    auc = dict(zip(summary["model"], summary.get("auc_roc", pd.Series(dtype=float)), strict=False))
    for model in summary["model"]:
        rows = bins[bins["model"] == model].sort_values("mean_predicted")
        if rows.empty:
            continue
        size = 20 + 200 * rows["count"].fillna(0) / max(float(rows["count"].fillna(0).max()), 1.0)
        label = f"{model} (AUC {auc[model]:.3f})" if model in auc else model
        line = ax.plot(rows["mean_predicted"], rows["observed_rate"], label=label)[0]
        ax.scatter(rows["mean_predicted"], rows["observed_rate"], s=size, color=line.get_color())
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("mean predicted probability")
    ax.set_ylabel("observed response rate")
    ax.set_title("Response model calibration")
    ax.legend(fontsize="small", loc="upper left")
    return fig


def posterior_plot(arms: pd.DataFrame, max_contexts: int = 12) -> Figure:
    """One panel per context: each arm's posterior mean with its credible interval."""
    contexts = list(dict.fromkeys(arms["context"]))[:max_contexts]
    fig, axes = _grid(len(contexts), 3, (4.0, 3.2))
    for ax, context in zip(axes, contexts, strict=True):
        rows = arms[arms["context"] == context].sort_values("promotion_id")
        mean = rows["posterior_mean"].to_numpy()
        err = np.vstack([mean - rows["ci_lower"].to_numpy(), rows["ci_upper"].to_numpy() - mean])
        ax.errorbar(mean, np.arange(len(rows)), xerr=np.clip(err, 0, None), fmt="o", capsize=3)
        ax.set_yticks(np.arange(len(rows)), rows["promotion_id"], fontsize="small")
        ax.invert_yaxis()
        ax.set_xlim(0, max(0.05, float(rows["ci_upper"].max()) * 1.1))
        ax.set_title(f"context {context}", fontsize="medium")
        ax.set_xlabel("P(response): mean, 95% CI", fontsize="small")
    return fig


def loop_plot(curves: pd.DataFrame) -> Figure:
    """Cumulative expected reward and cumulative regret per policy against the loop day."""
    fig = Figure(figsize=WIDE, layout="constrained")
    reward_ax, regret_ax = fig.subplots(1, 2)
    for policy, rows in curves.groupby("policy", sort=True):
        rows = rows.sort_values("loop_day")
        reward_ax.plot(rows["loop_day"], rows["cumulative_reward"], marker="o", label=policy)
        regret_ax.plot(rows["loop_day"], rows["cumulative_regret"], marker="o", label=policy)
    reward_ax.set_title("Cumulative expected reward")
    regret_ax.set_title("Cumulative regret (oracle - policy)")
    for ax in (reward_ax, regret_ax):
        ax.set_xlabel("loop day")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.legend(fontsize="small")
    return fig


def ope_plot(estimates: pd.DataFrame) -> Figure:
    """One panel per dataset: each policy's estimates per estimator with 95% CIs, and the true
    value where the data are simulated."""
    datasets = list(dict.fromkeys(estimates["dataset"]))
    fig, axes = _grid(len(datasets), 2, (5.0, 3.5))
    for ax, dataset in zip(axes, datasets, strict=True):
        rows = estimates[estimates["dataset"] == dataset]
        policies = sorted(set(rows["policy"]))
        estimators = sorted(set(rows["estimator"]))
        width = 0.8 / max(len(estimators), 1)
        for j, estimator in enumerate(estimators):
            part = rows[rows["estimator"] == estimator].set_index("policy").reindex(policies)
            x = np.arange(len(policies)) + j * width - 0.4 + width / 2
            err = np.vstack([part["estimate"] - part["ci_lower"], part["ci_upper"] - part["estimate"]])
            ax.errorbar(x, part["estimate"], yerr=np.clip(np.nan_to_num(err), 0, None), fmt="o",
                        capsize=3, label=estimator)
        truth = rows.dropna(subset=["true_value"]).groupby("policy")["true_value"].first()
        for n, policy in enumerate(p for p in policies if p in truth.index):
            i = policies.index(policy)
            ax.hlines(truth[policy], i - 0.45, i + 0.45, colors="black", linestyles=":",
                      label="true value" if n == 0 else None)
        ax.set_xticks(np.arange(len(policies)), policies)
        ax.set_title(f"{dataset}: policy value (95% CI)")
        ax.legend(fontsize="small")
    return fig


def readout_plot(readout: pd.DataFrame) -> Figure:
    """One panel per metric: the uplift (treated - control) with its CI per dimension value,
    the overall row first; a zero line."""
    metrics = list(dict.fromkeys(readout["metric"]))
    fig, axes = _grid(len(metrics), 3, (4.5, 3.5))
    for ax, metric in zip(axes, metrics, strict=True):
        rows = readout[(readout["metric"] == metric) & readout["uplift"].notna()]
        labels = [v if d == "all" else f"{d}:{v}" for d, v in zip(rows["dimension"], rows["dim_value"],
                                                                   strict=True)]
        y = np.arange(len(rows))[::-1]
        err = np.vstack([rows["uplift"] - rows["ci_low"], rows["ci_high"] - rows["uplift"]])
        ax.errorbar(rows["uplift"], y, xerr=np.clip(np.nan_to_num(err), 0, None), fmt="o", capsize=3)
        ax.axvline(0.0, color="black", linewidth=0.8, linestyle=":")
        ax.set_yticks(y, labels, fontsize="small")
        ax.set_title(f"{metric}: uplift (CI)")
    return fig


def monitor_plot(trend: pd.DataFrame) -> Figure:
    """One panel per monitored figure: its value per run date, its threshold dashed, flagged
    days in red."""
    metrics = list(dict.fromkeys(trend["metric"]))
    fig, axes = _grid(len(metrics), 3, (4.0, 3.0))
    for ax, metric in zip(axes, metrics, strict=True):
        rows = trend[trend["metric"] == metric]
        ax.plot(rows["run_date"], rows["value"], marker="o")
        flagged = rows[rows["flagged"].fillna(False).astype(bool)]
        ax.plot(flagged["run_date"], flagged["value"], "o", color="red")
        limits = rows["threshold"].dropna()
        if len(limits):
            ax.axhline(float(limits.iloc[-1]), color="grey", linestyle="--", linewidth=0.8)
        ax.set_title(metric)
        ax.tick_params(axis="x", labelrotation=45, labelsize="small")
    return fig
