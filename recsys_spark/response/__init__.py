"""The response stage: a calibrated P(user responds to promotion) model and its scores.

labels -> training_features / feature_set (point in time) -> model (+ calibration) -> metrics,
and scoring of every eligible (user, active promotion) pair. ``stage.run_response`` is the
stage function; settings.ResponseConfig is its configuration section.
"""
