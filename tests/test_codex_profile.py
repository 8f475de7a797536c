"""`planoai cli-agent codex --print-config / --write-config`: the `plano` profile for plain
`codex --profile plano` (the real Codex reads it in tests/e2e/test_codex_profile.py)."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from plano_tui import cli
from plano_tui.codex_config import HEADER

from .conftest import proxy_config_yaml


@pytest.fixture
def codex_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "codex_home"
    monkeypatch.setenv("CODEX_HOME", str(home))
    monkeypatch.chdir(tmp_path)
    (tmp_path / "config.yaml").write_text(proxy_config_yaml("http://127.0.0.1:9").replace("12000", "12345"))
    return home


def test_print_config_is_the_profile(codex_home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["cli-agent", "codex", "--print-config"]) == 0
    out, err = capsys.readouterr()
    conf = tomllib.loads(out)
    assert conf["model_provider"] == "plano" and conf["model"] == "arch.codex.default"
    assert conf["model_providers"]["plano"] == {
        "name": "plano", "base_url": "http://127.0.0.1:12345/v1", "wire_api": "responses",
        "model_catalog_url": "http://127.0.0.1:12345/v1/models", "experimental_bearer_token": "planoai"}
    assert f"save it as {codex_home / 'plano.config.toml'}" in err
    assert not codex_home.exists()  # printing writes nothing


def test_write_config_writes_rewrites_and_never_clobbers(codex_home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    profile = codex_home / "plano.config.toml"
    assert cli.main(["cli-agent", "codex", "--write-config"]) == 0
    assert "wrote the `plano` profile" in capsys.readouterr().err
    assert profile.read_text().startswith(HEADER)
    assert cli.main(["cli-agent", "codex", "--write-config", "--port", "23456"]) == 0  # ours: rewritten
    assert "updated the `plano` profile" in capsys.readouterr().err
    assert 'base_url = "http://127.0.0.1:23456/v1"' in profile.read_text()

    profile.write_text('model = "mine"\n')  # the user's own file of that name
    assert cli.main(["cli-agent", "codex", "--write-config"]) == 1
    assert "not written by planoai: not overwriting it" in capsys.readouterr().err
    assert profile.read_text() == 'model = "mine"\n'


def test_write_config_warns_of_a_legacy_profile(codex_home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    codex_home.mkdir()
    (codex_home / "config.toml").write_text('[profiles.plano]\nmodel = "x"\n')
    assert cli.main(["cli-agent", "codex", "--write-config"]) == 0
    err = capsys.readouterr().err
    assert "legacy `[profiles.plano]`" in err and "Codex refuses --profile plano" in err
    assert (codex_home / "config.toml").read_text() == '[profiles.plano]\nmodel = "x"\n'


def test_passthrough_uses_the_clients_key_and_claude_has_no_profile(
        codex_home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    conf = tmp_path / "config.yaml"
    conf.write_text(conf.read_text().replace("access_key: $OPENAI_API_KEY", "passthrough_auth: true"))
    assert cli.main(["cli-agent", "codex", "--print-config"]) == 0
    provider = tomllib.loads(capsys.readouterr().out)["model_providers"]["plano"]
    assert provider["env_key"] == "OPENAI_API_KEY" and "experimental_bearer_token" not in provider
    assert cli.main(["cli-agent", "claude", "--print-config"]) == 2
    assert "are for codex" in capsys.readouterr().err
