"""`make package`: the deployable bundle really runs: both functions get the shared-models layer, and the
API app imports from the function zip plus the layer alone (as Lambda lays them out), but not without it. The
imaging stack (Pillow, numpy, pydicom) is in the zip as wheels the runtime can load (python3.11: manylinux2014
cp311, glibc 2.26 at most), and makes a thumbnail and a DICOM preview from the zip alone."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import boto3
import pytest
import s3transfer

REPO = Path(__file__).resolve().parents[2]
# glibc of the Lambda runtime Chalice picks (the packaging interpreter's): python3.11 is Amazon Linux 2, glibc 2.26;
# 3.12 and later are Amazon Linux 2023, 2.34. A shared object needing a newer symbol version (python3.11: from a
# manylinux_2_28 wheel) fails to load there at the first import, though it loads on any newer machine.
LAMBDA_GLIBC = {"python3.11": (2, 26)}
NEWER_RUNTIMES_GLIBC = (2, 34)
# Lambda's limit on a function's unzipped code plus its layers (250 MB).
LAMBDA_UNZIPPED_LIMIT = 262_144_000


@pytest.fixture(scope="module")
def package(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("package")
    subprocess.run(
        ["make", "-s", "package", f"PACKAGE_DIR={out}"], cwd=REPO, check=True, capture_output=True, timeout=600
    )
    return out


def _functions(template: dict) -> dict[str, dict]:
    return {k: v for k, v in template["Resources"].items() if v["Type"] == "AWS::Serverless::Function"}


@pytest.mark.integration
def test_every_function_gets_the_shared_models_layer_and_only_the_api_the_jwt_key_s_name(package: Path) -> None:
    template = json.loads((package / "sam.json").read_text(encoding="utf-8"))
    functions = _functions(template)
    assert set(functions) == {"APIHandler", "Ingest", "Thumbnails", "Fleet", "Notify"}
    assert all(f["Properties"]["Layers"] == [{"Ref": "SharedModelsLayer"}] for f in functions.values())
    api, ingest = (functions[name]["Properties"]["Environment"]["Variables"] for name in ("APIHandler", "Ingest"))
    assert api["MEDFLOW_STAGE"] == ingest["MEDFLOW_STAGE"] == "prod"  # Chalice's variables kept
    assert api["MEDFLOW_JWT_SECRET_PARAM"] == {"Ref": "JwtSecretParameter"}
    assert not {"MEDFLOW_JWT_SECRET", "MEDFLOW_JWT_SECRET_PARAM"} & set(ingest)
    fleet = functions["Fleet"]["Properties"]
    assert not {"MEDFLOW_JWT_SECRET", "MEDFLOW_JWT_SECRET_PARAM"} & set(fleet["Environment"]["Variables"])
    # The schedule Chalice adds for `@app.schedule(Rate(5, ...), name="fleet")`.
    assert [e["Properties"]["Schedule"] for e in fleet["Events"].values()] == ["rate(5 minutes)"]
    assert "MEDFLOW_JWT_SECRET" not in api  # the key itself is in no environment
    assert template["Parameters"]["JwtSecretParameter"]["Default"] == "/medflow/prod/jwt-secret"
    layer = template["Resources"]["SharedModelsLayer"]["Properties"]
    assert (package / layer["ContentUri"]).is_file()
    assert layer["CompatibleRuntimes"] == [functions["APIHandler"]["Properties"]["Runtime"]]


@pytest.fixture(scope="module")
def lambda_layout(package: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """The function zip, the layer and the runtime's own boto3, unpacked where Lambda puts them."""
    root = tmp_path_factory.mktemp("lambda")
    task, opt, runtime = root / "task", root / "opt", root / "runtime"
    zipfile.ZipFile(package / "deployment.zip").extractall(task)
    zipfile.ZipFile(package / "shared-models.zip").extractall(opt)
    runtime.mkdir()
    for module in (boto3, s3transfer):  # what the Lambda Python runtime itself provides
        (runtime / module.__name__).symlink_to(Path(module.__file__).parent)
    return task, opt, runtime


