"""The loop's plot: cumulative regret per policy against the loop day (a PNG, matplotlib Agg)."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any


def plot_cumulative_regret(rows_by_policy: Mapping[str, Sequence[Mapping[str, Any]]], path: str | Path,
                           title: str = "Closed loop: cumulative regret against the oracle") -> Path:
    """Write a line chart of ``cumulative_regret`` by ``loop_day``, one line per policy.

    Returns:
        The path written (parent folders are created).
    """
    import matplotlib

    matplotlib.use("Agg")  # no display: render straight to the file
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(7, 4.5))
    try:
        for policy, rows in rows_by_policy.items():
            days = [0] + [int(r["loop_day"]) for r in rows]
            regret = [0.0] + [float(r["cumulative_regret"]) for r in rows]
            ax.plot(days, regret, marker="o", label=policy)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("loop day")
        ax.set_ylabel("cumulative regret (expected redemptions)")
        ax.set_title(title)
        ax.grid(True, alpha=0.3)
        ax.legend()
        fig.tight_layout()
        fig.savefig(out, dpi=110)
    finally:
        plt.close(fig)
    return out
