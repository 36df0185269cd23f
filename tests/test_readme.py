"""The README stays true: its agent configuration example loads, and it shows the two commands."""

from __future__ import annotations

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
