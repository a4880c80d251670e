"""`recsys simulate-loop` refuses bad input with one line and exit 2, before Spark starts."""
from __future__ import annotations

import pytest

from recsys_spark.cli import main
from recsys_spark.loop.options import LoopOptions, parse_policies

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(("args", "message"), [
    (["--days", "3", "--policy", "thompson,softmax"],
     "recsys: error: --policy: unknown 'softmax' (choose from thompson, ucb, greedy, random, "
     "epsilon_greedy, ucb1, bayes_ucb)"),
    (["--days", "0"], "recsys: error: --days 0: must be >= 1"),
    (["--days", "2", "--policy", " , "], "recsys: error: --policy: give at least one policy"),
    (["--days", "2", "--policy", "greedy,greedy"],
     "recsys: error: --policy: greedy,greedy names a policy twice"),
    (["--days", "2", "--warmup-days", "1"], "recsys: error: --warmup-days 1: must be >= 2"),
    (["--days", "2", "--warmup-from", "only-a-warehouse"],
     "recsys: error: --warmup-from 'only-a-warehouse': give WAREHOUSE,LANDING (the roots of a "
     "`recsys run`)"),
    (["--days", "2", "--retrain-every", "-1"],
     "recsys: error: --retrain-every -1: must be >= 0 (0 = never)"),
])
def test_bad_input_is_one_line_and_exit_2(args, message, capsys, tmp_path):
    # A config that would fail to load proves the options are checked first (no Spark either:
    # the run would need minutes, this returns at once).
    code = main(["simulate-loop", "--config", str(tmp_path / "missing.yaml"), *args])
    captured = capsys.readouterr()
    assert (code, captured.out, captured.err) == (2, "", message + "\n")


def test_bad_config_after_good_options_is_exit_2(capsys, tmp_path):
    code = main(["simulate-loop", "--config", str(tmp_path / "missing.yaml"), "--days", "1"])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("recsys: error: ") and err.count("\n") == 1


def test_options_resolve_policies_and_retrain_days():
    options = LoopOptions(policies=parse_policies("thompson, ucb,random"), days=5, retrain_every=2)
    assert options.policies == ("thompson", "ucb", "random")
    assert [LoopOptions.bandit_policy(p) for p in options.policies] == ["thompson", "ucb1", "random"]
    assert [d for d in range(1, 6) if options.retrains_on(d)] == [3, 5]
    assert not any(LoopOptions(policies=("greedy",), days=5).retrains_on(d) for d in range(1, 6))
