"""docs/roles.md is generated from the permission and route tables: the committed file must be current."""

from __future__ import annotations

from pathlib import Path

from chalicelib import roles_doc
from chalicelib.api.endpoint import ROUTES
from chalicelib.services.roles import Permission, Role

DOC = Path(__file__).resolve().parents[2] / "docs" / "roles.md"


def test_the_committed_roles_doc_is_what_the_code_generates() -> None:
    assert DOC.read_text(encoding="utf-8") == roles_doc.render(), "docs/roles.md is stale: run `make roles-doc`"


def test_every_permission_has_a_meaning() -> None:
    assert set(roles_doc.MEANING) == set(Permission)


def test_the_doc_has_a_column_per_role_and_a_row_per_route() -> None:
    text = roles_doc.render()
    header = next(line for line in text.splitlines() if line.startswith("| permission |"))
    assert header.split(" | ")[2:] == [*[role.value for role in Role][:-1], Role.PATIENT.value + " |"]
    for route in ROUTES:
        assert f"| {route.method} | `{route.path}` |" in text


def test_main_writes_the_file(tmp_path: Path) -> None:
    out = tmp_path / "roles.md"
    assert roles_doc.main([str(out)]) == 0
    assert out.read_text(encoding="utf-8") == roles_doc.render()
