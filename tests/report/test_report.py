"""`recsys report` on a hand-made warehouse: every section, every image, exact figures."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from pandas.testing import assert_frame_equal

from recsys_spark.cli import main
from recsys_spark.report import Snapshot, build_report, write_report
from recsys_spark.report import gather_models as gm
from recsys_spark.tables import TableStore
from tests.factories import make_config
from tests.report import report_world as world
from tests.report.page import TITLES, decode_png, parse_report

pytestmark = pytest.mark.stage


@pytest.fixture(scope="module")
def full_store(spark, tmp_path_factory) -> TableStore:
    store = TableStore(spark, make_config(tmp_path_factory.mktemp("full")).warehouse)
    world.write_tables(spark, store)
    return store


@pytest.fixture(scope="module")
def report_path(full_store) -> Path:
    return write_report(full_store)   # default run date and output


@pytest.fixture(scope="module")
def full_page(report_path):
    return parse_report(report_path.read_text(encoding="utf-8"))


def test_every_section_has_its_title_and_decodable_images(full_page):
    assert full_page.title == "recsys-spark report: run date 2026-11-02"   # latest run by default
    assert {k: s.title for k, s in full_page.sections.items()} == TITLES
    images = {k: len(s.images) for k, s in full_page.sections.items()}
    assert images == {"quality": 1, "ranking": 3, "response": 1, "bandit": 1, "readout": 1, "monitor": 1,
                      "loop": 1, "ope": 1}
    for section in full_page.sections.values():
        assert section.missing == []
        for _, src in section.images:
            decode_png(src)


def test_header_lists_runs_and_the_table_versions_read(full_page):
    runs, versions = full_page.header_tables
    assert [r[0] for r in runs.rows] == ["clean", "features", "similarity", "als", "response", "bandit"]
    assert {r[1] for r in runs.rows} == {world.RUN2}
    assert dict(versions.rows) == {"pipeline_runs": "0", "events": "missing", "events_quarantine": "0",
                                   "model_metrics": "0", "bandit_arm_stats": "0", "loop_results": "0",
                                   "ope_estimates": "0", "ab_readout": "0",
                                   "policy_monitor": "0"}


def test_quarantine_counts_per_run_and_reason_are_the_rows_written(full_page):
    quality = full_page.sections["quality"]
    reasons = quality.table("Quarantined records per run date and reason")
    assert reasons.header == ["run_date", "bad_type", "bot_traffic", "missing_required", "out_of_range"]
    assert reasons.rows == [["2026-11-01", "2", "1", "0", "1"], ["2026-11-02", "0", "1", "1", "0"]]
    clean = quality.table("Clean runs")
    assert clean.header == ["run_date", "run_id", "status", "records_in", "clean", "duplicates",
                            "quarantined", "failed_checks"]
    # the failed first attempt of 2026-11-01 is superseded by the second
    assert clean.rows == [["2026-11-01", world.RUN1, "succeeded", "20", "15", "2", "3", "1"],
                          ["2026-11-02", world.RUN2, "succeeded", "30", "26", "2", "2", "0"]]


def test_ranking_and_response_tables(full_page):
    als = full_page.sections["ranking"].table("als metrics")
    assert als.header == ["stage", "run_date", "run_id", "model", "split", "eval_users", "ndcg@10",
                          "precision@10"]
    # tuning trials are left out; baselines sit next to the model
    assert [r[3:] for r in als.rows] == [["als", "chronological_holdout", "8", "0.25", "0.125"],
                                         ["popularity", "chronological_holdout", "8", "0.125", "0.0625"]]
    categories = full_page.sections["ranking"].table("features metrics")
    assert categories.header == ["stage", "run_date", "run_id", "model", "split", "eval_users",
                                 "hit_rate@10", "ndcg@10"]
    assert [r[3:] for r in categories.rows] == [["own_history", "test", "8", "0.75", "0.375"],
                                                ["own_history", "validation", "8", "1", "0.5"],
                                                ["popularity", "test", "8", "0.5", "0.25"],
                                                ["popularity", "validation", "8", "0.5", "0.25"]]
    response = full_page.sections["response"]
    summary = response.table("Response model against baselines")
    assert summary.header == ["model", "run_date", "run_id", "split", "auc_roc", "ece"]
    assert [[r[0], *r[3:]] for r in summary.rows] == [["response_logreg", "test", "0.75", "0.05"],
                                                      ["baseline_global_rate", "test", "0.5", "0.05"]]
    assert response.table("Reliability bins").rows == [
        ["baseline_global_rate", "2", "60", "0.25", "0.25"],
        ["response_logreg", "1", "40", "0.15", "0.125"],
        ["response_logreg", "3", "20", "0.35", "0.375"]]


def test_arm_posteriors_have_beta_credible_intervals(full_store):
    arms = gm.arm_posteriors(Snapshot(full_store), world.DAY2)
    # Beta(1, 1) is uniform; Beta(1, b) has quantile 1 - (1 - q)^(1/b); Beta(a, 1) has q^(1/a)
    expected = pd.DataFrame({
        "context": ["global", "global", "s0"], "promotion_id": ["p1", "p2", "p1"],
        "posterior_mean": [0.5, 0.25, 0.75],
        "ci_lower": [0.025, 1 - 0.975 ** (1 / 3), 0.025 ** (1 / 3)],
        "ci_upper": [0.975, 1 - 0.025 ** (1 / 3), 0.975 ** (1 / 3)]})
    assert_frame_equal(arms[list(expected.columns)], expected, rtol=1e-9)


def test_loop_summary_and_ope_tables(full_page):
    loop = full_page.sections["loop"].table("Whole loop per policy")
    assert loop.header == ["policy", "run_id", "days", "impressions", "realized_rewards",
                           "expected_reward", "regret", "regret_per_impression"]
    assert loop.rows == [["thompson", "20261110-loop", "3", "30", "3", "6", "1.5", "0.05"],
                         ["random", "20261110-loop", "3", "30", "3", "3", "4.5", "0.15"]]
    ope = full_page.sections["ope"].table("Estimates")
    assert [r[2:8] + r[9:] for r in ope.rows] == [
        ["events", "thompson", "dr", "0.055", "0.045", "0.065", "0.06"],
        ["events", "thompson", "ips", "0.05", "0.04", "0.06", "0.06"],
        ["events", "uniform", "dr", "0.055", "0.045", "0.065", ""],
        ["events", "uniform", "ips", "0.05", "0.04", "0.06", ""]]


def test_readout_section_lists_the_readout_rows(full_page):
    readout = full_page.sections["readout"].table("Readout of 2026-11-02 over 14 days")
    assert readout.header[:3] == ["dimension", "dim_value", "metric"]
    assert [r[:3] + r[7:10] for r in readout.rows] == [
        ["all", "all", "response_rate", "0.25", "0.125", "0.375"],
        ["segment", "s0", "response_rate", "0.5", "0.25", "0.75"]]


def test_monitor_section_lists_the_latest_overall_figures(full_page):
    latest = full_page.sections["monitor"].table("Latest figures (2026-11-02)")
    assert latest.header == ["metric", "value", "threshold", "flagged"]
    assert [r[:2] for r in latest.rows] == [["exploration_rate", "0.25"], ["promotion_mix_psi", "0.5"]]


def test_an_earlier_run_date_shows_what_existed_then(full_store):
    page = parse_report(build_report(full_store, world.DAY1).html)
    assert page.title == "recsys-spark report: run date 2026-11-01"
    assert [r[0] for r in page.sections["quality"].table("Clean runs").rows] == ["2026-11-01"]
    for key, stage in (("ranking", "als"), ("response", "response"), ("bandit", "bandit")):
        assert len(page.sections[key].missing) == 1
        assert "on or before 2026-11-01" in page.sections[key].missing[0]
        assert f"recsys {stage} --run-date 2026-11-01" in page.sections[key].missing[0]
    # the closed loop is not tied to the pipeline's run dates
    assert len(page.sections["loop"].images) == 1


def test_default_output_is_beside_the_tables_but_not_a_table(full_store, report_path):
    assert report_path == Path(full_store.root) / "_reports" / "report-2026-11-02.html"
    assert full_store.list_tables() == sorted(world.ROWS)


def test_run_date_without_runs_is_one_line_and_exit_2(full_store, capsys):
    # found in the Delta log before Spark starts, so main() can run inside the test process
    assert main(["report", "--run-date", "2026-10-01", "--set", f"warehouse.root={full_store.root}"]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        f"recsys: error: --run-date 2026-10-01: no pipeline run recorded for that date under "
        f"{full_store.root} (runs there cover 2026-11-01..2026-11-02)"]


def test_every_section_says_what_is_missing_and_how_to_produce_it(spark, tmp_path):
    store = TableStore(spark, make_config(tmp_path).warehouse)
    world.write_tables(spark, store, ("pipeline_runs",))
    page = parse_report(build_report(store).html)
    assert {k: s.title for k, s in page.sections.items()} == TITLES
    assert sum(len(s.images) for s in page.sections.values()) == 0
    assert {k: s.missing for k, s in page.sections.items()} == {
        "quality": ["Not available: table events_quarantine does not exist. "
                    "Run recsys clean --run-date 2026-11-02 to produce it."],
        "ranking": ["Not available: table model_metrics does not exist. "
                    "Run recsys als --run-date 2026-11-02 to produce it."],
        "response": ["Not available: table model_metrics does not exist. "
                     "Run recsys response --run-date 2026-11-02 to produce it."],
        "bandit": ["Not available: table bandit_arm_stats does not exist. "
                   "Run recsys bandit --run-date 2026-11-02 to produce it."],
        "readout": ["Not available: table ab_readout does not exist. "
                    "Run recsys readout --run-date 2026-11-02 to produce it."],
        "monitor": ["Not available: table policy_monitor does not exist. "
                    "Run recsys readout --run-date 2026-11-02 to produce it."],
        "loop": ["Not available: table loop_results does not exist. "
                 "Run recsys simulate-loop --config <config> --days N to produce it."],
        "ope": ["Not available: table ope_estimates does not exist. "
                "Run recsys ope --source events --run-date 2026-11-02 to produce it."],
    }
