"""Driver memory measurement shared by the benchmarks: RSS of a process tree, sampled.

In Spark local mode the driver JVM also runs the executors, so its peak RSS is the peak memory of
the whole job; the Python driver is measured separately (it holds only small, aggregated data).
"""
from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field


def _children_by_parent() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/stat") as fh:
                parent = int(fh.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue  # the process ended while we looked
        tree.setdefault(parent, []).append(int(pid))
    return tree


def process_tree(root_pid: int) -> list[int]:
    """``root_pid`` and all its descendants."""
    tree = _children_by_parent()
    found, todo = [], [root_pid]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(tree.get(pid, []))
    return found


def _status_mb(pid: int, key: str) -> float | None:
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith(key):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        return None
    return None


def _is_java(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            return b"java" in fh.read().split(b"\0")[0]
    except OSError:
        return False


def jvm_peak_rss_mb(root_pid: int | None = None) -> float | None:
    """Peak RSS (VmHWM) of the first JVM under ``root_pid`` (default: this process), or None."""
    for pid in process_tree(root_pid or os.getpid()):
        if pid != (root_pid or os.getpid()) and _is_java(pid):
            return _status_mb(pid, "VmHWM:")
    return None


@dataclass
class RssSampler:
    """Samples the RSS of a process tree every ``interval`` seconds in a background thread.

    ``samples`` holds (unix time, python MB, jvm MB): python = the non-Java processes of the tree,
    jvm = the Java ones. Use ``peak_between(t0, t1)`` to attribute peaks to a stage's interval.
    """

    root_pid: int
    interval: float = 0.5
    samples: list[tuple[float, float, float]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> RssSampler:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            python_mb = jvm_mb = 0.0
            for pid in process_tree(self.root_pid):
                rss = _status_mb(pid, "VmRSS:") or 0.0
                if _is_java(pid):
                    jvm_mb += rss
                else:
                    python_mb += rss
            self.samples.append((time.time(), python_mb, jvm_mb))
            self._stop.wait(self.interval)

    def peak_between(self, start: float, end: float) -> tuple[float, float]:
        """Max (python MB, jvm MB) sampled in [start, end]; (0, 0) when nothing was sampled."""
        inside = [(p, j) for t, p, j in self.samples if start <= t <= end]
        if not inside:
            return 0.0, 0.0
        return max(p for p, _ in inside), max(j for _, j in inside)
