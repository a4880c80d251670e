"""`recsys catalog import`: every format, every reason code, the gate, no roll-back."""
from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pyspark.testing import assertDataFrameEqual

from recsys_spark.clean.catalog.contract import CONTRACTS
from recsys_spark.clean.catalog.files import CatalogFileError
from recsys_spark.clean.catalog.importer import STAGE, CatalogGateError, make_catalog_import
from recsys_spark.cli import main
from recsys_spark.config import AppConfig
from recsys_spark.runs import RunContext, StageReport
from recsys_spark.settings.clean import CatalogImportConfig
from recsys_spark.stage_runner import run_stage
from recsys_spark.tables import TableStore
from tests.clean.helpers import read_table, with_clean
from tests.factories import frame, make_config

AS_OF = dt.date(2026, 11, 2)

PROMOTIONS_CSV = """\
promotion_id,name,promo_type,discount_value,min_spend,eligible_categories,start_date,end_date,budget,channel
p1,Ten off,percent_off,0.10,,electronics|home,2026-11-01,2026-11-30,100,email
p2,, free_shipping ,4.99,25, ,2026-11-01,,,
p3,Bad budget,coupon,0.2,0,,2026-11-01,2026-11-30,-5,
p4,Backwards,gift,10,30,,2026-11-10,2026-11-01,10,
p5,Weird,bogo,0.5,0,,2026-11-01,2026-11-30,10,
p6,Bad date,percent_off,0.1,0,,2026-13-01,2026-11-30,ten,
,No key,percent_off,0.1,0,,2026-11-01,2026-11-30,10,
p7,Copy A,percent_off,0.1,0,,2026-11-01,2026-11-30,10,
p7,Copy B,percent_off,0.2,0,,2026-11-01,2026-11-30,10,
p8,Too deep,percent_off,1.5,0,,2026-11-01,2026-11-30,10,
p9,No type,,0.1,0,,2026-11-01,2026-11-30,10,
p10,"Ten, off baskets over 50",amount_off_over_threshold,10,50,"home",2026-11-01 00:00:00,2026-11-30,1e3,
p11,too,few
"""

ITEMS_JSONL = [
    '{"item_id":"i1","category":"electronics.audio","brand":"acme","price":19.99,"name":"Buds","color":"red"}',
    '{"item_id":"i2","category":"home.kitchen","brand":null,"price":"7"}',
    '{"item_id":"i3","category":"home","price":"12,99"}',
    '{"item_id":"i4","category":"toys","price":0}',
    'not json',
    '{"item_id":"i5","item_id":"i6","category":"x"}',
]


def _write_inputs(tmp_path: Path) -> dict[str, str]:
    (tmp_path / "promotions.csv").write_text(PROMOTIONS_CSV)
    (tmp_path / "items.jsonl").write_text("\n".join(ITEMS_JSONL) + "\n")
    users = pa.table({"user_id": ["u1", None, "u2"],
                      "signup_date": [dt.date(2026, 1, 5), dt.date(2026, 2, 1), None],
                      "region": ["north", "south", None], "device": ["ios", None, "web"]})
    pq.write_table(users, tmp_path / "users.parquet")
    return {"items": str(tmp_path / "items.jsonl"), "promotions": str(tmp_path / "promotions.csv"),
            "users": str(tmp_path / "users.parquet")}


def _import(spark, config: AppConfig, files: dict[str, str], as_of: dt.date = AS_OF) -> StageReport:
    return run_stage(spark, TableStore(spark, config.warehouse),
                     RunContext(config=config, run_date=as_of, stage=STAGE), make_catalog_import(files))


def _lenient(tmp_path: Path) -> AppConfig:
    return with_clean(make_config(tmp_path), catalog=CatalogImportConfig(max_bad_share=1.0))


