"""The `als` stage: implicit-feedback MLlib ALS factors, candidate-restricted top-N, evaluation.

Modules: confidence (events -> ratings), id_mapping (string ids -> ALS
ints), train (fit and save), recommend (top-N, cold start, category affinity), evaluate
(chronological split, ranking metrics, tuning), stage (the stage function).
Settings: recsys_spark.settings.als.AlsConfig.
"""
