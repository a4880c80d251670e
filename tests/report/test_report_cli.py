"""`recsys report` user mistakes: one stderr line, exit 2, found before Spark starts."""
from __future__ import annotations

import pytest

from recsys_spark.cli import main

pytestmark = pytest.mark.unit


def _errors(capsys) -> list[str]:
    return capsys.readouterr().err.strip().splitlines()


def test_empty_warehouse_is_one_line_and_exit_2(tmp_path, capsys):
    assert main(["report", "--set", f"warehouse.root={tmp_path / 'wh'}"]) == 2
    assert _errors(capsys) == [f"recsys: error: no pipeline_runs table under {tmp_path / 'wh'}: "
                               "nothing has run in this warehouse yet (run `recsys run` first)"]


def test_malformed_run_date_is_one_line_and_exit_2(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["report", "--run-date", "2026-02-30", "--set", f"warehouse.root={tmp_path}"])
    assert exit_info.value.code == 2
    errors = _errors(capsys)
    assert len(errors) == 1 and "--run-date" in errors[0]

