"""AI suggest latency against the local Messages API stand-in (tests/cloud/claude_stand_in.py): the whole route
`POST /tagging/sessions/{id}/suggest` (S3 reads, 5 photos downscaled to ≤ 1568 px JPEGs, base64, the SDK call,
checking, the DynamoDB transaction) against its baseline, one bare anthropic SDK call with the same payload to
the same stand-in; plus `import anthropic` in a fresh interpreter (the route's cold-start share).

    make bench-ai                                   # 5 photos of 12 MP, 10 rounds
    python bench/ai_suggest.py --width 800 --height 600 --rounds 2     # smoke size

What the model itself takes is not here (the stand-in answers at once): add the real API's seconds.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "cloud")]

from moto import mock_aws  # noqa: E402
from pydantic import SecretStr  # noqa: E402

from tests.cloud.builders import JWT_SECRET, REGION, STAGE, bearer  # noqa: E402
from tests.cloud.claude_stand_in import running  # noqa: E402
from tests.cloud.images import photo  # noqa: E402

TYPES = ("FRONT", "LEFT", "RIGHT", "UPPER", "LOWER")


def _import_seconds() -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import anthropic"], check=True)
    return time.perf_counter() - started


def _ms(values: list[float]) -> str:
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return f"p50 {statistics.median(ordered):7.1f} ms   p95 {p95:7.1f} ms"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--width", type=int, default=4032)
    parser.add_argument("--height", type=int, default=3024)
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args()

    import os

    os.environ.update({"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "MEDFLOW_STAGE": STAGE})
    os.environ.pop("AWS_ENDPOINT_URL", None)
    cold_import = _import_seconds()
    with mock_aws(), running() as stand_in:
        from chalice.test import Client

        from app import app
        from chalicelib import aws
        from chalicelib.services import images
        from chalicelib.services.roles import Role
        from chalicelib.settings import Settings, use_settings
        from localdev.bootstrap import ensure_resources

        key = SecretStr("sk-ant-bench")
        use_settings(Settings(stage=STAGE, region=REGION, jwt_secret=JWT_SECRET, ai_model="claude-bench",
                              anthropic_api_key=key, anthropic_base_url=stand_in.url))  # fmt: skip
        names = ensure_resources(None, STAGE, REGION)
        data = photo((args.width, args.height))
        patient = bearer("clinic-bench", Role.PATIENT, user_id="pu-bench", patient_id="P-BENCH")
        doctor = bearer("clinic-bench", Role.DOCTOR, user_id="u-bench")
        json_headers = {"Content-Type": "application/json"}
        with Client(app) as client:
            opened = client.http.post("/patient/scans/sessions", headers={**patient, **json_headers}).json_body
            s3 = aws.client("s3", Settings(stage=STAGE, region=REGION))
            for image_type in TYPES:
                body = {"session_id": opened["id"], "image_type": image_type, "content_type": "image/jpeg"}
                target = client.http.post("/patient/scans/upload-url", headers={**patient, **json_headers},
                                          body=json.dumps(body)).json_body  # fmt: skip
                s3.put_object(Bucket=names.scans_bucket, Key=target["key"], Body=data, ContentType="image/jpeg")
                confirm = {**body, "key": target["key"]}
                confirm.pop("content_type")
                client.http.post("/patient/scans/upload/confirm", headers={**patient, **json_headers},
                                 body=json.dumps(confirm))  # fmt: skip
            path = f"/tagging/sessions/{opened['id']}/suggest"
            started = time.perf_counter()
            first = client.http.post(path, headers={**doctor, **json_headers})
            first_ms = (time.perf_counter() - started) * 1000
            assert first.status_code == 200, first.body
            route, model_call = [], []
            for _ in range(args.rounds):
                started = time.perf_counter()
                answer = client.http.post(path, headers={**doctor, **json_headers})
                route.append((time.perf_counter() - started) * 1000)
                model_call.append(float(answer.json_body["latency_ms"]))
            # Baseline: the bare SDK call with the same request body the route sent.
            import anthropic

            sent = stand_in.requests[-1]["body"]
            bare = anthropic.Anthropic(api_key="sk-ant-bench", base_url=stand_in.url, max_retries=0)
            baseline = []
            for _ in range(args.rounds):
                started = time.perf_counter()
                bare.messages.create(**{k: v for k, v in sent.items() if k != "stream"})
                baseline.append((time.perf_counter() - started) * 1000)
            downscale = []
            for _ in range(args.rounds):
                started = time.perf_counter()
                _, size = images.for_model(data)
                downscale.append((time.perf_counter() - started) * 1000)
        payload_kb = (
            sum(len(b["source"]["data"]) for b in sent["messages"][0]["content"] if b["type"] == "image") / 1024
        )
    print(f"AI suggest, {len(TYPES)} photos of {args.width}x{args.height} → {size[0]}x{size[1]} JPEG, "
          f"{payload_kb:.0f} KiB base64 per request, {args.rounds} rounds")  # fmt: skip
    print(f"  import anthropic (fresh interpreter)  {cold_import * 1000:7.0f} ms")
    print(f"  first suggest in the process           {first_ms:7.0f} ms (imports the SDK, builds the client)")
    print(f"  suggest route                          {_ms(route)}")
    print(f"    of which the SDK call (latency_ms)   {_ms(model_call)}")
    print(f"    downscale one photo                  {_ms(downscale)}")
    print(f"  baseline: bare SDK call, same payload  {_ms(baseline)}")
    print(f"  ratio route / bare SDK call (p50)      {statistics.median(route) / statistics.median(baseline):7.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
