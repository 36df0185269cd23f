"""Config: TOML validated at start; unknown keys and bad values fail naming the key path."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge_agent.config import FolderSourceConfig, MllpSourceConfig, load_config
from edge_agent.errors import ConfigError

BASE = """
[agent]
clinic_id = "clinic1"
agent_id = "agent1"
data_dir = "spool-data"

[cloud]
bucket = "ingest-bucket"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "agent.toml"
    path.write_text(text, encoding="utf-8")
    return path


def error_of(tmp_path: Path, text: str) -> str:
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, text))
    return str(info.value)


def test_minimal_config_has_documented_defaults_and_resolves_paths_against_the_file(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, BASE + '[[sources]]\nkind = "folder"\nname = "inbox"\npath = "inbox"\n'))
    assert cfg.agent.data_dir == tmp_path / "spool-data"
    assert cfg.agent.heartbeat_seconds == 60
    assert cfg.cloud.region == "us-east-1" and cfg.cloud.sse == "AES256" and cfg.cloud.endpoint_url is None
    folder = cfg.sources[0]
    assert isinstance(folder, FolderSourceConfig)
    assert folder.path == tmp_path / "inbox"
    assert folder.recursive and folder.settle_seconds == 2.0 and not folder.delete_after_upload
    assert folder.exclude == ["*.tmp", "~$*", ".*"]


def test_all_source_kinds_parse(tmp_path: Path) -> None:
    text = (
        BASE
        + """
[[sources]]
kind = "mllp"
name = "lab"
port = 2576
[[sources]]
kind = "serial"
name = "ark"
device = "/dev/ttyUSB0"
parity = "E"
protocol = "lines"
[[sources]]
kind = "astm_tcp"
name = "analyzer"
port = 5000
mode = "client"
"""
    )
    cfg = load_config(write(tmp_path, text))
    assert [s.kind for s in cfg.sources] == ["mllp", "serial", "astm_tcp"]
    assert isinstance(cfg.sources[0], MllpSourceConfig) and cfg.sources[0].max_message_bytes == 1_048_576


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ('[[sources]]\nkind = "folder"\nname = "a"\npath = "p"\nsettle_seconds = 0\n',
         "sources[0].settle_seconds: Input should be greater than 0"),
        ('[[sources]]\nkind = "folder"\nname = "a"\npath = "p"\nsettel_seconds = 1\n',
         "sources[0].settel_seconds: Extra inputs are not permitted"),
        ('[[sources]]\nkind = "ftp"\nname = "a"\n', "sources[0].kind: must be one of folder, mllp, serial, astm_tcp"),
        ('[[sources]]\nkind = "serial"\nname = "a"\ndevice = "/dev/x"\nparity = "X"\n', "sources[0].parity"),
        ('[[sources]]\nkind = "astm_tcp"\nname = "a"\n', "sources[0].port: Field required"),
        ('[[sources]]\nkind = "folder"\nname = "a"\npath = "p"\npatient_id_patterns = ["*/x"]\n',
         "sources[0].patient_id_patterns: pattern '*/x' must contain {patient_id} exactly once"),
        ('[[sources]]\nkind = "mllp"\nname = "a"\n[[sources]]\nkind = "mllp"\nname = "a"\nport = 1\n',
         "sources: source name 'a' is used twice (sources[0] and sources[1])"),
    ],
)  # fmt: skip
def test_bad_sources_name_the_key(tmp_path: Path, extra: str, expected: str) -> None:
    assert expected in error_of(tmp_path, BASE + extra)


def test_unknown_top_level_and_section_keys_are_refused(tmp_path: Path) -> None:
    assert "agent.heartbeat: Extra inputs are not permitted" in error_of(
        tmp_path, BASE.replace("[cloud]", "heartbeat = 5\n[cloud]")
    )
    assert "aws_secret_access_key: Extra inputs are not permitted" in error_of(
        tmp_path, BASE + 'aws_secret_access_key = "nope"\n'
    )


def test_missing_required_key_and_bad_ids(tmp_path: Path) -> None:
    assert "cloud.bucket: Field required" in error_of(tmp_path, BASE.replace('bucket = "ingest-bucket"', ""))
    assert "agent.clinic_id: String should match pattern" in error_of(tmp_path, BASE.replace("clinic1", "clinic 1/x"))


def test_kms_needs_a_key_id(tmp_path: Path) -> None:
    assert 'cloud: kms_key_id is required when sse = "aws:kms"' in error_of(tmp_path, BASE + 'sse = "aws:kms"\n')
    cfg = load_config(write(tmp_path, BASE + 'sse = "aws:kms"\nkms_key_id = "alias/medflow"\n'))
    assert cfg.cloud.kms_key_id == "alias/medflow"


def test_unreadable_files_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such file"):
        load_config(tmp_path / "missing.toml")
    assert "invalid TOML" in error_of(tmp_path, "[agent\nclinic_id=")


def test_the_documented_example_config_is_valid(tmp_path: Path) -> None:
    doc = (Path(__file__).resolve().parents[2] / "docs" / "edge_agent.md").read_text(encoding="utf-8")
    example = doc.split("```toml\n", 1)[1].split("```", 1)[0]
    cfg = load_config(write(tmp_path, example))
    assert [s.kind for s in cfg.sources] == ["folder", "mllp", "serial", "astm_tcp"]
