"""Money at the API's edge: decimal strings ("500.00") in JSON, integer minor units (cents) in storage.

Every currency the clinics use (KES, USD, CDF) has two minor digits. A JSON number is refused by the request
models (a `str` field), so a float never reaches here.
"""

from __future__ import annotations

import re

from chalicelib.errors import InvalidInput

DIGITS = 2
MAX_MINOR = 10**13  # 100 billion in major units: far beyond any clinic bill, far below float trouble
_MONEY = re.compile(r"^(-?)(\d{1,12})(?:\.(\d{1,2}))?$")


def parse(text: str, *, field: str, negative: bool = False) -> int:
    """`"500.00"` → 50000. At most two decimals; negative only where `negative` (refunds)."""
    match = _MONEY.match(text)
    if match is None:
        if re.match(r"^-?\d+\.\d{3,}$", text):
            raise InvalidInput(f"{field} has more than {DIGITS} decimals", code="invalid_amount", field=field)
        raise InvalidInput(f'{field} must be a decimal string such as "500.00"', code="invalid_amount",
                           field=field)  # fmt: skip
    sign, whole, fraction = match.groups()
    minor = int(whole) * 100 + int((fraction or "").ljust(DIGITS, "0"))
    if sign and not negative:
        raise InvalidInput(f"{field} cannot be negative", code="invalid_amount", field=field)
    if minor >= MAX_MINOR:
        raise InvalidInput(f"{field} is too large", code="invalid_amount", field=field)
    return -minor if sign else minor


def text(minor: int) -> str:
    """50000 → `"500.00"`; -250 → `"-2.50"`."""
    sign = "-" if minor < 0 else ""
    whole, fraction = divmod(abs(minor), 100)
    return f"{sign}{whole}.{fraction:02d}"
