"""Pseudonymization refuses to run without its key; conservation is asserted; CLI wiring."""
from __future__ import annotations

import pytest

from recsys_spark.clean.privacy import PrivacyKeyError, hmac_hex, resolve_hmac_key
from recsys_spark.clean.stage import ConservationError, _check_conservation
from recsys_spark.cli import main
from recsys_spark.settings.clean import PrivacyConfig


@pytest.mark.unit
def test_pseudonymization_refuses_without_the_key(monkeypatch):
    monkeypatch.delenv("MY_KEY", raising=False)
    config = PrivacyConfig(pseudonymize_users=True, hmac_key_env="MY_KEY")
    with pytest.raises(PrivacyKeyError, match="MY_KEY .* is not set; refusing to run"):
        resolve_hmac_key(config)
    monkeypatch.setenv("MY_KEY", "short")
    with pytest.raises(PrivacyKeyError, match="at least 16 bytes"):
        resolve_hmac_key(config)
    monkeypatch.setenv("MY_KEY", "k" * 16)
    assert resolve_hmac_key(config) == b"k" * 16
    assert resolve_hmac_key(PrivacyConfig()) is None
    # RFC 4231 test case 2: HMAC-SHA256("Jefe", "what do ya want for nothing?")
    assert hmac_hex("what do ya want for nothing?", b"Jefe") == (
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")


@pytest.mark.unit
def test_cli_refuses_before_spark_starts(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("RECSYS_HMAC_KEY", raising=False)
    config_file = tmp_path / "env.yaml"
    config_file.write_text(f"warehouse: {{root: {tmp_path / 'wh'}}}\nlanding: {{root: {tmp_path}}}\n"
                           "clean: {privacy: {pseudonymize_users: true}}\n")
    code = main(["clean", "--config", str(config_file), "--run-date", "2026-11-02"])
    assert code == 2
    assert "RECSYS_HMAC_KEY" in capsys.readouterr().err
    assert not (tmp_path / "wh").exists()


@pytest.mark.unit
def test_conservation_breach_fails_before_commit():
    figures = {"clean": 4, "quarantined": 4, "duplicates": 2, "classified": 10}
    _check_conservation(10, figures)
    with pytest.raises(ConservationError, match="11 input records but 4 clean"):
        _check_conservation(11, figures)
    with pytest.raises(ConservationError, match="classified rows 12"):
        _check_conservation(10, {**figures, "classified": 12})
