"""The clinic's price list (GET /prices, PUT /prices): what charges cost. See docs/journey.md."""

from __future__ import annotations

from chalice import Blueprint
from pydantic import BaseModel, ConfigDict, Field

from chalicelib.api.endpoint import Call, endpoint
from chalicelib.api.models import RequestModel
from chalicelib.api.paging import PageQuery
from chalicelib.models import Page
from chalicelib.services import charges
from chalicelib.services.charges import ChargeKind, Price
from chalicelib.services.roles import Permission

bp = Blueprint(__name__)


class PriceEntry(RequestModel):
    kind: ChargeKind
    code: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.\-]+$")
    name: str = Field(min_length=1, max_length=200)
    price: str = Field(min_length=1, max_length=20, examples=["500.00"])  # a decimal string, never a JSON number


class PriceChanges(RequestModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"items": [{"kind": "CONSULTATION", "code": "CONSULTATION",
                                                    "name": "Outpatient consultation", "price": "500.00"}]}]}
    )  # fmt: skip
    items: list[PriceEntry] = Field(min_length=1, max_length=charges.MAX_PRICES_PER_PUT)


class PriceList(BaseModel):
    items: list[Price]


@endpoint(bp, "GET", "/prices", permission=Permission.BILLING_READ, query=PageQuery, response=Page[Price])
def price_list(call: Call) -> Page[Price]:
    """The clinic's price list, by kind and code."""
    query: PageQuery = call.query
    return charges.prices(call.scope, limit=query.limit, next_token=query.next)


@endpoint(bp, "PUT", "/prices", permission=Permission.PRICES_MANAGE, body=PriceChanges, response=PriceList)
def set_prices(call: Call) -> PriceList:
    """Set the price of the given items (added or replaced; the others stay)."""
    body: PriceChanges = call.body
    entries = [(entry.kind, entry.code, entry.name, entry.price) for entry in body.items]
    return PriceList(items=charges.set_prices(call.scope, entries))
