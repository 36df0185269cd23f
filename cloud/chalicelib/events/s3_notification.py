"""The S3 event notification carried in an SQS message body, validated with pydantic (tolerant of extra fields)."""

from __future__ import annotations

from datetime import datetime
from urllib.parse import unquote_plus

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from chalicelib.errors import RejectedMessage

TEST_EVENT = "s3:TestEvent"


class _Wire(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)


class S3Bucket(_Wire):
    name: str


class S3Object(_Wire):
    key: str
    size: int | None = None
    version_id: str | None = Field(default=None, alias="versionId")


class S3Entity(_Wire):
    bucket: S3Bucket
    object: S3Object


class S3Record(_Wire):
    event_name: str = Field(alias="eventName")
    # When S3 took the object: the same in every redelivery of this notification (cloud quarantine records use it).
    event_time: datetime | None = Field(default=None, alias="eventTime")
    s3: S3Entity

    @property
    def key(self) -> str:
        # Keys arrive URL-encoded with '+' for spaces (quote_plus), in AWS and in moto alike.
        return unquote_plus(self.s3.object.key)


class S3Notification(_Wire):
    records: list[S3Record] = Field(default_factory=list, alias="Records")
    event: str | None = Field(default=None, alias="Event")  # "s3:TestEvent" when a notification is configured


def parse(body: str) -> S3Notification:
    try:
        return S3Notification.model_validate_json(body)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(map(str, first["loc"])) or "<body>"
        raise RejectedMessage(
            f"the SQS message is not an S3 event notification ({where}: {first['msg']})", code="not_s3_event"
        ) from None
