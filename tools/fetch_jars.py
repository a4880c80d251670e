"""Fetch the pinned JVM artifacts of jars.lock into .jars/ and check their SHA-256.

    python tools/fetch_jars.py [--lock jars.lock] [--dest .jars]

Uses the machine's Maven client (`mvn dependency:copy`), so a ~/.m2/settings.xml mirror or proxy
applies. A jar already present with the right checksum is not fetched again. Exit codes: 0 every
jar present and verified; 1 a checksum mismatch (the file is removed); 2 Maven missing or an
artifact not served. Standard library only: it runs before the project's venv exists.
"""
from __future__ import annotations

import argparse
import hashlib
import shutil
import subprocess
import sys
from pathlib import Path


def read_lock(path: Path) -> list[tuple[str, str]]:
    """(group:artifact:version, sha256) per non-comment line. A line may end with a purpose
    (``session`` when absent: on the Spark classpath; e.g. ``hdfs-test`` for a test-only jar),
    read by recsys_spark/delta_jars.py; every pinned jar is fetched whatever its purpose."""
    pins = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.split()
        if len(parts) not in (2, 3) or parts[0].count(":") != 2 or len(parts[1]) != 64:
            raise SystemExit(f"fetch_jars: {path}:{number}: expected "
                             "'group:artifact:version sha256 [purpose]'")
        pins.append((parts[0], parts[1].lower()))
    return pins


def jar_name(coordinate: str) -> str:
    _, artifact, version = coordinate.split(":")
    return f"{artifact}-{version}.jar"


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


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
    for coordinate, expected in read_lock(args.lock):
        target = args.dest / jar_name(coordinate)
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
