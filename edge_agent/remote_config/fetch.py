"""The published configuration object in S3 (`config/{clinic}/{agent}.json`), fetched with the agent's own
credentials (which may read that one object only: infra/policies.py). Conditional on the last ETag, so a poll
that finds nothing new is one small request answered 304, with no body."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from edge_agent.identity import Identity
from shared_models.s3keys import agent_config_key

# S3 answers AccessDenied rather than NoSuchKey for a missing object when the caller may not list the bucket
# (agents may not): both mean "nothing published for this agent yet" to the poller.
_ABSENT = {"NoSuchKey", "404", "NotFound", "AccessDenied", "403"}


class NotPublished(Exception):
    """No configuration is published for this agent (or it may not read it)."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


class ConfigFetcher:
    def __init__(self, s3: Any, bucket: str, ident: Identity) -> None:
        self.s3 = s3
        self.bucket = bucket
        self.key = ident.prefix + agent_config_key(ident.clinic_id, ident.agent_id)
        self.etag: str | None = None

    def fetch(self) -> bytes | None:
        """The object's body when it changed since the last fetch, None when not. Raises NotPublished, or
        botocore's errors when S3 cannot be reached (the poller tries again at its next turn)."""
        extra = {"IfNoneMatch": self.etag} if self.etag else {}
        try:
            answer = self.s3.get_object(Bucket=self.bucket, Key=self.key, **extra)
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
            if status == 304 or code in {"304", "NotModified"}:
                return None
            if code in _ABSENT:
                self.etag = None
                raise NotPublished(code) from None
            raise
        body: bytes = answer["Body"].read()
        self.etag = answer.get("ETag")
        return body
