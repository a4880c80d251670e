"""How every published ranking is chosen and measured (items for a user, categories for a user,
neighbours of an item).

Shared by the features, similarity and als stages, which may not import each other: the
chronological windows (windows.py), the metrics (metrics.py), the candidates with one interface
(candidate.py; baselines in baselines.py, models in cooccurrence.py and key_als.py), the learned
blend (blend.py) and the selection protocol that fits on train, chooses on validation, reports
on test and publishes the winner refitted on everything (selection.py). docs/rankings.md
describes the method.
"""
