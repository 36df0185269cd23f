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
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "cloud"))

from PIL import Image, ImageDraw  # noqa: E402

from chalicelib.services import images  # noqa: E402

SHARP_DIR = REPO / "var" / "bench-sharp"
SHARP_VERSION = "0.34.5"
# A server: one line on stdin = make one thumbnail, answer its time (ms) and size; so the rounds of every
# implementation interleave and a busy machine slows them alike.
SHARP_SCRIPT = """
const sharp = require('sharp');
const fs = require('fs');
const readline = require('readline');
sharp.concurrency(1);
sharp.cache(false);
const data = fs.readFileSync(process.argv[2]);
const lines = readline.createInterface({input: process.stdin});
lines.on('line', async () => {
  const t = process.hrtime.bigint();
  const out = await sharp(data).rotate().resize(300, 300, {fit: 'inside', withoutEnlargement: true})
    .webp({quality: 80}).toBuffer({resolveWithObject: true});
  const ms = Number(process.hrtime.bigint() - t) / 1e6;
  console.log(JSON.stringify({ms, width: out.info.width, height: out.info.height}));
});
"""
Result = tuple[float, tuple[int, int]]  # ms, output size


def photo(width: int, height: int) -> bytes:
    """A camera-like JPEG (gradients, shapes and sensor noise, quality 90) of width x height."""
    image = Image.linear_gradient("L").resize((width, height)).convert("RGB")
    draw = ImageDraw.Draw(image)
    for i in range(0, width, max(1, width // 40)):
        draw.ellipse((i, (i * 7) % height, i + width // 10, (i * 7) % height + height // 10),
                     fill=((i * 3) % 256, (i * 5) % 256, (i * 11) % 256))  # fmt: skip
    image = Image.blend(image, Image.effect_noise((width, height), 24).convert("RGB"), 0.2)
    out = io.BytesIO()
    image.save(out, "JPEG", quality=90)
    return out.getvalue()


def plain_pillow(data: bytes) -> tuple[bytes, tuple[int, int]]:
    image = Image.open(io.BytesIO(data))
    image.thumbnail((300, 300))
    out = io.BytesIO()
    image.save(out, "WEBP", quality=80)
    return out.getvalue(), image.size


def timed(fn: Callable[[bytes], tuple[bytes, tuple[int, int]]], data: bytes) -> Result:
    start = time.perf_counter()
    _, size = fn(data)
    return (time.perf_counter() - start) * 1000, size


class Sharp:
    """Sharp (libvips) in a node process, driven one image at a time; `why` says why it cannot run."""

    def __init__(self, data: bytes) -> None:
        self.proc: subprocess.Popen[str] | None = None
        self.why = self._start(data)

    def _start(self, data: bytes) -> str | None:
        node, npm = shutil.which("node"), shutil.which("npm")
        if not node or not npm:
            return "node/npm not installed"
        if not (SHARP_DIR / "node_modules" / "sharp").is_dir():
            SHARP_DIR.mkdir(parents=True, exist_ok=True)
            (SHARP_DIR / "package.json").write_text('{"name": "bench-sharp", "private": true}\n')
            install = subprocess.run([npm, "install", "--no-audit", "--no-fund", f"sharp@{SHARP_VERSION}"],
                                     cwd=SHARP_DIR, capture_output=True, text=True, timeout=600)  # fmt: skip
            if install.returncode != 0:
                return f"npm install sharp@{SHARP_VERSION} failed: {install.stderr.strip()[-300:]}"
        (SHARP_DIR / "photo.jpg").write_bytes(data)
        (SHARP_DIR / "bench.js").write_text(SHARP_SCRIPT)
        self.proc = subprocess.Popen([node, "bench.js", "photo.jpg"], cwd=SHARP_DIR, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
        return None

    def __call__(self) -> Result:
        assert self.proc is not None and self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write("go\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"sharp failed: {self.proc.stderr.read() if self.proc.stderr else ''}")
        answer = json.loads(line)
        return float(answer["ms"]), (int(answer["width"]), int(answer["height"]))

    def close(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(10)


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


OURS, PLAIN, SHARP = "medflow (draft + reducing_gap)", "pillow plain thumbnail()", "sharp (libvips)"


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
          f"{args.rounds} rounds interleaved, one thread each")  # fmt: skip
    runners: dict[str, Callable[[], Result]] = {
        OURS: lambda: timed(images.thumbnail, data),
        PLAIN: lambda: timed(plain_pillow, data),
    }
    sharp = None if args.no_sharp else Sharp(data)
    if sharp is None or sharp.why:
        print(f"sharp: {sharp.why if sharp else 'skipped (--no-sharp)'}")
    else:
        runners[SHARP] = sharp
    times: dict[str, list[float]] = {label: [] for label in runners}
    sizes: dict[str, tuple[int, int]] = {}
    try:
        for round_ in range(args.rounds + 1):  # round 0 warms up (imports, codec tables, node's JIT)
            for label, run in runners.items():
                ms, sizes[label] = run()
                if round_:
                    times[label].append(ms)
    finally:
        if sharp is not None:
            sharp.close()
    print(f"{'implementation':34} {'p50 ms':>8} {'mean ms':>8} {'output':>9}")
    for label, values in times.items():
        size = sizes[label]
        print(f"{label:34} {statistics.median(values):8.1f} {statistics.fmean(values):8.1f} {size[0]:>4}x{size[1]:<4}")
    ours = statistics.median(times[OURS])
    print(f"ratio medflow / pillow plain: {ours / statistics.median(times[PLAIN]):.2f}x")
    if SHARP in times:
        ratio = ours / statistics.median(times[SHARP])
        verdict = "meets" if ratio <= 0.9 else "misses"
        print(f"ratio medflow / sharp: {ratio:.2f}x ({verdict} the goal of <= 0.90x)")
    with_module, bare = import_time()
    print(f"thumbnails Lambda import: {with_module:.0f} ms vs bare interpreter {bare:.0f} ms "
          f"(module share {with_module - bare:.0f} ms; Pillow loads on the first image)")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
