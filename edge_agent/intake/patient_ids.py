"""Patient ids from folder and file names, per source configuration, for devices whose files carry none.

Patterns use `{patient_id}` plus glob wildcards: `*` and `?` stay within one path segment, `**`
spans any number of folders. A pattern without `/` is matched against the file name only
(id_source "filename_pattern"); one with `/` against the whole path below the watched root,
anchored at that root (id_source "folder_pattern"). The first matching pattern wins.
Examples: "{patient_id}/*", "**/{patient_id}/*", "*_{patient_id}_*", "{patient_id}-*.xml".
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

from shared_models import PatientRef

MAX_ID_LENGTH = 64
_VALID_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_PLACEHOLDER = "{patient_id}"

IdSource = Literal["folder_pattern", "filename_pattern"]


@dataclass(frozen=True)
class PathId:
    id: str
    id_source: IdSource
    pattern: str


def normalize_id(value: str) -> str | None:
    """The id stripped, or None when it is empty, too long, or holds unsafe characters."""
    value = value.strip()
    if not value or len(value) > MAX_ID_LENGTH or not _VALID_ID.match(value):
        return None
    return value


def _glob_to_regex(glob: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(glob):
        if glob.startswith("**/", i):
            out.append(r"(?:[^/]*/)*?")  # zero or more whole folders
            i += 3
        elif glob.startswith("**", i):
            out.append(r".*?")
            i += 2
        elif glob[i] == "*":
            out.append(r"[^/]*?")  # lazy: the placeholder to its right gets the first plausible split
            i += 1
        elif glob[i] == "?":
            out.append(r"[^/]")
            i += 1
        else:
            out.append(re.escape(glob[i]))
            i += 1
    return "".join(out)


@lru_cache(maxsize=256)
def compile_pattern(pattern: str) -> re.Pattern[str]:
    if pattern.count(_PLACEHOLDER) != 1:
        raise ValueError(f"pattern {pattern!r} must contain {_PLACEHOLDER} exactly once")
    before, after = pattern.split(_PLACEHOLDER)
    return re.compile(f"^{_glob_to_regex(before)}(?P<patient_id>[^/]+?){_glob_to_regex(after)}$")


def match_path(patterns: Sequence[str], relative_path: str, name: str) -> tuple[PathId | None, list[str]]:
    """The first pattern's id for this file, plus warnings (a match whose id is not a valid id)."""
    warnings: list[str] = []
    relative_path = relative_path.replace("\\", "/").strip("/") or name
    filename = relative_path.rsplit("/", 1)[-1] or name
    for pattern in patterns:
        on_path = "/" in pattern
        found = compile_pattern(pattern).match(relative_path if on_path else filename)
        if not found:
            continue
        candidate = normalize_id(found.group("patient_id"))
        if candidate is None:
            warnings.append(f"path pattern {pattern!r} matched, but the value is not a valid patient id; ignored")
            continue
        return PathId(candidate, "folder_pattern" if on_path else "filename_pattern", pattern), warnings
    return None, warnings


def resolve_patient(
    content: PatientRef, patterns: Sequence[str], relative_path: str, name: str
) -> tuple[PatientRef, list[str]]:
    """The envelope's patient: the content's id when present (a differing path id is a warning), else the path's."""
    if not patterns:
        return content, []
    path_id, warnings = match_path(patterns, relative_path, name)
    if path_id is None:
        return content, warnings
    if content.id:
        if content.id.strip() != path_id.id:
            # Never a silent choice: staff see both values on the envelope and resolve it.
            warnings.append(
                f"patient id in the content ({content.id!r}) differs from the {path_id.id_source} "
                f"({path_id.id!r}); kept the content id"
            )
        return content, warnings
    return content.model_copy(update={"id": path_id.id, "id_source": path_id.id_source}), warnings
