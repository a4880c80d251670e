"""Where a stage's time goes: how many Spark jobs it ran and, with ``--profile``, each job's wall
time, tasks and rows.

Every stage run counts its Spark jobs (``spark_jobs`` in its `pipeline_runs` metrics): on
small data a stage's time is mostly a fixed cost per job (scheduling, a Delta log replay, a
commit), so the count is the first figure to look at. ``--profile`` (``recsys <stage>
--profile``, ``recsys run --profile``) turns the driver's UI on at 127.0.0.1 and, after each
stage, logs one line per job to the ``recsys_spark.profile`` logger: job id, seconds, tasks,
rows read / shuffled / written, and the call site that started it. The figures come from the
UI's REST API (``/api/v1/applications/<id>/jobs`` and ``/stages``), the same numbers the
Spark UI shows.

Spark-Connect safety: this is the one library module that touches ``sparkContext`` (the status
tracker and the UI address exist only in a classic driver). Anywhere they are missing (Spark
Connect, UI off) the count is None and the profile is empty; nothing fails.
"""
from __future__ import annotations

import datetime as dt
import json
import logging
import time
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from pyspark.sql import SparkSession

log = logging.getLogger(__name__)
profile_log = logging.getLogger("recsys_spark.profile")

PROFILE_CONF = "spark.recsys.profile"
# The UI keeps 1000 jobs by default; a whole `recsys run` can start more than that.
RETAINED = "100000"
# The status store is updated by a listener thread: give it this long to see the last job end.
_SETTLE_SECONDS = 5.0


def profile_settings() -> dict[str, str]:
    """Session settings for ``--profile``: the UI (and its REST API) on, bound to 127.0.0.1,
    keeping every job of the run."""
    return {"spark.ui.enabled": "true", "spark.driver.bindAddress": "127.0.0.1",
            "spark.driver.host": "127.0.0.1", PROFILE_CONF: "true",
            "spark.ui.retainedJobs": RETAINED, "spark.ui.retainedStages": RETAINED,
            "spark.sql.ui.retainedExecutions": RETAINED}


@dataclass(frozen=True)
class JobStat:
    """One finished Spark job."""

    job_id: int
    call_site: str
    seconds: float
    tasks: int
    stages: int
    input_rows: int
    shuffle_rows: int
    output_rows: int
    status: str


@dataclass
class JobLog:
    """The jobs a block of code started: ``count`` always (None without a status tracker),
    ``jobs`` when profiling is on."""

    count: int | None = None
    jobs: list[JobStat] = field(default_factory=list)

    @property
    def job_seconds(self) -> float:
        return sum(j.seconds for j in self.jobs)


def _context(spark: SparkSession) -> Any | None:
    try:
        return spark.sparkContext
    except Exception:  # Spark Connect has no SparkContext
        return None


def _newest_job_id(spark: SparkSession) -> int | None:
    """The highest job id the status tracker knows (-1 before any job); job ids are assigned in
    order, so the difference of two readings is the number of jobs started in between."""
    sc = _context(spark)
    if sc is None:
        return None
    tracker = sc.statusTracker()
    ids = list(tracker.getJobIdsForGroup(None)) + list(tracker.getActiveJobsIds())
    return max(ids, default=-1)


def is_profiling(spark: SparkSession) -> bool:
    try:
        return spark.conf.get(PROFILE_CONF, "false") == "true"
    except Exception:
        return False


@contextmanager
def job_log(spark: SparkSession) -> Iterator[JobLog]:
    """Count (and, when profiling, describe) the Spark jobs started inside the block."""
    result = JobLog()
    first = _newest_job_id(spark)
    try:
        yield result
    finally:
        last = _newest_job_id(spark)
        if first is not None and last is not None:
            result.count = last - first
            if is_profiling(spark) and result.count:
                result.jobs = _fetch_jobs(spark, first + 1, last)


