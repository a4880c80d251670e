"""The clean stage: raw event logs (JSONL, REES46 CSV, Open Bandit CSV) -> Delta `events`,
`events_quarantine` and the dimension tables, with validation rules, deduplication and
data-quality gates. Entry point: :func:`recsys_spark.clean.stage.run_clean`."""
