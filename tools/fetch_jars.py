"""Fetch the pinned JVM artifacts of jars.lock into .jars/ and check their SHA-256.

    python tools/fetch_jars.py [--lock jars.lock] [--dest .jars]

Uses the machine's Maven client (`mvn dependency:copy`), so a ~/.m2/settings.xml mirror or proxy
applies. A jar already present with the right checksum is not fetched again. Exit codes: 0 every
jar present and verified; 1 a checksum mismatch (the file is removed); 2 Maven missing or an
artifact not served. Standard library only: it runs before the project's venv exists.
"""
from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

# The lock's format and the checksum are recsys_spark.delta_jars' (standard library only): the
# package root goes on the path, as this runs before the project is installed.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from recsys_spark.delta_jars import read_lock, sha256  # noqa: E402


def fetch(coordinate: str, dest: Path) -> None:
    """Copy one artifact (no transitive dependencies) into ``dest`` with Maven."""
    mvn = shutil.which("mvn")
    if mvn is None:
        raise SystemExit(2)
    command = [mvn, "-q", "-B", "dependency:copy", f"-Dartifact={coordinate}",
               f"-DoutputDirectory={dest}"]
    result = subprocess.run(command, capture_output=True, text=True, cwd=dest)
    if result.returncode != 0:
        detail = " ".join(line.strip() for line in result.stdout.splitlines()
                          if "ERROR" in line)[:400]
        print(f"fetch_jars: Maven could not fetch {coordinate}: {detail}", file=sys.stderr)
        raise SystemExit(2)


def main(argv: list[str] | None = None) -> int:
    root = Path(__file__).resolve().parent.parent
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lock", type=Path, default=root / "jars.lock")
    parser.add_argument("--dest", type=Path, default=root / ".jars")
    args = parser.parse_args(argv)
    args.dest = args.dest.resolve()  # Maven runs inside it: a relative path would nest
    args.dest.mkdir(parents=True, exist_ok=True)
    try:
        pins = read_lock(args.lock)
    except ValueError as exc:
        print(f"fetch_jars: {exc}", file=sys.stderr)
        return 2
    # every pinned jar is fetched whatever its purpose (session classpath or a test's)
    for pin in pins:
        coordinate, expected = pin.coordinate, pin.sha256
        target = args.dest / pin.file_name
        if target.is_file() and sha256(target) == expected:
            continue
        if shutil.which("mvn") is None:
            print("fetch_jars: Maven (mvn) is not installed; the native Delta backend stays off "
                  "(warehouse.backend auto uses delta-rs)", file=sys.stderr)
            return 2
        fetch(coordinate, args.dest)
        actual = sha256(target) if target.is_file() else "missing"
        if actual != expected:
            target.unlink(missing_ok=True)
            print(f"fetch_jars: {coordinate}: SHA-256 {actual} does not match jars.lock {expected}",
                  file=sys.stderr)
            return 1
        print(f"fetch_jars: {target.name} fetched and verified", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
