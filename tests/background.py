"""Whole-pipeline runs started in the background and shared by every pytest process.

The e2e, loop, report and cluster tests need two whole `recsys run`s (local mode and a
standalone cluster). They start as soon as the suite is collected and run while the other tests
do. A run's folder is claimed with an atomic mkdir, so only one process starts it even when
several collect the suite (pytest-xdist `-n`; measured 2026-11-23: no faster on 2 cores, the
suite keeps both cores busy already). A waiter thread writes the exit code to the folder when
the run ends, after stopping the cluster so its cores come back at once; readers poll for it.
The folder root is made once per test session (RECSYS_TEST_RUNS_DIR, inherited by xdist
workers) and removed after a passing session.
"""
from __future__ import annotations

import os
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

RUNS_DIR_ENV = "RECSYS_TEST_RUNS_DIR"
RETURNCODE_FILE = "returncode"


@dataclass
class PipelineRun:
    """A finished `recsys run` in a subprocess: its folders and what it printed."""

    root: Path
    warehouse: Path
    landing: Path
    returncode: int
    stdout: str
    stderr: str


class BackgroundRun:
    """A command running in ``root`` whose exit code lands in ``root/returncode`` when it ends."""

    def __init__(self, root: Path, command: list[str], cleanup: Callable[[], None] | None = None,
                 env: dict[str, str] | None = None) -> None:
        self.root = root
        self._cleanup = cleanup
        with open(root / "stdout.txt", "w") as out, open(root / "stderr.txt", "w") as err:
            self.process = subprocess.Popen(command, cwd=Path(__file__).resolve().parents[1],
                                            stdout=out, stderr=err, text=True, env=env)
        self._waiter = threading.Thread(target=self._wait, name=f"wait-{root.name}", daemon=True)
        self._waiter.start()

    def _wait(self) -> None:
        code = self.process.wait()
        try:
            if self._cleanup is not None:
                self._cleanup()
        finally:
            # written last and renamed into place: readers never see half a file
            partial = self.root / f".{RETURNCODE_FILE}"
            partial.write_text(str(code))
            partial.rename(self.root / RETURNCODE_FILE)

    def finish(self, kill: bool, timeout: float = 2400) -> None:
        """Wait for the run (other workers may still need it), or kill it when interrupted."""
        if kill and self.process.poll() is None:
            self.process.kill()
        self._waiter.join(timeout)


def claim(name: str) -> Path | None:
    """The run's folder if this process is the first to ask for it, else None."""
    folder = Path(os.environ[RUNS_DIR_ENV]) / name
    try:
        folder.mkdir()
    except FileExistsError:
        return None
    return folder


def wait_for(name: str, timeout: float = 2400) -> PipelineRun:
    """The finished run ``name``, whichever process started it."""
    root = Path(os.environ[RUNS_DIR_ENV]) / name
    deadline = time.time() + timeout
    while not (root / RETURNCODE_FILE).exists():
        if time.time() > deadline:
            raise TimeoutError(f"the background {name} pipeline run did not end in {timeout:.0f} s")
        time.sleep(1.0)
    return PipelineRun(root, root / "warehouse", root / "landing",
                       int((root / RETURNCODE_FILE).read_text()),
                       (root / "stdout.txt").read_text(), (root / "stderr.txt").read_text())
