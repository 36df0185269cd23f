"""Builds the Lambda layers reproducibly: same sources in, byte-identical zip out.

`shared_models` reaches Lambda as a layer (Chalice packages only app.py, chalicelib/, vendor/).
A layer zip holds `python/<package>/...`; entries are sorted, timestamps fixed and permissions
normalised so the zip's SHA-256 changes only when the code does.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
FIXED_TIME = (1980, 1, 1, 0, 0, 0)  # the earliest time a zip can store
LAYERS: dict[str, list[str]] = {"shared-models": ["shared_models"]}


def _files(package: Path) -> list[Path]:
    return sorted(p for p in package.rglob("*") if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc")


def build_layer(name: str, out_dir: Path) -> Path:
    """Writes `{out_dir}/{name}.zip` and returns its path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / f"{name}.zip"
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for package in LAYERS[name]:
            root = REPO / package
            for path in _files(root):
                info = zipfile.ZipInfo(f"python/{package}/{path.relative_to(root).as_posix()}", FIXED_TIME)
                info.external_attr = 0o644 << 16
                info.compress_type = zipfile.ZIP_DEFLATED
                zf.writestr(info, path.read_bytes())
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=REPO / "var" / "layers")
    parser.add_argument("layers", nargs="*", default=sorted(LAYERS))
    args = parser.parse_args(argv)
    for name in args.layers:
        if name not in LAYERS:
            print(f"unknown layer {name!r}; known: {', '.join(sorted(LAYERS))}", file=sys.stderr)
            return 2
        path = build_layer(name, args.out)
        print(f"{path}  sha256={hashlib.sha256(path.read_bytes()).hexdigest()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
