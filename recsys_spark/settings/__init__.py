"""Typed settings, one module per config section (core: warehouse, landing, spark, run; then one
per stage and the simulator). Plain frozen dataclasses that import nothing from the stages, so
``config``, ``tables`` and every stage can depend on them without cycles."""
