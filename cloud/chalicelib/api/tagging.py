"""Tagging: an AI suggestion for a scan session's tags, the doctor's TagSet (which reviews the session) and the
clinic's tagging analytics (rate, discount tier, suggestion accuracy). See docs/portal.md "Tagging"."""

from __future__ import annotations

from chalice import Blueprint
from pydantic import Field, StrictBool, StrictInt

from chalicelib.api import params
from chalicelib.api.endpoint import Call, endpoint
from chalicelib.api.models import RequestModel
from chalicelib.services import tagging
from chalicelib.services.roles import Permission
from chalicelib.services.tag_set import SCALES, DetailTag, TagSet
from chalicelib.services.tagging import AiTagSuggestion, TagAnalytics

bp = Blueprint(__name__)
_TRACKING, _HYGIENE = SCALES["overall_tracking"], SCALES["oral_hygiene"]


class TagsBody(RequestModel):
    overall_tracking: StrictInt = Field(ge=_TRACKING.low, le=_TRACKING.high, examples=[1])
    oral_hygiene: StrictInt = Field(ge=_HYGIENE.low, le=_HYGIENE.high, examples=[2])
    detail_tags: list[DetailTag] = Field(default_factory=list, max_length=len(DetailTag))
    ai_suggested: StrictBool = False  # the form was filled from an AI suggestion
    ai_overridden: StrictBool = False  # the doctor changed the suggested values


@endpoint(bp, "POST", "/tagging/sessions/{scan_session_id}/suggest", permission=Permission.SCANS_REVIEW,
          response=AiTagSuggestion)  # fmt: skip
def suggest(call: Call, scan_session_id: str) -> AiTagSuggestion:
    """Asks the AI model (Claude vision) for the session's tags; 503 when not configured, 502 when it fails."""
    return tagging.suggest(call.scope, params.scan_session_id(scan_session_id))


@endpoint(bp, "POST", "/tagging/sessions/{scan_session_id}/tags", permission=Permission.SCANS_REVIEW,
          body=TagsBody, response=TagSet, status=201)  # fmt: skip
def tag(call: Call, scan_session_id: str) -> TagSet:
    """Records the session's TagSet and marks it REVIEWED (raising `scan.reviewed`), in one transaction."""
    body: TagsBody = call.body
    values = tagging.values_of(body.overall_tracking, body.oral_hygiene, body.detail_tags)
    return tagging.tag(call.scope, params.scan_session_id(scan_session_id), values, ai_suggested=body.ai_suggested,
                       ai_overridden=body.ai_overridden)  # fmt: skip


@endpoint(bp, "GET", "/tagging/analytics", permission=Permission.DASHBOARD_READ, response=TagAnalytics)
def analytics(call: Call) -> TagAnalytics:
    """The last 30 days' tagging rate, the discount tier it earns (kept on the clinic), and AI accuracy."""
    return tagging.analytics(call.scope)
