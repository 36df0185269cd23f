"""The README stays true: its agent configuration example loads, and it shows the two commands."""

from __future__ import annotations

import json
import re
from pathlib import Path

from edge_agent.config import load_config

README = Path(__file__).resolve().parent.parent / "README.md"


def test_readme_agent_config_example_is_valid(tmp_path: Path) -> None:
    blocks = re.findall(r"```toml\n(.*?)```", README.read_text(encoding="utf-8"), re.S)
    assert blocks, "README has no TOML example"
    for i, block in enumerate(blocks):
        path = tmp_path / f"example{i}.toml"
        path.write_text(block, encoding="utf-8")
        config = load_config(path)
        assert config.sources, "the example configures no source"


def test_readme_leads_with_the_two_commands() -> None:
    text = README.read_text(encoding="utf-8")
    assert text.index("make run") < text.index("## Architecture")
    assert "make test" in text


def test_readme_patient_at_home_uses_the_end_to_end_walk_s_bodies() -> None:
    """README "A patient at home" and tests/e2e/test_portal_day.py send the same bodies: they change together."""
    from tests.e2e import test_portal_day as walk

    text = README.read_text(encoding="utf-8")
    start = text.index("### A patient at home")
    section = re.sub(r"\s+", " ", text[start : text.index("\n## ", start)])
    fragments = [json.dumps({name: value})[1:-1] for name, value in (walk.PERSON | walk.TAGS).items()]
    values = [walk.EMAIL, walk.PATIENT_PASSWORD, walk.THREAD["subject"], walk.DOCTOR_MESSAGE, walk.PATIENT_REPLY]
    missing = [item for item in fragments + values + list(walk.IMAGE_TYPES) if item not in section]
    assert not missing, f"README 'A patient at home' lacks {missing}"
