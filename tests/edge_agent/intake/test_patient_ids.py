"""Patient ids from folder and file names: glob patterns with a {patient_id} placeholder."""

from __future__ import annotations

import pytest

from edge_agent.intake.patient_ids import compile_pattern, match_path, normalize_id, resolve_patient
from shared_models import PatientRef


@pytest.mark.parametrize(
    ("pattern", "relative_path", "expected", "source"),
    [
        ("{patient_id}/*", "P123/scan.xml", "P123", "folder_pattern"),
        ("**/{patient_id}/*", "2024/05/P123/scan.xml", "P123", "folder_pattern"),
        ("**/{patient_id}/*", "P123/scan.xml", "P123", "folder_pattern"),
        ("{patient_id}/**", "P123/visit/1/scan.xml", "P123", "folder_pattern"),
        ("*_{patient_id}_*", "any/where/scan_P123_OD_2024.xml", "P123", "filename_pattern"),
        ("{patient_id}-*.xml", "P77-od.xml", "P77", "filename_pattern"),
        ("  {patient_id}.txt", "  P5 .txt", "P5", "filename_pattern"),
    ],
)
def test_patterns_find_the_id(pattern: str, relative_path: str, expected: str, source: str) -> None:
    found, warnings = match_path([pattern], relative_path, relative_path.rsplit("/", 1)[-1])
    assert found is not None and (found.id, found.id_source) == (expected, source)
    assert warnings == []


@pytest.mark.parametrize(
    ("pattern", "relative_path"),
    [
        ("{patient_id}/*", "deeper/P123/scan.xml"),  # anchored at the watched root
        ("{patient_id}/*", "scan.xml"),  # no folder at all
        ("{patient_id}-*.xml", "P77-od.txt"),
        ("*_{patient_id}_*", "scan.xml"),
    ],
)
def test_patterns_that_do_not_match(pattern: str, relative_path: str) -> None:
    assert match_path([pattern], relative_path, relative_path.rsplit("/", 1)[-1]) == (None, [])


def test_first_matching_pattern_wins() -> None:
    found, _ = match_path(["{patient_id}-*.xml", "{patient_id}/*"], "P1/P2-x.xml", "P2-x.xml")
    assert found is not None and found.id == "P2" and found.id_source == "filename_pattern"


@pytest.mark.parametrize("value", ["", "   ", "a/b", "x" * 65, "id with space", "../etc", "<script>"])
def test_unsafe_ids_are_refused(value: str) -> None:
    assert normalize_id(value) is None


def test_invalid_path_id_is_a_warning_not_an_id() -> None:
    found, warnings = match_path(["{patient_id}/*"], "Smith John/scan.xml", "scan.xml")
    assert found is None
    assert len(warnings) == 1 and "not a valid patient id" in warnings[0]
    assert "Smith" not in warnings[0]  # the rejected value may be a name: never repeated


def test_pattern_needs_exactly_one_placeholder() -> None:
    with pytest.raises(ValueError, match="exactly once"):
        compile_pattern("{patient_id}/{patient_id}")


def test_path_id_fills_a_missing_content_id() -> None:
    patient, warnings = resolve_patient(PatientRef(), ["{patient_id}/*"], "P9/x.xml", "x.xml")
    assert (patient.id, patient.id_source, warnings) == ("P9", "folder_pattern", [])


def test_content_id_wins_over_a_conflicting_path_id_with_a_warning() -> None:
    content = PatientRef(id="C1", id_source="vendor_xml")
    patient, warnings = resolve_patient(content, ["{patient_id}/*"], "P9/x.xml", "x.xml")
    assert (patient.id, patient.id_source) == ("C1", "vendor_xml")
    assert (
        len(warnings) == 1 and "'C1'" in warnings[0] and "'P9'" in warnings[0] and "kept the content id" in warnings[0]
    )


def test_agreeing_ids_give_no_warning_and_no_patterns_change_nothing() -> None:
    content = PatientRef(id="P9", id_source="vendor_xml")
    assert resolve_patient(content, ["{patient_id}/*"], "P9/x.xml", "x.xml") == (content, [])
    assert resolve_patient(PatientRef(), [], "P9/x.xml", "x.xml") == (PatientRef(), [])
