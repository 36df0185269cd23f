"""The doctor's dashboard: the clinic's summary (pending scans, patients, compliance, tagging rate), its recent
activity, and its overdue patients. See docs/portal.md "Dashboard"."""

from __future__ import annotations

from chalice import Blueprint

from chalicelib.api.endpoint import Call, endpoint
from chalicelib.api.paging import PageQuery
from chalicelib.services import dashboard
from chalicelib.services.dashboard import Compliance, Feed, Summary
from chalicelib.services.roles import Permission

bp = Blueprint(__name__)


@endpoint(bp, "GET", "/dashboard/summary", permission=Permission.DASHBOARD_READ, response=Summary)
def summary(call: Call) -> Summary:
    """Pending scans, active patients, scan compliance (%) and the 30-day tagging rate, from counters."""
    return dashboard.summary(call.scope)


@endpoint(bp, "GET", "/dashboard/feed", permission=Permission.DASHBOARD_READ, response=Feed)
def feed(call: Call) -> Feed:
    """The 20 newest scan sessions, 10 newest messages and 10 newest tag sets of the clinic, newest first."""
    return dashboard.feed(call.scope)


@endpoint(bp, "GET", "/dashboard/compliance", permission=Permission.DASHBOARD_READ, query=PageQuery,
          response=Compliance)  # fmt: skip
def compliance(call: Call) -> Compliance:
    """The patients overdue for a scan today, longest overdue first, with the clinic's compliance totals."""
    query: PageQuery = call.query
    return dashboard.compliance(call.scope, limit=query.limit, next_token=query.next)
