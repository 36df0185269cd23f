"""`make package`: the deployable bundle really runs: both functions get the shared-models layer, and the
API app imports from the function zip plus the layer alone (as Lambda lays them out), but not without it."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import boto3
import pytest
import s3transfer

REPO = Path(__file__).resolve().parents[2]


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


@pytest.mark.integration
def test_the_app_imports_from_the_function_zip_and_the_layer_as_lambda_lays_them_out(
    package: Path, tmp_path: Path
) -> None:
    task, opt, runtime = tmp_path / "task", tmp_path / "opt", tmp_path / "runtime"
    zipfile.ZipFile(package / "deployment.zip").extractall(task)
    zipfile.ZipFile(package / "shared-models.zip").extractall(opt)
    runtime.mkdir()
    for module in (boto3, s3transfer):  # what the Lambda Python runtime itself provides
        (runtime / module.__name__).symlink_to(Path(module.__file__).parent)
    probe = "import app, shared_models; print(app.app.app_name, shared_models.__file__)"

    def run(*paths: Path) -> subprocess.CompletedProcess[str]:
        code = f"import sys; sys.path[:0] = {[str(p) for p in paths]!r}; {probe}"
        env = {"MEDFLOW_STAGE": "local", "PATH": "/usr/bin:/bin"}
        # -S: no site-packages, so nothing of this virtual environment can stand in for the bundle.
        return subprocess.run(
            [sys.executable, "-S", "-c", code], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=60
        )

    with_layer = run(task, opt / "python", runtime)
    assert with_layer.returncode == 0, with_layer.stderr
    assert with_layer.stdout.split() == ["medflow", str(opt / "python" / "shared_models" / "__init__.py")]
    without = run(task, runtime)
    assert without.returncode != 0 and "No module named 'shared_models'" in without.stderr


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
