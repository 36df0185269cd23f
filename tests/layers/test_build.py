"""The layer build is reproducible and lays packages out as Lambda expects (`python/<pkg>/`)."""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

from layers.build import build_layer


def test_shared_models_layer_is_byte_identical_across_builds(tmp_path: Path) -> None:
    first = build_layer("shared-models", tmp_path / "a")
    second = build_layer("shared-models", tmp_path / "b")
    assert hashlib.sha256(first.read_bytes()).digest() == hashlib.sha256(second.read_bytes()).digest()
    names = zipfile.ZipFile(first).namelist()
    assert "python/shared_models/__init__.py" in names
    assert "python/shared_models/envelope.py" in names
    assert not any("__pycache__" in n for n in names)
