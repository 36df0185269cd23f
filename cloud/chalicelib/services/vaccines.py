"""The vaccine list and dose schedule of immunization records: the Kenya Expanded Programme on Immunization (KEPI)
schedule of seed 001, as data. Pure: `services/programs.py` reads it to check a vaccine and compute the next dose.

Each vaccine lists the minimum interval (days) from one dose to the next; a record of dose n of N has
`next_dose_due` = its date + the n-th interval (None after the last dose). Sources: Ministry of Health
Kenya, KEPI schedule (2023 revision: birth BCG and OPV0; 6-10-14 weeks OPV, Pentavalent, PCV10, Rota;
IPV at 14 weeks; Measles-Rubella at 9 and 18 months; yellow fever at 9 months in endemic counties;
single-dose HPV for girls from 10 years; RTS,S malaria at 6, 7, 9 and 24 months in the pilot counties;
tetanus-diphtheria for women of child-bearing age, 5 doses at 0, 4 weeks, 6 months, 1 year, 1 year).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from chalicelib.errors import InvalidInput
from chalicelib.services.drug_classes import words


@dataclass(frozen=True)
class Vaccine:
    code: str
    name: str
    intervals: tuple[int, ...]  # days from dose n to dose n+1; doses = len(intervals) + 1
    aliases: tuple[str, ...] = ()

    @property
    def doses(self) -> int:
        return len(self.intervals) + 1

    def next_due(self, dose_number: int, given: date) -> date | None:
        if dose_number >= self.doses:
            return None
        return given + timedelta(days=self.intervals[dose_number - 1])


KEPI: tuple[Vaccine, ...] = (
    Vaccine("BCG", "Bacillus Calmette-Guérin (tuberculosis)", ()),
    # OPV0 at birth, then OPV1-3 at 6, 10, 14 weeks: dose 1 is the birth dose.
    Vaccine("OPV", "Oral polio vaccine (bOPV)", (42, 28, 28), ("bopv", "polio", "oral polio")),
    Vaccine("IPV", "Inactivated polio vaccine", (), ("inactivated polio",)),
    Vaccine("PENTAVALENT", "Pentavalent (DPT-HepB-Hib)", (28, 28), ("penta", "dpt hepb hib", "dpt")),
    Vaccine("PCV", "Pneumococcal conjugate vaccine (PCV10)", (28, 28), ("pcv10", "pneumococcal")),
    Vaccine("ROTA", "Rotavirus vaccine", (28,), ("rotavirus", "rotarix")),
    Vaccine("MEASLES_RUBELLA", "Measles-Rubella", (270,), ("mr", "measles rubella", "measles")),
    Vaccine("YELLOW_FEVER", "Yellow fever", (), ("yf", "yellow fever")),
    Vaccine("HPV", "Human papillomavirus", (), ("human papillomavirus",)),
    Vaccine("MALARIA", "Malaria (RTS,S)", (30, 61, 457), ("rts s", "mosquirix")),
    Vaccine("TETANUS", "Tetanus-diphtheria (Td / TT)", (28, 182, 365, 365), ("td", "tt", "tetanus toxoid")),
)
_BY_NAME = {words(alias): vaccine for vaccine in KEPI for alias in (vaccine.code, vaccine.name, *vaccine.aliases)}


def find(raw: str) -> Vaccine:
    """The vaccine a name, code or common alias names ("Measles-Rubella", "MR", "penta"); 422 `unknown_vaccine`."""
    vaccine = _BY_NAME.get(words(raw))
    if vaccine is None:
        known = ", ".join(v.code for v in KEPI)
        raise InvalidInput(f"vaccine is not on the KEPI list ({known})", code="unknown_vaccine", field="vaccine")
    return vaccine