@pytest.mark.unit
def test_contract_names_what_is_missing():
    assert CONTRACTS["promotions"].missing({"promotion_id", "promo_type", "name"}) == [
        "discount_value", "start_date", "end_date", "budget"]
    assert CONTRACTS["items"].missing({"item_id", "category"}) == []


@pytest.mark.stage
def test_import_of_three_formats_with_every_reason(spark, tmp_path):
    config = _lenient(tmp_path)
    files = _write_inputs(tmp_path)
    report = _import(spark, config, files)
    run_id = RunContext(config=config, run_date=AS_OF, stage=STAGE).run_id
    d = dt.date

    assertDataFrameEqual(read_table(spark, config, "promotions"), frame(spark, "promotions", [
        dict(promotion_id="p1", name="Ten off", promo_type="percent_off", discount_value=0.1,
             min_spend=None, eligible_categories=["electronics", "home"], start_date=d(2026, 11, 1),
             end_date=d(2026, 11, 30), budget=100, origin="catalog", run_id=run_id),
        dict(promotion_id="p2", name=None, promo_type="free_shipping", discount_value=4.99,
             min_spend=25.0, eligible_categories=None, start_date=d(2026, 11, 1), end_date=None,
             budget=None, origin="catalog", run_id=run_id),
        dict(promotion_id="p10", name="Ten, off baskets over 50", promo_type="amount_off_over_threshold",
             discount_value=10.0, min_spend=50.0, eligible_categories=["home"],
             start_date=d(2026, 11, 1), end_date=d(2026, 11, 30), budget=1000, origin="catalog",
             run_id=run_id),
    ]))
    assertDataFrameEqual(read_table(spark, config, "items"), frame(spark, "items", [
        dict(item_id="i1", category="electronics.audio", brand="acme", price=19.99, name="Buds",
             origin="catalog", run_id=run_id),
        dict(item_id="i2", category="home.kitchen", brand=None, price=7.0, name=None,
             origin="catalog", run_id=run_id),
    ]))
    assertDataFrameEqual(read_table(spark, config, "users"), frame(spark, "users", [
        dict(user_id="u1", signup_date=d(2026, 1, 5), region="north", device="ios", run_id=run_id),
        dict(user_id="u2", signup_date=None, region=None, device="web", run_id=run_id),
    ]))

    promotions_file, items_file, users_file = files["promotions"], files["items"], files["users"]
    quarantine_df = read_table(spark, config, "catalog_quarantine").drop("raw_record")
    q = [("promotions", promotions_file, 4, ["negative_budget"], "p3"),
         ("promotions", promotions_file, 5, ["end_before_start"], "p4"),
         ("promotions", promotions_file, 6, ["unknown_promo_type"], "p5"),
         ("promotions", promotions_file, 7, ["bad_type"], "p6"),
         ("promotions", promotions_file, 8, ["bad_key"], None),
         ("promotions", promotions_file, 9, ["duplicate_key"], "p7"),
         ("promotions", promotions_file, 10, ["duplicate_key"], "p7"),
         ("promotions", promotions_file, 11, ["out_of_range"], "p8"),
         ("promotions", promotions_file, 12, ["missing_required"], "p9"),
         ("promotions", promotions_file, 14, ["malformed_record"], None),
         ("items", items_file, 3, ["bad_type"], "i3"),
         ("items", items_file, 4, ["out_of_range"], "i4"),
         ("items", items_file, 5, ["malformed_record"], None),
         ("items", items_file, 6, ["malformed_record"], None),
         ("users", users_file, 2, ["bad_key"], None)]
    assertDataFrameEqual(quarantine_df, frame(spark, "catalog_quarantine", [
        dict(run_id=run_id, run_date=AS_OF, dimension=t, source_file=f, record_number=n,
             reasons=r, record_key=k) for t, f, n, r, k in q]).drop("raw_record"))
    raw = {(r["dimension"], r["record_number"]): r["raw_record"]
           for r in read_table(spark, config, "catalog_quarantine").collect()}
    assert raw[("promotions", 14)] == "p11,too,few" and raw[("items", 5)] == "not json"
    assert json.loads(raw[("users", 2)]) == {"user_id": None, "signup_date": "2026-02-01",
                                             "region": "south", "device": None}

    m = report.metrics
    assert (m["promotions_records"], m["promotions_quarantined"], m["items_records"],
            m["items_quarantined"], m["users_records"], m["users_quarantined"]) == (13, 10, 6, 4, 3, 1)
    assert m["promotions_quarantined_duplicate_key"] == 2
    assert report.notes["ignored_columns.promotions"] == "channel"
    assert report.notes["ignored_columns.items"] == "color"


