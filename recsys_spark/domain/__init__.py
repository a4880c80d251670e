"""The project's shared vocabulary, defined once: event types, promotion activity and budget,
category levels and model names. Pure constants and Column/DataFrame functions, imported by
settings, stages and reports alike (a second copy drifts)."""
