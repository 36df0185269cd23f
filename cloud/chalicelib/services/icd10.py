"""ICD-10 codes of diagnoses, checked against the ICD-10-CM code list of the pinned `simple-icd-10-cm` package
(the CDC's release it ships). Pure: no IO; `services/diagnoses.py` calls it.

Rules (docs/journey.md): a code is normalised first ("j45909", " J45.909 " → "J45.909"); chapters and blocks
("A00-B99") and codes the list does not hold are refused (422 `unknown_icd10_code`). Categories and
subcategories that have further subdivisions ("J45", "J45.9") are accepted, as clinicians record them, and
marked `billable: false`: an SHA claim needs a billable (leaf) code, which the diagnosis shows.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from types import ModuleType

from chalicelib.errors import InvalidInput

_SHAPE = re.compile(r"^[A-Z][0-9][0-9A-Z][0-9A-Z]{0,4}$")  # a category (3) or subcategory (4-7), dot removed


@dataclass(frozen=True)
class Icd10Code:
    code: str  # with its dot: "J45.909"
    name: str  # the code list's description
    billable: bool  # a leaf of the classification (what claims need)


def normalise(raw: str) -> str:
    """`j45909`, ` J45.909 ` → `J45.909` (upper case, the dot after the third character); '' when not code-shaped."""
    compact = re.sub(r"[\s.]", "", raw).upper()
    if not _SHAPE.match(compact):
        return ""
    return compact if len(compact) == 3 else f"{compact[:3]}.{compact[3:]}"


@functools.cache
def _code_list() -> ModuleType:
    """The package parses its whole code list on import (4-6 s on the shared VM): loaded at the first diagnosis,
    not on every cold start of the API."""
    import simple_icd_10_cm

    return simple_icd_10_cm


def lookup(raw: str) -> Icd10Code:
    """The code's entry, or InvalidInput 422 `unknown_icd10_code` (field `diagnosis_code`)."""
    code = normalise(raw)
    icd = _code_list()
    if not code or not icd.is_valid_item(code) or not icd.is_category_or_subcategory(code):
        raise InvalidInput(
            "diagnosis_code is not an ICD-10-CM category or subcategory (e.g. 'R06.02')",
            code="unknown_icd10_code",
            field="diagnosis_code",
        )
    return Icd10Code(code=code, name=icd.get_description(code), billable=bool(icd.is_leaf(code)))
