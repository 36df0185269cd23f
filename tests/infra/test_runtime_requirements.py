"""What Lambda runs must be what Chalice packages: every third-party module that cloud/ imports (at module level
or lazily inside a function) is provided by a distribution listed in cloud/requirements.txt, pinned exactly as in
requirements.lock. A lazy import missing there passes every local test and fails only in AWS, at the first request
that reaches it (a diagnosis, a thumbnail)."""

from __future__ import annotations

import ast
import re
import sys
from importlib.metadata import packages_distributions
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CLOUD = REPO / "cloud"
# Provided otherwise: the Lambda runtime (boto3, botocore), the shared-models layer, Chalice's own runtime
# package, and the app itself.
PROVIDED = {"boto3", "botocore", "shared_models", "chalice", "chalicelib", "app"}
# Imported only inside `try: ... except ImportError` as an optional extra (HEIF decoding: docs/portal.md).
OPTIONAL = {"pillow_heif"}
# Known gaps, named so that nothing can join them unnoticed: none. The imaging stack (scan confirm, thumbnails,
# DICOM previews) was one until Pillow and numpy were held at releases with manylinux2014 wheels for the
# python3.11 Lambda (requirements.in); tests/infra/test_package.py checks the zip really holds them, built so.
NOT_YET_PACKAGED: set[str] = set()


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _pins(path: Path) -> dict[str, str]:
    pins = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if "==" in line:
            name, version = line.split("==", 1)
            pins[_norm(name)] = version.strip()
    return pins


def _imported_modules() -> set[str]:
    found: set[str] = set()
    for path in [CLOUD / "app.py", *sorted((CLOUD / "chalicelib").rglob("*.py"))]:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                found.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found.add(node.module.split(".")[0])
    return found - set(sys.stdlib_module_names) - {"__future__"}


def test_every_third_party_import_of_the_cloud_is_packaged_with_the_locks_pin() -> None:
    runtime, lock = _pins(CLOUD / "requirements.txt"), _pins(REPO / "requirements.lock")
    distributions = packages_distributions()
    missing, unpinned = [], []
    for module in sorted(_imported_modules() - PROVIDED - OPTIONAL - NOT_YET_PACKAGED):
        names = {_norm(d) for d in distributions.get(module, [])}
        assert names, f"{module}: no installed distribution provides it (is it in requirements.lock?)"
        listed = names & set(runtime)
        if not listed:
            missing.append(f"{module} ({', '.join(sorted(names))})")
        unpinned += [f"{n}=={runtime[n]} (lock: {lock.get(n)})" for n in listed if runtime[n] != lock.get(n)]
    assert missing == [], f"imported by cloud/ but not in cloud/requirements.txt: {missing}"
    assert unpinned == [], f"cloud/requirements.txt pins that differ from requirements.lock: {unpinned}"


def test_the_check_sees_lazy_imports() -> None:
    """The imports it must see include those made inside functions (the ICD-10 list, DICOM previews)."""
    assert {"simple_icd_10_cm", "pydicom", "numpy", "PIL"} <= _imported_modules()