def _run(probe: str, cwd: Path, *paths: Path) -> subprocess.CompletedProcess[str]:
    code = f"import sys; sys.path[:0] = {[str(p) for p in paths]!r}\n{probe}"
    env = {"MEDFLOW_STAGE": "local", "PATH": "/usr/bin:/bin"}
    # -S: no site-packages, so nothing of this virtual environment can stand in for the bundle.
    return subprocess.run(
        [sys.executable, "-S", "-c", code], capture_output=True, text=True, env=env, cwd=cwd, timeout=60
    )


@pytest.mark.integration
def test_the_app_imports_from_the_function_zip_and_the_layer_as_lambda_lays_them_out(
    lambda_layout: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    task, opt, runtime = lambda_layout
    probe = "import app, shared_models; print(app.app.app_name, shared_models.__file__)"
    with_layer = _run(probe, tmp_path, task, opt / "python", runtime)
    assert with_layer.returncode == 0, with_layer.stderr
    assert with_layer.stdout.split() == ["medflow", str(opt / "python" / "shared_models" / "__init__.py")]
    without = _run(probe, tmp_path, task, runtime)
    assert without.returncode != 0 and "No module named 'shared_models'" in without.stderr


def _lock_pins() -> dict[str, str]:
    lines = (REPO / "requirements.lock").read_text(encoding="utf-8").splitlines()
    return {n.lower(): v for n, _, v in (line.partition("==") for line in lines if "==" in line)}


def _wheel_glibc(platform: str) -> tuple[int, int] | None:
    """The glibc a wheel platform tag asks for: manylinux2014_x86_64 → (2, 17), manylinux_2_28_x86_64 → (2, 28)."""
    legacy = {"manylinux1": (2, 5), "manylinux2010": (2, 12), "manylinux2014": (2, 17)}
    if match := re.fullmatch(r"manylinux_([0-9]+)_([0-9]+)_x86_64", platform):
        return int(match[1]), int(match[2])
    return legacy.get(platform.removesuffix("_x86_64")) if platform.endswith("_x86_64") else None


@pytest.mark.integration
def test_the_imaging_stack_is_packaged_as_wheels_the_lambda_runtime_can_load(package: Path) -> None:
    runtime = _functions(json.loads((package / "sam.json").read_text(encoding="utf-8")))["Thumbnails"]
    runtime_name = runtime["Properties"]["Runtime"]  # python3.11 when packaged by this repository's .venv
    abi = "cp" + runtime_name.removeprefix("python").replace(".", "")
    glibc = LAMBDA_GLIBC.get(runtime_name, NEWER_RUNTIMES_GLIBC)
    pins = _lock_pins()
    with zipfile.ZipFile(package / "deployment.zip") as bundle:
        names = set(bundle.namelist())
        for dist in ("pillow", "numpy"):  # compiled: a manylinux wheel for the runtime's abi and glibc
            wheel = bundle.read(f"{dist}-{pins[dist]}.dist-info/WHEEL").decode()
            tags = [line.removeprefix("Tag: ").split("-") for line in wheel.splitlines() if line.startswith("Tag: ")]
            fits = [t for t in tags if t[:2] == [abi, abi] and (_wheel_glibc(t[2]) or (99, 0)) <= glibc]
            assert fits, f"{dist}=={pins[dist]}: no {abi} wheel for glibc {glibc}: {tags}"
        assert "Tag: py3-none-any" in bundle.read(f"pydicom-{pins['pydicom']}.dist-info/WHEEL").decode().splitlines()
        assert {
            f"PIL/_imaging.{abi.replace('cp', 'cpython-')}-x86_64-linux-gnu.so",
            f"numpy/_core/_multiarray_umath.{abi.replace('cp', 'cpython-')}-x86_64-linux-gnu.so",
        } <= names
        # Each shared object's needed symbol versions (GLIBC_2.x names in its dynamic string table), every
        # library of the bundle, the imaging ones' bundled .libs included.
        shared = sorted(n for n in names if re.search(r"\.so(\.[0-9]+)*$", n))
        assert any(n.startswith("pillow.libs/") for n in shared) and any(n.startswith("numpy.libs/") for n in shared)
        too_new = {}
        for name in shared:
            needed = {
                tuple(int(p) for p in v.split(b"."))
                for v in re.findall(rb"GLIBC_([0-9]+\.[0-9]+(?:\.[0-9]+)?)", bundle.read(name))
            }
            if needed and max(needed) > glibc:
                too_new[name] = ".".join(map(str, max(needed)))
        assert too_new == {}, f"needs a newer glibc than {runtime_name}'s {glibc}: {too_new}"
        unzipped = sum(info.file_size for info in bundle.infolist())
    with zipfile.ZipFile(package / "shared-models.zip") as layer:
        unzipped += sum(info.file_size for info in layer.infolist())
    assert unzipped < LAMBDA_UNZIPPED_LIMIT, f"{unzipped:,} bytes unzipped: over Lambda's 250 MB"


@pytest.mark.integration
def test_the_zip_alone_makes_a_thumbnail_and_a_dicom_preview(
    lambda_layout: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    task, opt, runtime = lambda_layout
    probe = """
import io
from pathlib import Path
import numpy, PIL, pydicom
from PIL import Image
from chalicelib.services import images
photo = io.BytesIO()
Image.new("RGB", (1200, 900), "teal").save(photo, "JPEG")
dicom = (Path(pydicom.__file__).parent / "data" / "test_files" / "CT_small.dcm").read_bytes()
for data in (photo.getvalue(), dicom):
    webp, size = images.thumbnail(data)
    print(webp[8:12].decode(), *size)
print(PIL.__file__, numpy.__file__, pydicom.__file__)
"""
    made = _run(probe, tmp_path, task, opt / "python", runtime)
    assert made.returncode == 0, made.stderr
    lines = made.stdout.splitlines()
    assert lines[:2] == ["WEBP 300 225", "WEBP 128 128"]
    assert all(Path(f).is_relative_to(task) for f in lines[2].split())


@pytest.mark.integration
def test_the_merged_sam_template_passes_cfn_lint(package: Path) -> None:
    lint = subprocess.run(
        [str(Path(sys.executable).parent / "cfn-lint"), str(package / "sam.json")],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert lint.returncode == 0, lint.stdout + lint.stderr


@pytest.mark.integration
def test_each_function_runs_under_its_own_role_with_its_generated_policy(package: Path) -> None:
    from infra.policies import FUNCTION_TABLES, LOGICAL_IDS, policies

    resources = json.loads((package / "sam.json").read_text(encoding="utf-8"))["Resources"]
    documents = policies(FUNCTION_TABLES)
    roles = set()
    for function, logical_id in LOGICAL_IDS.items():
        role = resources[logical_id]["Properties"]["Role"]["Fn::GetAtt"][0]
        roles.add(role)
        assert [p["PolicyDocument"] for p in resources[role]["Properties"]["Policies"]] == [documents[function]]
        assert resources[logical_id]["Properties"]["FunctionName"] == f"medflow-prod-{function}"
    assert len(roles) == len(LOGICAL_IDS)


@pytest.mark.integration
def test_api_gateway_throttles_the_stage_and_the_auth_routes_harder(package: Path) -> None:
    api = json.loads((package / "sam.json").read_text(encoding="utf-8"))["Resources"]["RestAPI"]["Properties"]
    settings = {(s["ResourcePath"], s["HttpMethod"]): s for s in api["MethodSettings"]}
    assert settings[("/*", "*")]["ThrottlingRateLimit"] > settings[("/~1auth~1login", "POST")]["ThrottlingRateLimit"]
    assert settings[("/~1auth~1refresh", "POST")]["ThrottlingBurstLimit"] >= 1
    assert api["StageName"] == "api" and "DefinitionBody" in api  # merged into Chalice's API, not replacing it
