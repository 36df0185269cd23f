"""`make run`'s demo agent configuration loads, with the DICOM Storage SCP on its port."""

from __future__ import annotations

from pathlib import Path

from edge_agent.config import DicomScpSourceConfig, load_config
from localdev.settings import LocalSettings
from localdev.stack import agent_config, banner


def test_demo_agent_config_is_valid_and_listens_for_dicom(tmp_path: Path) -> None:
    settings = LocalSettings(var_dir=tmp_path, dicom_port=11999)
    config = load_config(agent_config(settings, "medflow-local-ingest"))
    dicom = [s for s in config.sources if isinstance(s, DicomScpSourceConfig)]
    assert len(dicom) == 1 and dicom[0].port == 11999 and "STORESCU" in dicom[0].allowed_calling_aes
    assert "127.0.0.1:11999" in banner(settings)


def test_demo_agent_polls_its_published_configuration(tmp_path: Path) -> None:
    settings = LocalSettings(var_dir=tmp_path)
    config = load_config(agent_config(settings, "medflow-local-ingest"))
    assert config.agent.remote_config and config.agent.remote_config_seconds == 10
    assert f"{settings.api_url}/agents/{settings.agent_id}/config" in banner(settings)