@pytest.mark.stage
def test_a_later_state_is_not_rolled_back_and_a_rerun_replaces(spark, tmp_path):
    config = _lenient(tmp_path)
    one = tmp_path / "one.csv"
    one.write_text("item_id,category,price\ni1,home,5\n")
    two = tmp_path / "two.csv"
    two.write_text("item_id,category,price\ni1,home,6\ni2,toys,\n")
    _import(spark, config, {"items": str(two)}, AS_OF)
    day_before = AS_OF - dt.timedelta(days=1)
    report = _import(spark, config, {"items": str(one)}, day_before)
    assert report.notes["kept.items"] == f"holds the state of {AS_OF}, later than {day_before}"
    items = read_table(spark, config, "items").select("item_id", "price")
    assertDataFrameEqual(items, spark.createDataFrame([("i1", 6.0), ("i2", None)],
                                                      "item_id string, price double"))
    _import(spark, config, {"items": str(one)}, AS_OF)   # same date: replaces
    assertDataFrameEqual(read_table(spark, config, "items").select("item_id", "price"),
                         spark.createDataFrame([("i1", 5.0)], "item_id string, price double"))


@pytest.mark.stage
def test_gate_and_missing_columns_commit_nothing(spark, tmp_path):
    config = make_config(tmp_path)   # max_bad_share 0.1
    files = _write_inputs(tmp_path)
    with pytest.raises(CatalogGateError, match=r"promotions file .*promotions\.csv: 10 of 13 records "
                                               r"bad \(76\.9% > clean\.catalog\.max_bad_share 10\.0%"):
        _import(spark, config, files)
    bad_header = tmp_path / "bad.csv"
    bad_header.write_text("promotion_id,promo_type,start\np1,gift,2026-11-01\n")
    with pytest.raises(CatalogFileError, match="missing required column.s. discount_value, "
                                               "start_date, end_date, budget"):
        _import(spark, config, {"items": files["items"], "promotions": str(bad_header)})
    store = TableStore(spark, config.warehouse)
    assert [t for t in ("items", "promotions", "users", "catalog_quarantine") if store.exists(t)] == []


@pytest.mark.unit
@pytest.mark.parametrize(("argv", "message"), [
    (["catalog", "import", "--as-of", "2019-10-01"],
     "recsys: error: catalog import: give at least one of --items, --promotions, --users"),
    (["catalog", "import", "--items", "i.csv", "--as-of", "2019-10"],
     "recsys catalog import: error: argument --as-of: '2019-10': expected a date as YYYY-MM-DD"),
    (["run", "--promotions", "p.csv"], "recsys: error: --promotions need --input (the logs to run on)"),
    (["run", "--input", "logs.csv", "--preset", "tiny"],
     "recsys: error: --input runs on your logs and never simulates: drop --preset"),
    (["run", "--input", "logs.csv", "--days", "3"],
     "recsys: error: --days with --input needs --start-date (without both, the run covers the "
     "days of the input)"),
])
def test_cli_refuses_before_spark_starts(argv, message, capsys):
    try:
        code = main(argv)
    except SystemExit as exc:   # argparse's own one-line refusal
        code = exc.code
    assert code == 2
    assert capsys.readouterr().err.strip().splitlines() == [message]
