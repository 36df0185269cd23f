"""Search terms of a patient and the interpretation of a search query (pure functions, no I/O).

Names: NFKD, combining marks stripped, casefolded, anything but letters and digits turned into spaces,
spaces collapsed ("Ñjoroge-Wambui" → "njoroge wambui"). Phones: E.164 (validated with `phonenumbers`),
searched by the E.164 digits or by the national number ("0712 345 678" finds +254712345678). OP numbers
upper case; national ids upper case letters and digits only.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

import phonenumbers

from chalicelib.db import patient_index

NAME, PHONE, OP, NID = "NAME", "PHONE", "OP", "NID"
_OP = re.compile(r"^OP-\d{4}-\d{6,}$", re.IGNORECASE)


def normalise_name(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch)).casefold()
    return " ".join("".join(ch if ch.isalnum() else " " for ch in plain).split())


def normalise_phone(text: str) -> str | None:
    """E.164 (`+254712345678`) when `text` is a valid international number, else None."""
    candidate = text.strip()
    if not candidate.startswith("+"):
        return None
    try:
        number = phonenumbers.parse(candidate, None)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalise_nid(text: str) -> str:
    return "".join(ch for ch in text.upper() if ch.isalnum())


def looks_like_op(text: str) -> bool:
    return bool(_OP.match(text.strip()))


def identity_name(first_name: str, last_name: str) -> str:
    return f"{normalise_name(last_name)} {normalise_name(first_name)}"


def entries(patient_id: str, *, first_name: str | None, last_name: str | None, phone: str | None,
            op_number: str | None, national_id: str | None) -> set[str]:  # fmt: skip
    """The sort keys of a patient's search entries (a set: "John John" has one name entry, not two)."""
    keys: set[str] = set()
    first, last = normalise_name(first_name or ""), normalise_name(last_name or "")
    if first or last:
        keys.add(patient_index.entry_sk(NAME, f"{last} {first}".strip(), patient_id))
        keys.add(patient_index.entry_sk(NAME, f"{first} {last}".strip(), patient_id))
    if phone:
        digits = phone.lstrip("+")
        keys.add(patient_index.entry_sk(PHONE, digits, patient_id))
        national = str(phonenumbers.parse(phone, None).national_number)
        keys.add(patient_index.entry_sk(PHONE, national, patient_id))
    if op_number:
        keys.add(patient_index.entry_sk(OP, op_number.upper(), patient_id))
    if national_id and normalise_nid(national_id):
        keys.add(patient_index.entry_sk(NID, normalise_nid(national_id), patient_id))
    return keys


@dataclass(frozen=True)
class Lookup:
    """The sort-key prefixes a query reads, in order (results are paged through them one after the other)."""

    prefixes: tuple[str, ...]


def interpret(query: str) -> Lookup:
    """`OP-...` → OP numbers; `+...` or digits → phones (E.164 digits or national number) then national
    ids; anything else → names (prefix of `last first` or `first last`) then national ids."""
    text = query.strip()
    if text.upper().startswith("OP-"):
        return Lookup((patient_index.term_prefix(OP, text.upper()),))
    compact = re.sub(r"[\s\-().]", "", text)
    if compact and ((compact.startswith("+") and compact[1:].isdigit()) or compact.isdigit()):
        digits = compact.lstrip("+")
        national = digits.lstrip("0") or digits
        prefixes = [patient_index.term_prefix(PHONE, digits if compact.startswith("+") else national)]
        prefixes.append(patient_index.term_prefix(NID, normalise_nid(compact)))
        return Lookup(tuple(prefixes))
    prefixes = []
    name = normalise_name(text)
    if name:
        prefixes.append(patient_index.term_prefix(NAME, name))
    nid = normalise_nid(text)
    if nid:
        prefixes.append(patient_index.term_prefix(NID, nid))
    return Lookup(tuple(prefixes))
