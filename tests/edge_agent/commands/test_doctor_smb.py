"""`medflow-edge doctor` on an SMB source against a real smbd: what works, and what to fix, in words."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from agent_testkit import BUCKET
from smbd_testkit import PASSWORD, Smbd

from edge_agent.__main__ import main
from edge_agent.commands.doctor_smb import check_smb
from edge_agent.config import SmbSourceConfig

pytestmark = pytest.mark.integration


def source(smbd: Smbd, **overrides: object) -> SmbSourceConfig:
    values: dict[str, object] = {
        "name": "oct-share",
        "server": "127.0.0.1",
        "port": smbd.port,
        "share": "exports",
        "path": "doctor",
        "username": "medflow",
        "password_env": "MEDFLOW_SMB_PASSWORD",
    }
    return SmbSourceConfig.model_validate({**values, **overrides})


@pytest.fixture
def folder(smbd: Smbd) -> Path:
    path = smbd.share_dir("exports") / "doctor"
    (path / "P1").mkdir(parents=True, exist_ok=True)
    (path / "P1" / "Smith_John.xml").write_bytes(b"<oct/>")
    return path


def by_name(checks: list[Any]) -> dict[str, Any]:
    return {c.name: c for c in checks}


def test_doctor_through_the_cli_reports_each_step_ok(
    smbd: Smbd, folder: Path, tmp_path: Path, aws_endpoint: str, s3: Any, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    config = tmp_path / "agent.toml"
    config.write_text(f"""
[agent]
clinic_id = "clinic1"
agent_id = "agent1"
data_dir = "data"
max_spool_bytes = 1000000

[cloud]
bucket = "{BUCKET}"
endpoint_url = "{aws_endpoint}"

[[sources]]
kind = "smb"
name = "oct-share"
server = "127.0.0.1"
port = {smbd.port}
share = "exports"
path = "doctor"
username = "medflow"
password_env = "MEDFLOW_SMB_PASSWORD"
encrypt = false
settle_seconds = 2
patient_id_patterns = ["{{patient_id}}/*"]
""")
    monkeypatch.setenv("MEDFLOW_SMB_PASSWORD", PASSWORD)
    code = main(["doctor", "--config", str(config), "--json"])
    out = capsys.readouterr().out
    checks = {c["name"]: c for c in json.loads(out)["checks"]}
    assert code == 0, out
    assert (
        checks["source oct-share"]["status"] == "ok" and "signed in as medflow" in checks["source oct-share"]["message"]
    )
    assert checks["source oct-share list"]["message"].endswith("lists 1 file(s)")
    assert checks["source oct-share read"]["message"] == "read one file (6 bytes) without changing it"
    assert checks["source oct-share notify"]["status"] == "ok"
    assert "Smith" not in out  # names from the share never appear


def test_a_wrong_password_says_what_to_fix(smbd: Smbd, folder: Path) -> None:
    checks = by_name(check_smb(source(smbd), environ={"MEDFLOW_SMB_PASSWORD": "not-it"}))
    assert checks["source oct-share"].status == "fail"
    assert "refused the user name or password" in checks["source oct-share"].message
    assert "update the password" in checks["source oct-share"].message and "not-it" not in str(checks)


def test_a_missing_password_variable_names_it(smbd: Smbd, folder: Path) -> None:
    checks = by_name(check_smb(source(smbd), environ={}))
    assert checks["source oct-share"].status == "fail"
    assert "MEDFLOW_SMB_PASSWORD" in checks["source oct-share"].message


def test_a_missing_share_and_a_missing_folder_are_told_apart(smbd: Smbd, folder: Path) -> None:
    env = {"MEDFLOW_SMB_PASSWORD": PASSWORD}
    share = by_name(check_smb(source(smbd, share="nosuch"), environ=env))["source oct-share"]
    assert share.status == "fail" and "share 'nosuch'" in share.message and "[share_missing]" in share.message
    path = by_name(check_smb(source(smbd, path="NOPE"), environ=env))["source oct-share"]
    assert path.status == "fail" and "folder 'NOPE' does not exist" in path.message


def test_an_empty_folder_warns_that_reading_is_untested(smbd: Smbd) -> None:
    (smbd.share_dir("exports") / "empty").mkdir(exist_ok=True)
    checks = by_name(check_smb(source(smbd, path="empty"), environ={"MEDFLOW_SMB_PASSWORD": PASSWORD}))
    assert checks["source oct-share list"].message.endswith("lists 0 file(s)")
    assert checks["source oct-share read"].status == "warn"


def test_an_unreachable_server_says_so(smbd: Smbd) -> None:
    from smbd_testkit import free_port

    cfg = source(smbd, port=free_port(), timeout_seconds=2)
    checks = by_name(check_smb(cfg, environ={"MEDFLOW_SMB_PASSWORD": PASSWORD}))
    assert (
        checks["source oct-share"].status == "fail"
        and "cannot reach the file server" in checks["source oct-share"].message
    )
