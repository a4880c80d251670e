"""The A/B readout of the promotion policy: holdout (control) vs treated users over a window."""
