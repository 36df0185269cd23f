"""Thumbnail speed: a 12 MP JPEG → a WebP fitting 300x300, per image, for our implementation
(`chalicelib.services.images.thumbnail`: draft() + reducing_gap + EXIF transpose), Pillow's plain
`thumbnail()` (full decode, then resample), and Sharp (libvips, npm) side by side; plus the thumbnails
Lambda's import time (its cold-start share).

    make bench-thumbnails                     # 12 MP, 20 rounds
    python bench/thumbnails.py --width 400 --height 300 --rounds 2 --no-sharp   # smoke size

Sharp is installed by npm into var/bench-sharp/ the first time (skipped with the reason when the registry
or node is unavailable). Goal: ours ≤ 0.9x Sharp's time per image.
"""

from __future__ import annotations

import argparse
import io
import json
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "cloud"))

from PIL import Image, ImageDraw  # noqa: E402

from chalicelib.services import images  # noqa: E402

SHARP_DIR = REPO / "var" / "bench-sharp"
SHARP_VERSION = "0.34.5"
SHARP_SCRIPT = """
const sharp = require('sharp');
const fs = require('fs');
sharp.concurrency(1);
sharp.cache(false);
const data = fs.readFileSync(process.argv[2]);
const rounds = parseInt(process.argv[3], 10);
(async () => {
  await sharp(data).resize(300, 300, {fit: 'inside', withoutEnlargement: true}).rotate().webp({quality: 80}).toBuffer();
  const times = [];
  let info;
  for (let i = 0; i < rounds; i++) {
    const t = process.hrtime.bigint();
    const out = await sharp(data).rotate().resize(300, 300, {fit: 'inside', withoutEnlargement: true})
      .webp({quality: 80}).toBuffer({resolveWithObject: true});
    times.push(Number(process.hrtime.bigint() - t) / 1e6);
    info = out.info;
  }
  console.log(JSON.stringify({times, width: info.width, height: info.height}));
})();
"""


def photo(width: int, height: int) -> bytes:
    """A camera-like JPEG (gradients and shapes, quality 90) of width x height."""
    image = Image.linear_gradient("L").resize((width, height)).convert("RGB")
    draw = ImageDraw.Draw(image)
    for i in range(0, width, max(1, width // 40)):
        draw.ellipse((i, (i * 7) % height, i + width // 10, (i * 7) % height + height // 10),
                     fill=((i * 3) % 256, (i * 5) % 256, (i * 11) % 256))  # fmt: skip
    out = io.BytesIO()
    image.save(out, "JPEG", quality=90)
    return out.getvalue()


def plain_pillow(data: bytes) -> tuple[bytes, tuple[int, int]]:
    image = Image.open(io.BytesIO(data))
    image.thumbnail((300, 300))
    out = io.BytesIO()
    image.save(out, "WEBP", quality=80)
    return out.getvalue(), image.size


def measure(fn: object, data: bytes, rounds: int) -> tuple[list[float], tuple[int, int]]:
    call = fn  # type: ignore[assignment]
    _, size = call(data)  # type: ignore[operator]  # warm-up (imports, codec tables)
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        _, size = call(data)  # type: ignore[operator]
        times.append((time.perf_counter() - start) * 1000)
    return times, size


def sharp(data: bytes, rounds: int) -> tuple[list[float], tuple[int, int]] | str:
    """Sharp's per-image times (ms, inside node), or why it could not run."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if not node or not npm:
        return "node/npm not installed"
    if not (SHARP_DIR / "node_modules" / "sharp").is_dir():
        SHARP_DIR.mkdir(parents=True, exist_ok=True)
        (SHARP_DIR / "package.json").write_text('{"name": "bench-sharp", "private": true}\n')
        install = subprocess.run([npm, "install", "--no-audit", "--no-fund", f"sharp@{SHARP_VERSION}"], cwd=SHARP_DIR,
                                 capture_output=True, text=True, timeout=600)  # fmt: skip
        if install.returncode != 0:
            return f"npm install sharp@{SHARP_VERSION} failed: {install.stderr.strip()[-300:]}"
    source = SHARP_DIR / "photo.jpg"
    source.write_bytes(data)
    script = SHARP_DIR / "bench.js"
    script.write_text(SHARP_SCRIPT)
    run = subprocess.run([node, str(script), str(source), str(rounds)], cwd=SHARP_DIR, capture_output=True, text=True,
                         timeout=600)  # fmt: skip
    if run.returncode != 0:
        return f"sharp failed: {run.stderr.strip()[-300:]}"
    answer = json.loads(run.stdout.strip().splitlines()[-1])
    return [float(t) for t in answer["times"]], (int(answer["width"]), int(answer["height"]))


def import_time(rounds: int = 5) -> tuple[float, float]:
    """Median wall time (ms) of a fresh interpreter importing the thumbnails handler module, and of one
    importing nothing (the interpreter's own start), so the difference is the module's cold-start share."""

    def run(code: str) -> float:
        times = []
        for _ in range(rounds):
            start = time.perf_counter()
            subprocess.run([sys.executable, "-c", code], cwd=REPO / "cloud", check=True, env={"PATH": "/usr/bin"})
            times.append((time.perf_counter() - start) * 1000)
        return statistics.median(times)

    return run("import chalicelib.events.thumbnails"), run("pass")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--width", type=int, default=4000)
    parser.add_argument("--height", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--no-sharp", action="store_true", help="skip Sharp (no npm install)")
    args = parser.parse_args(argv)

    data = photo(args.width, args.height)
    megapixels = args.width * args.height / 1e6
    print(f"source: {args.width}x{args.height} JPEG ({megapixels:.1f} MP, {len(data) / 1e6:.2f} MB), "
          f"{args.rounds} rounds, one thread each")  # fmt: skip
    rows: dict[str, tuple[list[float], tuple[int, int]]] = {
        "medflow (draft + reducing_gap)": measure(images.thumbnail, data, args.rounds),
        "pillow plain thumbnail()": measure(plain_pillow, data, args.rounds),
    }
    sharp_result = "skipped (--no-sharp)" if args.no_sharp else sharp(data, args.rounds)
    if isinstance(sharp_result, str):
        print(f"sharp: {sharp_result}")
    else:
        rows["sharp (libvips)"] = sharp_result
    print(f"{'implementation':34} {'p50 ms':>8} {'mean ms':>8} {'output':>9}")
    for label, (times, size) in rows.items():
        print(f"{label:34} {statistics.median(times):8.1f} {statistics.fmean(times):8.1f} {size[0]:>4}x{size[1]:<4}")
    ours = statistics.median(rows["medflow (draft + reducing_gap)"][0])
    plain = statistics.median(rows["pillow plain thumbnail()"][0])
    print(f"ratio medflow / pillow plain: {ours / plain:.2f}x")
    if "sharp (libvips)" in rows:
        ratio = ours / statistics.median(rows["sharp (libvips)"][0])
        verdict = "meets" if ratio <= 0.9 else "misses"
        print(f"ratio medflow / sharp: {ratio:.2f}x ({verdict} the goal of <= 0.90x)")
    with_module, bare = import_time()
    print(f"thumbnails Lambda import: {with_module:.0f} ms vs bare interpreter {bare:.0f} ms "
          f"(module share {with_module - bare:.0f} ms; Pillow loads on the first image)")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
