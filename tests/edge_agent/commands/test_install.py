"""`medflow-edge install` / `uninstall`: the systemd unit (checked by `systemd-analyze verify`) and the Windows one."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from xml.etree import ElementTree

import pytest

from edge_agent.__main__ import main
from edge_agent.commands.install import UNIT_NAME, agent_command, render_unit, watchdog_seconds
from edge_agent.config import load_config
from tests.conftest import IN_CI

CONFIG = """
[agent]
clinic_id = "c1"
agent_id = "a1"
data_dir = "{data}"
heartbeat_seconds = 30
health_port = 9101

[cloud]
bucket = "medflow-ingest"

[[sources]]
kind = "folder"
name = "inbox"
path = "{inbox}"
delete_after_upload = true

[[sources]]
kind = "folder"
name = "oct"
path = "{oct}"

[[sources]]
kind = "serial"
name = "ark"
device = "/dev/ttyUSB0"

[[sources]]
kind = "serial"
name = "chemistry"
device = "/dev/serial/by-id/usb-FTDI_FT232R-if00-port0"

[[sources]]
kind = "mllp"
name = "lab"
host = "0.0.0.0"
port = 2575

[[sources]]
kind = "astm_tcp"
name = "hematology"
host = "10.0.0.7"
port = 5000
mode = "client"

[[sources]]
kind = "dicom_scp"
name = "imaging"
host = "0.0.0.0"
port = 104
allowed_calling_aes = ["FUNDUS1"]
"""

FOLDER_ONLY = """
[agent]
clinic_id = "c1"
agent_id = "a1"
data_dir = "/var/lib/medflow-edge/spool"

[cloud]
bucket = "medflow-ingest"

