"""One of two racing writer processes (tests/foundation/test_tables.py).

    python -m tests.foundation.race_writer NAME ROW_ID TXN_VERSION BACKEND=ROOT=BARRIER ...

For each race (one per backend, one JVM for all: starting it is most of the cost), overwrites
partition day=2026-01-03 of table ``t`` under ROOT with one row. The row passes through a UDF
that waits at the race's file barrier until both writers have reached it: by then each has read
the table (delta-rs: our snapshot; native: delta-spark's transaction) and is computing its data,
so both commit against the same version. Prints ``BACKEND won`` or ``BACKEND lost <error>``.
"""
from __future__ import annotations

import datetime as dt
import sys
import tempfile
import time
from pathlib import Path

from pyspark.sql import functions as F
from pyspark.sql.types import LongType

from recsys_spark.errors import ConcurrentWriteError
from recsys_spark.settings.core import SparkConfig, WarehouseConfig
from recsys_spark.spark import build_spark_session
from recsys_spark.tables import CommitInfo, TableStore, TxnId

WRITERS = 2
BARRIER_TIMEOUT_S = 240


def wait_at_barrier(barrier: Path, name: str) -> None:
    (barrier / f"{name}.ready").touch()
    deadline = time.monotonic() + BARRIER_TIMEOUT_S
    while len(list(barrier.glob("*.ready"))) < WRITERS:
        if time.monotonic() > deadline:
            raise TimeoutError(f"writer {name}: the other writer never reached the barrier")
        time.sleep(0.05)


def race(spark, backend: str, root: str, barrier: Path, name: str, row_id: int,
         txn_version: int) -> str:
    store = TableStore(spark, WarehouseConfig(root=root, backend=backend))  # type: ignore[arg-type]

    @F.udf(LongType())
    def at_barrier(value: int) -> int:  # runs in the executor, inside the write
        wait_at_barrier(barrier, name)
        return value

    df = spark.createDataFrame([(row_id, name, 1.0, None, dt.date(2026, 1, 3))],
                               "id long, name string, amount double, ts timestamp, day date")
    try:
        store.write(df.withColumn("id", at_barrier("id")), "t", "overwrite",
                    CommitInfo(run_id=f"run-{name}", stage="test"),
                    replace_partitions={"day": ["2026-01-03"]},
                    txn=TxnId("t/test/2026-01-03", txn_version))
        return "won"
    except ConcurrentWriteError as exc:
        print(exc, file=sys.stderr)
        return "lost ConcurrentWriteError"
    except Exception as exc:  # reported to the test, which shows it
        return f"lost {type(exc).__name__}: {str(exc).splitlines()[0][:300]}"


def main(argv: list[str]) -> int:
    name, row_id, txn_version, *races = argv
    scratch = tempfile.mkdtemp(prefix=f"race-{name}-")
    spark = build_spark_session(
        SparkConfig(master="local[1]", shuffle_partitions=1, driver_memory="1g",
                    extra={"spark.local.dir": scratch, "spark.sql.adaptive.enabled": "false"}),
        f"race-{name}", scratch, delta_backend="native")
    try:
        for spec in races:
            backend, root, barrier = spec.split("=", 2)
            outcome = race(spark, backend, root, Path(barrier), name, int(row_id), int(txn_version))
            print(f"{backend} {outcome}", flush=True)
    finally:
        spark.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
