"""Scans: the patient's 5-photo sessions (open, list, presigned upload, confirm) and staff's review views
(the clinic's sessions by status, one session with image URLs, its status). See docs/portal.md "Scans"."""

from __future__ import annotations

from chalice import Blueprint
from pydantic import Field

from chalicelib.api import params
from chalicelib.api.endpoint import Call, endpoint
from chalicelib.api.models import RequestModel
from chalicelib.api.paging import PageQuery
from chalicelib.models import Page
from chalicelib.services import scans
from chalicelib.services.roles import Permission
from chalicelib.services.scans import (
    ImageType,
    ScanImage,
    ScanSession,
    ScanStatus,
    StaffScanSession,
    UploadTarget,
)

bp = Blueprint(__name__)

SessionId = Field(
    min_length=32, max_length=32, pattern=r"^[0-9a-f]{32}$", examples=["0123456789abcdef0123456789abcdef"]
)


class UploadUrlBody(RequestModel):
    session_id: str = SessionId
    image_type: ImageType
    content_type: str = Field(min_length=1, max_length=64, examples=["image/jpeg"])


class ConfirmBody(RequestModel):
    session_id: str = SessionId
    image_type: ImageType
    key: str = Field(min_length=1, max_length=512)


class StatusQuery(PageQuery):
    status: ScanStatus = ScanStatus.PENDING


class StatusBody(RequestModel):
    status: ScanStatus


@endpoint(bp, "POST", "/patient/scans/sessions", permission=Permission.PORTAL_USE, response=ScanSession, status=201)
def open_session(call: Call) -> ScanSession:
    """Opens a scan session (PENDING, no images) for the calling patient."""
    return scans.open_session(call.scope)


@endpoint(bp, "GET", "/patient/scans/sessions", permission=Permission.PORTAL_USE, query=PageQuery,
          response=Page[ScanSession])  # fmt: skip
def own_sessions(call: Call) -> Page[ScanSession]:
    """The calling patient's scan sessions, newest first, with their progress (x/5)."""
    return scans.own_sessions(call.scope, limit=call.query.limit, next_token=call.query.next)


@endpoint(bp, "POST", "/patient/scans/upload-url", permission=Permission.PORTAL_USE, body=UploadUrlBody,
          response=UploadTarget)  # fmt: skip
def upload_url(call: Call) -> UploadTarget:
    """A presigned S3 POST policy for one photo of a session (10 minutes, this content type, ≤ 25 MB)."""
    body: UploadUrlBody = call.body
    return scans.upload_target(call.scope, body.session_id, body.image_type, body.content_type)


@endpoint(bp, "POST", "/patient/scans/upload/confirm", permission=Permission.PORTAL_USE, body=ConfirmBody,
          response=ScanImage)  # fmt: skip
def confirm(call: Call) -> ScanImage:
    """Records an uploaded photo after checking it is a real image of an allowed type (idempotent)."""
    body: ConfirmBody = call.body
    return scans.confirm_upload(call.scope, body.session_id, body.image_type, body.key)


@endpoint(bp, "GET", "/scans/sessions", permission=Permission.SCANS_READ, query=StatusQuery,
          response=Page[ScanSession])  # fmt: skip
def clinic_sessions(call: Call) -> Page[ScanSession]:
    """The clinic's scan sessions of one status (default PENDING), oldest first."""
    query: StatusQuery = call.query
    return scans.clinic_sessions(call.scope, query.status, limit=query.limit, next_token=query.next)


@endpoint(bp, "GET", "/scans/sessions/{scan_session_id}", permission=Permission.SCANS_READ,
          response=StaffScanSession)  # fmt: skip
def session(call: Call, scan_session_id: str) -> StaffScanSession:
    """One scan session with its images and short-lived GET URLs for each image and thumbnail."""
    return scans.staff_session(call.scope, params.scan_session_id(scan_session_id))


@endpoint(bp, "PATCH", "/scans/sessions/{scan_session_id}/status", permission=Permission.SCANS_REVIEW,
          body=StatusBody, response=ScanSession)  # fmt: skip
def set_status(call: Call, scan_session_id: str) -> ScanSession:
    """Marks a session REVIEWED (raising `scan.reviewed`) or reopens it (PENDING)."""
    body: StatusBody = call.body
    return scans.set_status(call.scope, params.scan_session_id(scan_session_id), body.status)