def _get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=30) as response:  # noqa: S310 (our own driver UI)
        return json.load(response)


def _seconds(job: Mapping[str, Any]) -> float:
    def parse(text: str) -> dt.datetime:
        return dt.datetime.strptime(text.replace("GMT", "+0000"), "%Y-%m-%dT%H:%M:%S.%f%z")

    if not job.get("submissionTime") or not job.get("completionTime"):
        return 0.0
    return (parse(job["completionTime"]) - parse(job["submissionTime"])).total_seconds()


def _fetch_jobs(spark: SparkSession, first_id: int, last_id: int) -> list[JobStat]:
    """Jobs ``first_id..last_id`` from the UI's REST API ([] when the UI is off or unreachable)."""
    sc = _context(spark)
    url = getattr(sc, "uiWebUrl", None) if sc is not None else None
    if not url:
        return []
    base = f"{url}/api/v1/applications/{sc.applicationId}"
    try:
        deadline = time.time() + _SETTLE_SECONDS
        while True:
            jobs = [j for j in _get(f"{base}/jobs") if first_id <= j["jobId"] <= last_id]
            if all(j["status"] != "RUNNING" for j in jobs) or time.time() > deadline:
                break
            time.sleep(0.2)
        stages = {s["stageId"]: s for s in _get(f"{base}/stages")
                  if s.get("status") != "SKIPPED"}
    except OSError as exc:
        log.warning("profile: the Spark UI at %s did not answer (%s)", url, exc)
        return []
    out = []
    for job in sorted(jobs, key=lambda j: j["jobId"]):
        ran = [stages[i] for i in job.get("stageIds", []) if i in stages]
        out.append(JobStat(
            job_id=job["jobId"], call_site=str(job.get("name", "")), seconds=_seconds(job),
            tasks=sum(int(s.get("numTasks", 0)) for s in ran), stages=len(ran),
            input_rows=sum(int(s.get("inputRecords", 0)) for s in ran),
            shuffle_rows=sum(int(s.get("shuffleWriteRecords", 0)) for s in ran),
            output_rows=sum(int(s.get("outputRecords", 0)) for s in ran),
            status=str(job.get("status", ""))))
    return out


def format_profile(title: str, wall_seconds: float, jobs: JobLog, top: int = 25) -> str:
    """A readable profile: totals, the jobs grouped by call site (most time first), and the
    ``top`` slowest jobs."""
    lines = [f"profile {title}: {wall_seconds:.1f} s wall, {jobs.count} Spark jobs, "
             f"{jobs.job_seconds:.1f} s inside jobs"]
    if not jobs.jobs:
        lines.append("  (no job details: the Spark UI is off; run with --profile)")
        return "\n".join(lines)
    by_site: dict[str, list[JobStat]] = {}
    for job in jobs.jobs:
        by_site.setdefault(job.call_site, []).append(job)
    lines.append(f"  {'seconds':>8} {'jobs':>5} {'tasks':>6} {'rows in':>12} {'shuffled':>12} "
                 f"{'written':>10}  call site")
    for site, group in sorted(by_site.items(), key=lambda kv: -sum(j.seconds for j in kv[1])):
        lines.append(_row(sum(j.seconds for j in group), str(len(group)), group, site))
    lines.append(f"  slowest jobs (of {len(jobs.jobs)}):")
    for job in sorted(jobs.jobs, key=lambda j: -j.seconds)[:top]:
        lines.append(_row(job.seconds, f"#{job.job_id}", [job], job.call_site))
    return "\n".join(lines)


def _row(seconds: float, label: str, group: Sequence[JobStat], site: str) -> str:
    return (f"  {seconds:8.2f} {label:>5} {sum(j.tasks for j in group):6d} "
            f"{sum(j.input_rows for j in group):12,d} {sum(j.shuffle_rows for j in group):12,d} "
            f"{sum(j.output_rows for j in group):10,d}  {site}")
