"""The smb source's TOML contract and its credentials: never in the file, from the environment or a 0600 file."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge_agent.config import SmbSourceConfig, load_config
from edge_agent.errors import ConfigError
from edge_agent.sources.smb_share import ShareError, load_credentials

BASE = """
[agent]
clinic_id = "clinic1"
agent_id = "agent1"
data_dir = "data"

[cloud]
bucket = "ingest-bucket"
"""

CONTRACT = """
[[sources]]
kind = "smb"
name = "oct-share"
server = "192.168.1.20"
port = 445                              # optional, 445 by default
share = "exports"
path = "OCT"                            # folder inside the share ("" for its root)
username = "medflow"
password_env = "MEDFLOW_SMB_PASSWORD"   # or credentials_file = "/etc/medflow/smb.cred"
encrypt = false                         # true: refuse a server that cannot encrypt
settle_seconds = 2
patient_id_patterns = ["{patient_id}/*"]
"""


def load(tmp_path: Path, text: str) -> SmbSourceConfig:
    path = tmp_path / "agent.toml"
    path.write_text(BASE + text, encoding="utf-8")
    source = load_config(path).sources[0]
    assert isinstance(source, SmbSourceConfig)
    return source


def error_of(tmp_path: Path, text: str) -> str:
    with pytest.raises(ConfigError) as info:
        load(tmp_path, text)
    return str(info.value)


def test_the_issue_contract_parses_with_its_defaults(tmp_path: Path) -> None:
    s = load(tmp_path, CONTRACT)
    assert (s.server, s.port, s.share, s.path, s.username) == ("192.168.1.20", 445, "exports", "OCT", "medflow")
    assert s.password_env == "MEDFLOW_SMB_PASSWORD" and s.credentials_file is None and s.encrypt is False
    assert s.settle_seconds == 2 and s.patient_id_patterns == ["{patient_id}/*"]
    no_port = load(tmp_path, CONTRACT.replace("port = 445", ""))
    assert no_port.port == 445


def test_a_password_in_the_file_is_refused_naming_the_alternatives(tmp_path: Path) -> None:
    text = error_of(tmp_path, CONTRACT.replace('username = "medflow"', 'username = "medflow"\npassword = "x1"'))
    assert "sources[0]" in text and "password_env" in text and "credentials_file" in text and "x1" not in text


def test_exactly_one_credential_source(tmp_path: Path) -> None:
    neither = CONTRACT.replace('password_env = "MEDFLOW_SMB_PASSWORD"', "")
    assert "exactly one of password_env or credentials_file" in error_of(tmp_path, neither)
    both = CONTRACT.replace("encrypt = false", 'encrypt = false\ncredentials_file = "smb.cred"')
    assert "exactly one of password_env or credentials_file" in error_of(tmp_path, both)


def test_share_paths_are_normalised_and_stay_inside_the_share(tmp_path: Path) -> None:
    assert load(tmp_path, CONTRACT.replace('path = "OCT"', 'path = "\\\\OCT\\\\Cirrus\\\\"')).path == "OCT/Cirrus"
    assert load(tmp_path, CONTRACT.replace('path = "OCT"', 'path = ""')).path == ""
    assert "inside the share" in error_of(tmp_path, CONTRACT.replace('path = "OCT"', 'path = "OCT/../other"'))


def config_with_file(tmp_path: Path, body: str, mode: int) -> SmbSourceConfig:
    cred = tmp_path / "smb.cred"
    cred.write_text(body, encoding="utf-8")
    cred.chmod(mode)
    return load(tmp_path, CONTRACT.replace('password_env = "MEDFLOW_SMB_PASSWORD"', 'credentials_file = "smb.cred"'))


def test_a_private_credentials_file_is_read(tmp_path: Path) -> None:
    source = config_with_file(tmp_path, "# clinic share\nusername=scanner\npassword = p=w0rd\ndomain=CLINIC\n", 0o600)
    creds = load_credentials(source)
    assert (creds.username, creds.password, creds.account) == ("scanner", "p=w0rd", "CLINIC\\scanner")


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604])
def test_a_credentials_file_others_can_read_is_refused(tmp_path: Path, mode: int) -> None:
    source = config_with_file(tmp_path, "password=secret\n", mode)
    with pytest.raises(ShareError) as info:
        load_credentials(source)
    assert info.value.status == "credentials_insecure" and "chmod 600" in str(info.value)
    assert "secret" not in str(info.value)


def test_a_missing_password_variable_is_named(tmp_path: Path) -> None:
    source = load(tmp_path, CONTRACT)
    with pytest.raises(ShareError) as info:
        load_credentials(source, environ={})
    assert info.value.status == "credentials_missing" and "MEDFLOW_SMB_PASSWORD" in str(info.value)
    assert load_credentials(source, environ={"MEDFLOW_SMB_PASSWORD": "pw"}).account == "medflow"
