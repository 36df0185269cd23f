"""Which recorded allergy a medication conflicts with: names compared case- and accent-insensitively as whole
words, plus a small table of drug classes whose members cross-react. Pure: `services/prescriptions.py` asks it.

A prescription of "Amoxicillin 500mg" conflicts with an allergy to "amoxicillin", "Amoxicillin" or "AMOXICILLIN"
(same name), and with an allergy to "Penicillin" or to any other member of the penicillin class (the class
table). The table is deliberately small and conservative (docs/journey.md lists it); it is a safety net for the
prescriber, not a drug-interaction database. Cephalosporins are not in the penicillin class (cross-reactivity
is low and clinicians decide), so an allergy to penicillin does not block cefalexin.
"""

from __future__ import annotations

import re
import unicodedata

# class name -> the words naming it or its members (brand names used in Kenyan clinics included)
CLASSES: dict[str, frozenset[str]] = {
    "penicillin": frozenset(
        {
            "penicillin",
            "penicillins",
            "amoxicillin",
            "amoxycillin",
            "ampicillin",
            "cloxacillin",
            "flucloxacillin",
            "benzylpenicillin",
            "phenoxymethylpenicillin",
            "benzathine penicillin",
            "procaine penicillin",
            "piperacillin",
            "co amoxiclav",
            "amoxiclav",
            "augmentin",
            "ampiclox",
        }
    ),
    "sulfonamide": frozenset(
        {
            "sulfa",
            "sulpha",
            "sulfonamide",
            "sulfonamides",
            "sulphonamide",
            "sulfamethoxazole",
            "sulphamethoxazole",
            "co trimoxazole",
            "cotrimoxazole",
            "septrin",
            "bactrim",
            "sulfadiazine",
            "sulfadoxine",
            "sulfasalazine",
            "fansidar",
        }
    ),
    "nsaid": frozenset(
        {
            "nsaid",
            "nsaids",
            "ibuprofen",
            "diclofenac",
            "naproxen",
            "aspirin",
            "acetylsalicylic acid",
            "indomethacin",
            "mefenamic acid",
            "piroxicam",
            "ketoprofen",
            "meloxicam",
            "brufen",
            "voltaren",
            "ponstan",
        }
    ),
}


def words(text: str) -> str:
    """Lower case, accents removed, every run of non-letters/digits a single space: 'Co-Amoxiclav' → 'co amoxiclav'."""
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii").casefold()
    return " ".join(re.findall(r"[a-z0-9]+", plain))


def _mentions(text: str, name: str) -> bool:
    return f" {name} " in f" {text} "


def classes_of(name: str) -> set[str]:
    """The classes a substance or medication name belongs to (by any word sequence it contains)."""
    text = words(name)
    return {cls for cls, members in CLASSES.items() if any(_mentions(text, member) for member in members)}


def conflicts(medication: str, substance: str) -> str | None:
    """Why prescribing `medication` conflicts with an allergy to `substance` ('same substance', 'penicillin
    class'), or None."""
    med, allergen = words(medication), words(substance)
    if not med or not allergen:
        return None
    if _mentions(med, allergen) or _mentions(allergen, med):
        return "same substance"
    shared = sorted(classes_of(medication) & classes_of(substance))
    return f"{shared[0]} class" if shared else None