[[sources]]
kind = "folder"
name = "ark"
path = "/srv/exports/ark"
"""
SYSTEM_PYTHON = ["/usr/bin/python3", "-m", "edge_agent"]  # outside /home and /root


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "etc" / "agent.toml"
    path.parent.mkdir()
    path.write_text(
        CONFIG.format(data=tmp_path / "spool", inbox=tmp_path / "inbox dir", oct=tmp_path / "oct"), encoding="utf-8"
    )
    return path


@pytest.fixture
def folder_only(tmp_path: Path) -> Path:
    path = tmp_path / "folder-only.toml"
    path.write_text(FOLDER_ONLY, encoding="utf-8")
    return path


def unit_of(text: str) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for line in text.splitlines():
        if "=" in line and not line.startswith("#"):
            key, value = line.split("=", 1)
            found.setdefault(key, []).append(value)
    return found


def test_the_unit_runs_the_agent_confined_as_medflow_with_notify_and_watchdog(config_file: Path) -> None:
    config = load_config(config_file)
    unit = unit_of(render_unit(config, config_file, agent_command()))
    assert unit["ExecStart"] == [f"{sys.executable} -m edge_agent run --config {config_file}"]
    assert unit["User"] == ["medflow"] and unit["Group"] == ["medflow"]
    assert unit["ProtectSystem"] == ["strict"] and unit["NoNewPrivileges"] == ["yes"]
    assert unit["StateDirectory"] == ["medflow-edge"]
    assert unit["Restart"] == ["on-failure"]
    assert unit["Type"] == ["notify"] and unit["NotifyAccess"] == ["main"]
    assert unit["WatchdogSec"] == [str(watchdog_seconds(config))] and int(unit["WatchdogSec"][0]) > 30 * 3
    assert unit["AmbientCapabilities"] == ["CAP_NET_BIND_SERVICE"]  # DICOM on port 104
    assert unit["EnvironmentFile"] == ["-/etc/medflow/agent.env"]  # credentials, never in the TOML
    assert unit["WantedBy"] == ["multi-user.target"]


def test_the_sandbox_follows_the_toml_folders_serial_ports_and_listeners(config_file: Path, tmp_path: Path) -> None:
    unit = unit_of(render_unit(load_config(config_file), config_file, SYSTEM_PYTHON))
    # Writable: the spool, and the one folder the agent deletes from ("-": a folder missing at start is no
    # failure); the other folder named read-only; nothing else is writable under ProtectSystem=strict.
    assert unit["ReadWritePaths"] == [f'{tmp_path / "spool"} "-{tmp_path / "inbox dir"}"']
    assert unit["ReadOnlyPaths"] == [f"-{tmp_path / 'oct'}"]
    assert unit["ProtectHome"] == ["yes"]  # nothing it uses lives in a home directory
    # The host's /dev, but only the serial ports' nodes may be opened (and their driver class, for a replug).
    assert unit["PrivateDevices"] == ["no"] and unit["DevicePolicy"] == ["closed"]
    assert unit["DeviceAllow"] == [
        "/dev/ttyUSB0 rw", "char-ttyUSB rw", "/dev/serial/by-id/usb-FTDI_FT232R-if00-port0 rw",
    ]  # fmt: skip
    assert unit["SupplementaryGroups"] == ["dialout"]
    # It may bind the MLLP, DICOM and health ports and no other (the ASTM source connects out: no bind).
    assert unit["SocketBindAllow"] == ["tcp:104", "tcp:2575", "tcp:9101"] and unit["SocketBindDeny"] == ["any"]
    assert unit["CapabilityBoundingSet"] == ["CAP_NET_BIND_SERVICE"]  # port 104


def test_a_folder_only_agent_gets_no_devices_no_listening_and_no_capability(folder_only: Path) -> None:
    unit = unit_of(render_unit(load_config(folder_only), folder_only, SYSTEM_PYTHON))
    assert "ReadWritePaths" not in unit  # the spool is inside the StateDirectory
    assert unit["ReadOnlyPaths"] == ["-/srv/exports/ark"]
    assert unit["PrivateDevices"] == ["yes"] and "DeviceAllow" not in unit and "SupplementaryGroups" not in unit
    assert "SocketBindAllow" not in unit and unit["SocketBindDeny"] == ["any"]
    assert unit["CapabilityBoundingSet"] == [""] and "AmbientCapabilities" not in unit
    assert unit["ProtectHome"] == ["yes"]


def test_home_directories_stay_readable_when_the_agent_uses_one(folder_only: Path, tmp_path: Path) -> None:
    config = load_config(folder_only)
    folder = config.sources[0].model_copy(update={"path": Path("/home/it/ark")})
    at_home = config.model_copy(update={"sources": [folder]})
    assert unit_of(render_unit(at_home, folder_only, SYSTEM_PYTHON))["ProtectHome"] == ["read-only"]
    # The agent's Python in a home directory (a venv there, or a pyenv interpreter it links to) needs it too.
    python = tmp_path / "bin" / "python3"
    python.parent.mkdir()
    python.symlink_to("/root/.pyenv/versions/3.11.7/bin/python3.11")
    unit = unit_of(render_unit(config, folder_only, [str(python), "-m", "edge_agent"]))
    assert unit["ProtectHome"] == ["read-only"]


@pytest.mark.parametrize("which", ["every_kind", "folder_only"])
def test_systemd_analyze_verify_accepts_the_printed_unit(
    which: str, config_file: Path, folder_only: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config_file = config_file if which == "every_kind" else folder_only
    tool = shutil.which("systemd-analyze")
    if tool is None:  # `make test` installs systemd's tools (scripts/system-deps.sh)
        if IN_CI:
            pytest.fail("systemd-analyze is missing")
        pytest.skip("systemd-analyze is missing (apt-get install systemd)")
    assert main(["install", "--config", str(config_file), "--print"]) == 0
    unit = tmp_path / UNIT_NAME
    unit.write_text(capsys.readouterr().out, encoding="utf-8")
    done = subprocess.run([tool, "verify", str(unit)], capture_output=True, text=True, timeout=60)
    # verify exits 0 on unknown or unparsable settings too and only says so on stderr: both must be clean
    assert done.returncode == 0 and done.stderr.strip() == "", done.stderr
    broken = tmp_path / "broken" / UNIT_NAME
    broken.parent.mkdir()
    broken.write_text(unit.read_text().replace("ProtectSystem=strict", "ProtectSystem=sometimes"), encoding="utf-8")
    done = subprocess.run([tool, "verify", str(broken)], capture_output=True, text=True, timeout=60)
    assert "Failed to parse protect system value" in done.stderr  # the check above would see a bad unit


def test_install_writes_the_unit_and_uninstall_removes_it_keeping_the_data(
    config_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    units = tmp_path / "systemd"
    spool = tmp_path / "spool"
    spool.mkdir()
    (spool / "spool.db").write_bytes(b"items")
    assert main(["install", "--config", str(config_file), "--unit-dir", str(units), "--no-enable"]) == 0
    written = (units / UNIT_NAME).read_text()
    assert written == render_unit(load_config(config_file), config_file, agent_command())
    assert f"installed {units / UNIT_NAME}" in capsys.readouterr().out
    assert main(["uninstall", "--unit-dir", str(units), "--no-enable"]) == 0
    assert not (units / UNIT_NAME).exists()
    assert (spool / "spool.db").read_bytes() == b"items" and config_file.is_file()
    assert "kept the data directory" in capsys.readouterr().out


def test_install_without_a_valid_config_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["install", "--config", str(tmp_path / "missing.toml"), "--print"]) == 2
    assert "missing.toml: no such file" in capsys.readouterr().err


def test_windows_service_definition_is_rendered_for_winsw(
    config_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["install", "--config", str(config_file), "--windows", "--windows-config", r"D:\MedFlow\agent & co.toml"]
    assert main(args) == 0
    service = ElementTree.fromstring(capsys.readouterr().out)  # noqa: S314 — our own output
    assert service.findtext("id") == "medflow-edge"
    assert service.findtext("executable") == r"C:\Program Files\MedFlow\medflow-edge.exe"
    assert service.findtext("arguments") == r'run --config "D:\MedFlow\agent & co.toml"'
    assert service.findtext("startmode") == "Automatic"
    assert [f.get("action") for f in service.findall("onfailure")] == ["restart"] * 3
    assert service.findtext("serviceaccount/username") == r"NT AUTHORITY\LocalService"
