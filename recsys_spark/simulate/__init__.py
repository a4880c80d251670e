"""The seeded shop simulator: a synthetic world, its raw logs with dirt, ground truth, and a
closed-loop responder. See docs/raw_events.md for what it writes."""
from __future__ import annotations

from recsys_spark.settings.simulate import PRESETS, DirtRates, SimulateSection, SimulatorConfig
from recsys_spark.simulate.api import SimulationSummary, generate, respond
from recsys_spark.simulate.truth import SimulatorError, read_truth, read_world, truth_uri

__all__ = ["PRESETS", "DirtRates", "SimulateSection", "SimulationSummary", "SimulatorConfig",
           "SimulatorError", "generate", "read_truth", "read_world", "respond", "truth_uri"]
