"""Inputs that go wrong as whole files or odd lines each get a reason, never a traceback; with
pseudonymization on, the quarantine holds no user id in clear."""
from __future__ import annotations

import gzip
import random
import re

import pytest
from pyspark.sql import functions as F

from recsys_spark.clean.privacy import hmac_hex
from recsys_spark.settings.clean import PrivacyConfig, QualityConfig
from tests.clean.helpers import (
    RUN_DATE,
    event,
    landing_day,
    line,
    read_table,
    run_clean,
    with_clean,
    write_lines,
)
from tests.factories import make_config

KEY = "a-test-key-of-32-bytes-----------"
LENIENT = QualityConfig(max_quarantine_share=1.0, min_uniqueness=0.0,
                        min_completeness={"event_id": 0.0})


@pytest.mark.stage
def test_bad_files_and_lines_each_get_a_reason(spark, tmp_path):
    config = with_clean(make_config(tmp_path), quality=LENIENT)
    day = landing_day(config)
    write_lines(day / "a-good.jsonl.gz", [line(event(n)) for n in range(3)])
    # A gzip cut short in transfer: the lines before the cut are read, the rest is lost.
    whole = gzip.compress(b"".join(line(event(100 + n)).encode() + b"\n" for n in range(400)))
    (day / "b-truncated.jsonl.gz").write_bytes(whole[: len(whole) * 2 // 3])
    (day / "c-not-gzip.jsonl.gz").write_bytes(b"PK\x03\x04 a zip archive, not gzip")
    rng = random.Random(7)
    (day / "d-binary.jsonl").write_bytes(bytes(rng.randrange(256) for _ in range(3000)))
    huge = {**event(200), "blob": "x" * (5 * 1024 * 1024)}
    nested = {**event(201), "user_id": {"id": 7, "tier": "gold"}}
    twice = line(event(202)).replace('{"event_id":', '{"event_id":"e-other","event_id":', 1)
    write_lines(day / "e-odd-lines.jsonl.gz", [line(huge), line(nested), twice])
    report = run_clean(spark, config)

    q = {(r["source_file"].rsplit("/", 1)[-1], r["line_number"]): r for r in
         read_table(spark, config, "events_quarantine").collect()}
    truncated = q.pop(("b-truncated.jsonl.gz", None))
    lines_read = int(re.search(r"after (\d+) lines read", truncated["detail"])[1])
    assert truncated["reasons"] == ["truncated_file"] and 0 < lines_read < 400
    assert q.pop(("c-not-gzip.jsonl.gz", None))["reasons"] == ["malformed_record"]
    oversized = q.pop(("e-odd-lines.jsonl.gz", 1))
    assert oversized["reasons"] == ["size_violation"] and len(oversized["raw_record"]) == 65_536
    assert oversized["detail"] == f"raw record of {len(line(huge))} bytes; its first 65536 " \
                                  "characters are kept"
    nested_row = q.pop(("e-odd-lines.jsonl.gz", 2))
    assert (nested_row["reasons"], nested_row["detail"]) == (["bad_type"], "nested JSON in user_id")
    assert q.pop(("e-odd-lines.jsonl.gz", 3))["reasons"] == ["malformed_record"]  # a key twice
    binary = {k: r for k, r in q.items() if k[0] == "d-binary.jsonl"}
    assert binary and all("malformed_record" in r["reasons"] for r in binary.values())
    truncated_lines = {k: r for k, r in q.items() if k[0] == "b-truncated.jsonl.gz"}
    assert set(q) == set(binary) | set(truncated_lines)  # at most the line cut in half

    # Every line of the cut file that was read is accounted for: clean or quarantined.
    events_df = read_table(spark, config, "events")
    from_cut = events_df.where(F.col("source_file").endswith("b-truncated.jsonl.gz")).count()
    assert from_cut + len(truncated_lines) == lines_read
    m = report.metrics
    assert (m["truncated_files"], m["unreadable_files"], m["quarantined_truncated_file"]) == (1, 1, 1)
    assert m["records_in"] == m["clean"] + m["quarantined"] + m["duplicates"]


@pytest.mark.stage
def test_a_csv_with_another_header_is_quarantined_whole(spark, tmp_path):
    config = with_clean(make_config(tmp_path), quality=LENIENT)
    path = tmp_path / "rees46" / "renamed.csv"
    write_lines(path, ["time,type,product,category,code,brand,price,user,session",
                       "2026-11-02 10:00:00 UTC,view,1,2,a.b,acme,9.5,7,s1",
                       "2026-11-02 10:01:00 UTC,view,1,2,a.b,acme,9.5,7,s1x"], gz=False)
    run_clean(spark, config, RUN_DATE, source="rees46", input_path=str(path))
    got = sorted((r["line_number"], r["reasons"]) for r in
                 read_table(spark, config, "events_quarantine").collect())
    assert got == [(1, ["bad_header"]), (2, ["bad_header"]), (3, ["bad_header"])]


@pytest.mark.stage
@pytest.mark.parametrize("mode", ["pseudonymize", "drop"])
def test_quarantined_raw_text_holds_no_user_id_in_clear(spark, tmp_path, monkeypatch, mode):
    monkeypatch.setenv("RECSYS_HMAC_KEY", KEY)
    config = with_clean(make_config(tmp_path), quality=LENIENT, privacy=PrivacyConfig(
        pseudonymize_users=True, quarantine_raw=mode))
    rejected = line(event(1, user_id="u-secret-1", event_type="teleport"))
    renamed = line({**{k: v for k, v in event(2).items() if k != "user_id"},
                    "userId": "u-secret-2", "event_type": "teleport"})
    cut = line(event(3, user_id="u-secret-3"))[:120]          # a truncated line, id inside
    write_lines(landing_day(config) / "p.jsonl.gz", [line(event(0)), rejected, renamed, cut])
    run_clean(spark, config)
    raw = {r["line_number"]: r["raw_record"] for r in
           read_table(spark, config, "events_quarantine").collect()}
    if mode == "drop":
        assert raw == {2: None, 3: None, 4: None}
        return
    assert raw[2] == rejected.replace("u-secret-1", hmac_hex("u-secret-1", KEY.encode()))
    assert raw[3] == renamed.replace("u-secret-2", hmac_hex("u-secret-2", KEY.encode()))
    assert "u-secret" not in (raw[4] or "")
