"""`make run` passes the AI suggestion settings from the environment to the API, and its banner says whether
suggestions work (never showing the key)."""

from __future__ import annotations

from pathlib import Path

import pytest

from localdev.settings import LocalSettings
from localdev.stack import banner


def test_ai_settings_reach_the_api_and_the_banner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEDFLOW_VAR", str(tmp_path))
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-local-secret")
    monkeypatch.setenv("ANTHROPIC_BASE_URL", "http://127.0.0.1:9999")
    monkeypatch.setenv("MEDFLOW_AI_MODEL", "claude-local-test")
    settings = LocalSettings.from_env()
    env = settings.cloud_env()
    assert env["ANTHROPIC_API_KEY"] == "sk-ant-local-secret"
    assert (env["ANTHROPIC_BASE_URL"], env["MEDFLOW_AI_MODEL"]) == ("http://127.0.0.1:9999", "claude-local-test")
    text = banner(settings)
    assert "AI suggest     on: claude-local-test at http://127.0.0.1:9999" in text
    assert "sk-ant-local-secret" not in text


def test_without_a_key_the_banner_says_suggestions_are_off(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL", "MEDFLOW_AI_MODEL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MEDFLOW_VAR", str(tmp_path))
    settings = LocalSettings.from_env()
    assert not any(name.startswith("ANTHROPIC") for name in settings.cloud_env())
    assert "AI suggest     off: no ANTHROPIC_API_KEY" in banner(settings)
