"""The closed loop (`recsys simulate-loop`): the pipeline day after day, with the simulator
responding to the promotions each bandit policy chose; regret against the simulator's oracle.

Modules: options (what to run, validated before Spark), workspace (the warm-up and per-policy
folders), measure (rewards and regret from the ground truth), budget_spend (spend against
budget per promotion from the ground truth), runner (the loop itself), plot.
"""
from __future__ import annotations
