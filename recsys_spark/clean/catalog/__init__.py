"""The dimension tables `items`, `users` and `promotions`, from three places:

- a shop's catalog files, imported with `recsys catalog import` (importer.py: files.py reads
  CSV, JSON Lines or Parquet, contract.py says which columns a file has, rules.py validates
  each record);
- the catalog snapshot a feed lands beside the events (snapshot.py, read by `clean`);
- where no catalog exists, derived by `clean` from the logs (derived.py; the Open Bandit
  adapter adds its arms).

Every path ends in :func:`recsys_spark.clean.publish.write_dims`, the one place a dimension is
written (and a later date's state is never rolled back).
"""
