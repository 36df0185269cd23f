"""Uploader: drains the spool to S3 in its own thread, raw object first, with backoff and jitter on failure.

Puts are idempotent (same key, same bytes), so an object uploaded just before a crash and put
again after the restart does no harm. S3 verifies every body against the SHA-256 we send; for
raw objects that digest is the item's identity, so a blob corrupted on disk is refused by S3.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import logging
import random
import sqlite3
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from edge_agent.config import CloudSection
from edge_agent.spool import Item, Spool, SpoolObject
from edge_agent.spool.backoff import full_jitter
from edge_agent.spool.outbox import Puts, UploadedAs

log = logging.getLogger(__name__)

PUT_WORKERS = 8  # items put at once: S3 latency, not bandwidth or CPU, bounds a single stream of small objects
BATCH_ITEMS = 64  # items per pass: what one ledger transaction records (a crash re-puts at most these)
# Raw objects above this size go in parts (S3 allows 5 MB to 5 GB a part): a 50 MB scan is never held
# whole in memory, and its parts travel side by side.
MULTIPART_THRESHOLD = 16 * 1024 * 1024
PART_SIZE = 8 * 1024 * 1024
PART_WORKERS = 4  # parts in flight over all big objects (and at most this many parts' bytes in memory)
RETENTION_SWEEP_SECONDS = 3600.0  # how often an idle uploader ends the retention of kept quarantined raw bytes

# Client errors that say "the endpoint or our access is broken", not "this one object is bad":
# retrying other items now would fail the same way, so the whole uploader backs off.
_GLOBAL_CODES = {
    "AccessDenied",
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "ExpiredToken",
    "NoSuchBucket",
    "SlowDown",
    "RequestTimeout",
    "KMS.DisabledException",
}


class BlobCorrupted(ValueError):
    """The blob on disk no longer hashes to the item's identity: it is not completed in S3."""


def make_s3_client(cloud: CloudSection) -> Any:
    """An S3 client that does not retry by itself (we do, with our own backoff) and signs with SigV4."""
    config = Config(
        region_name=cloud.region,
        signature_version="s3v4",
        retries={"total_max_attempts": 1, "mode": "standard"},
        max_pool_connections=PUT_WORKERS + 2,  # the put workers, the heartbeat and the assignments
        connect_timeout=cloud.connect_timeout_seconds,
        read_timeout=cloud.read_timeout_seconds,
        # The checksum we pass is the one S3 checks; no extra CRC computed by botocore.
        request_checksum_calculation="when_required",
        s3={"addressing_style": "path"} if cloud.endpoint_url else {},
    )
    return boto3.session.Session().client("s3", endpoint_url=cloud.endpoint_url, config=config)


def describe_error(exc: Exception) -> tuple[str, bool]:
    """A short, PHI-free error text and whether it concerns the endpoint as a whole."""
    if isinstance(exc, ClientError):
        err = exc.response.get("Error", {})
        code = str(err.get("Code", "Unknown"))
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
        return f"s3:{code} (HTTP {status})", status >= 500 or code in _GLOBAL_CODES
    if isinstance(exc, (BotoCoreError, OSError)):  # connection refused, timeouts, no credentials, disk
        return f"{type(exc).__name__}: {exc}"[:300], True
    # Anything else is a problem with this item (or a bug): back off this item, keep the others moving.
    return f"{type(exc).__name__}: {exc}"[:300], False


class ObjectWriter:
    """PutObject with a SHA-256 checksum and server-side encryption, as every MedFlow object is written."""

    def __init__(self, client: Any, cloud: CloudSection) -> None:
        self.client = client
        self.cloud = cloud
        self._lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None  # part uploads (started on the first big object)
        # Parts read but not yet confirmed, over every big object at once: bounds the bytes in memory.
        self._parts_held = threading.BoundedSemaphore(PART_WORKERS)

    def put(self, key: str, body: bytes, content_type: str, sha256_hex: str | None = None) -> None:
        digest = bytes.fromhex(sha256_hex) if sha256_hex else hashlib.sha256(body).digest()
        args: dict[str, Any] = {
            "Bucket": self.cloud.bucket,
            "Key": key,
            "Body": body,
            "ContentType": content_type,
            "ChecksumAlgorithm": "SHA256",
            "ChecksumSHA256": base64.b64encode(digest).decode("ascii"),
            "ServerSideEncryption": self.cloud.sse,
        }
        if self.cloud.kms_key_id:
            args["SSEKMSKeyId"] = self.cloud.kms_key_id
        self.client.put_object(**args)

    def put_file(self, key: str, path: Path, content_type: str, sha256_hex: str) -> None:
        """A spooled blob: small ones in one PutObject; big ones (scans, DICOM) in parts read from the
        file, never whole in memory, in one pass over the bytes: each part's SHA-256 is computed as it is
        read and checked by S3, and the whole file's digest, computed in the same pass, must equal the
        item's identity before the upload is completed (a blob corrupted on disk never becomes an object)."""
        size = path.stat().st_size
        if size <= MULTIPART_THRESHOLD:
            self.put(key, path.read_bytes(), content_type, sha256_hex)
            return
        args: dict[str, Any] = {"Bucket": self.cloud.bucket, "Key": key}
        start = {**args, "ContentType": content_type, "ChecksumAlgorithm": "SHA256",
                 "ServerSideEncryption": self.cloud.sse}  # fmt: skip
        if self.cloud.kms_key_id:
            start["SSEKMSKeyId"] = self.cloud.kms_key_id
        upload_id = self.client.create_multipart_upload(**start)["UploadId"]
        try:
            parts = self._put_parts(args, upload_id, path, sha256_hex)
            self.client.complete_multipart_upload(**args, UploadId=upload_id, MultipartUpload={"Parts": parts})
        except BaseException:
            with contextlib.suppress(Exception):  # the parts would otherwise be billed until a lifecycle rule ends them
                self.client.abort_multipart_upload(**args, UploadId=upload_id)
            raise

    def _put_parts(self, args: dict[str, Any], upload_id: str, path: Path, sha256_hex: str) -> list[dict[str, Any]]:
        whole = hashlib.sha256()
        futures: list[Future[dict[str, Any]]] = []
        with open(path, "rb") as fh:
            number = 0
            while True:
                self._parts_held.acquire()  # released once S3 answered this part (or nothing was read)
                try:
                    chunk = fh.read(PART_SIZE)
                    if not chunk:
                        self._parts_held.release()
                        break
                    number += 1
                    whole.update(chunk)
                    digest = base64.b64encode(hashlib.sha256(chunk).digest()).decode("ascii")
                    futures.append(self._parts().submit(self._put_part, args, upload_id, number, chunk, digest))
                except BaseException:
                    self._parts_held.release()
                    raise
        parts = [f.result() for f in futures]  # raises the first failed part's error
        if whole.hexdigest() != sha256_hex:
            raise BlobCorrupted(f"blob digest {whole.hexdigest()[:12]} is not the item's {sha256_hex[:12]}")
        return parts

    def _put_part(self, args: dict[str, Any], upload_id: str, number: int, chunk: bytes, digest: str) -> dict[str, Any]:
        try:
            answer = self.client.upload_part(**args, UploadId=upload_id, PartNumber=number, Body=chunk,
                                             ChecksumAlgorithm="SHA256", ChecksumSHA256=digest)  # fmt: skip
        finally:
            self._parts_held.release()
        return {"PartNumber": number, "ETag": answer["ETag"], "ChecksumSHA256": digest}

    def _parts(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(PART_WORKERS, thread_name_prefix="uploader-part")
            return self._pool


@dataclass
class _Done:
    """One item's part of a pass: the objects S3 confirmed, and the one that failed (if any)."""

    item: Item
    seqs: list[int] = field(default_factory=list)
    whole: bool = False
    failed: SpoolObject | None = None
    error: Exception | None = None


class Uploader:
    """One thread, and `workers` threads that put objects. `wake()` after new items; `run_once()` is one
    pass (tests drive it directly): up to `batch_items` due items put, then recorded in one transaction."""

    def __init__(
        self,
        spool: Spool,
        writer: ObjectWriter,
        *,
        backoff_base: float = 1.0,
        backoff_max: float = 300.0,
        alarm_after: int = 10,
        idle_seconds: float = 5.0,
        clock: Callable[[], float] = time.time,
        rand: Callable[[], float] = random.random,
        workers: int = PUT_WORKERS,
        batch_items: int = BATCH_ITEMS,
    ) -> None:
        self.spool = spool
        self.workers = workers
        self.batch_items = batch_items
        self._pool: ThreadPoolExecutor | None = None
        self._healthy = False  # the last pass put objects and the endpoint did not fail since
        self.writer = writer
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.alarm_after = alarm_after
        self.idle_seconds = idle_seconds
        self._clock = clock
        self._rand = rand
        self._failures = 0  # consecutive endpoint-level failures (drives the uploader-wide backoff)
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._listeners: list[Callable[[int], None]] = []
        self._put_listeners: list[Callable[[int, bool], None]] = []
        self._next_sweep = 0.0

    def on_uploaded(self, callback: Callable[[int], None]) -> None:
        """`callback(item_id)` runs after an item's every object is in S3."""
        self._listeners.append(callback)

    def on_put(self, callback: Callable[[int, bool], None]) -> None:
        """`callback(size, ok)` runs after each object put: its body's size, and whether S3 took it."""
        self._put_listeners.append(callback)

    def wake(self) -> None:
        self._wake.set()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="uploader", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None

    def _run(self) -> None:
        log.info("uploader started", extra={"bucket": self.writer.cloud.bucket})
        while not self._stop.is_set():
            try:
                delay, backing_off = self.run_once()
            except Exception:  # a bug in one pass must not end uploads for good; the next pass retries
                log.exception("uploader pass failed")
                delay, backing_off = self.idle_seconds, True
            if backing_off:
                self._stop.wait(delay)  # new items do not cut an endpoint backoff short
            elif delay > 0:
                self._wake.wait(delay)
                self._wake.clear()
        log.info("uploader stopped")

    def run_once(self) -> tuple[float, bool]:
        """Uploads what is due; returns (seconds until the next pass, whether that is an endpoint backoff)."""
        now = self._clock()
        if self._upload_assignments():
            return self._back_off(), True
        items = self.spool.ledger.outbox.due(now, limit=self.batch_items)
        if not items:
            self._healthy = False  # the endpoint may go away while nothing is due
            self._sweep(now)
            nxt = self.spool.ledger.outbox.next_due_at()
            wait = self.idle_seconds if nxt is None else min(max(nxt - now, 0.05), self.idle_seconds)
            return wait, False
        if not self._healthy:  # after a failure or a quiet spell one item probes first: an outage costs one
            probe, items = items[:1], items[1:]  # request per backoff step, not one per worker
            if self._settle(self._put_all(probe)):
                return self._back_off(), True
        if items and self._settle(self._put_all(items)):
            return self._back_off(), True
        self._failures = 0
        self._healthy = True
        return 0.0, False

    def _back_off(self) -> float:
        self._healthy = False
        self._failures += 1
        return max(0.05, full_jitter(self._failures, self.backoff_base, self.backoff_max, self._rand))

    def _put_all(self, items: list[Item]) -> list[_Done]:
        """Puts the items' pending objects, several items at once (S3 answers each request in tens of
        milliseconds; one at a time left the link and the CPU mostly idle)."""
        work = [(item, self.spool.ledger.outbox.objects(item.item_id)) for item in items if not self._stop.is_set()]
        if self.workers <= 1 or len(work) <= 1:
            return [self._put_item(item, objects) for item, objects in work]
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="uploader-put")
        return list(self._pool.map(lambda w: self._put_item(*w), work))

    def _put_item(self, item: Item, objects: list[SpoolObject]) -> _Done:
        """One item's pending objects in order (raw first), in a worker; the ledger is written by `_settle`."""
        done = _Done(item)
        for obj in objects:
            if self._stop.is_set():
                break
            try:
                self._put(item, obj)
            except Exception as exc:  # noqa: BLE001 - any failure is recorded on the item, never stops the queue
                done.failed, done.error = obj, exc
                break
            done.seqs.append(obj.seq)
        done.whole = done.failed is None and len(done.seqs) == len(objects)
        return done

    def _settle(self, results: list[_Done]) -> bool:
        """Writes down what S3 confirmed, in one transaction, and only that: an item is marked uploaded
        after S3 has taken its every object (a crash before this commit means those objects are put
        again, never that one is lost). Returns True when the endpoint itself failed."""
        keep = self.spool.keep_quarantined_seconds > 0
        outcomes = self.spool.ledger.outbox.record_puts(
            [Puts(r.item.item_id, r.seqs, r.whole) for r in results], datetime.now(UTC), keep_quarantined_raw=keep
        )
        endpoint_failed = False
        for result, outcome in zip(results, outcomes, strict=True):
            if result.failed is not None and result.error is not None:
                text, endpoint = describe_error(result.error)
                self._failed(result.item, result.failed, text)
                endpoint_failed = endpoint_failed or endpoint
            elif outcome is not None:
                self._uploaded(result.item, outcome)
        return endpoint_failed

    def _uploaded(self, item: Item, outcome: UploadedAs) -> None:
        if outcome == "incomplete":  # `replay` re-queued it meanwhile: its new objects go in the next pass
            log.info("item changed during upload; its new objects follow", extra={"item_id": item.item_id})
            return
        if outcome == "released":
            self.spool.blobs.delete(item.sha256)
        if self._failures or item.attempts:
            log.info("upload recovered", extra={"item_id": item.item_id, "attempts": item.attempts})
        log.info("item uploaded", extra={"item_id": item.item_id, "sha256": item.sha256, "state": item.state.value})
        for callback in self._listeners:
            callback(item.item_id)

    def _upload_assignments(self) -> bool:
        """Puts the patient ids duplicates brought (few, small); True when the endpoint itself failed.
        One that fails for its own sake stays and is tried again at the next pass."""
        assignments = self.spool.ledger.assignments
        for key, body in assignments.pending():
            try:
                self.writer.put(key, body, "application/json")
            except Exception as exc:  # noqa: BLE001 - recorded like any failed put, never stops the queue
                self._tell_put(len(body), ok=False)
                text, endpoint = describe_error(exc)
                self.spool.ledger.meta.error(text, datetime.now(UTC))
                log.warning("assignment upload failed; will retry", extra={"error": text})
                return endpoint
            self._tell_put(len(body), ok=True)
            assignments.uploaded(key, datetime.now(UTC))
            log.info("assignment uploaded", extra={"key": key.rsplit("/", 1)[-1]})
        return False

    def _sweep(self, now: float) -> None:
        """While idle, at most hourly: quarantined raw bytes past their retention leave the spool."""
        if now < self._next_sweep:
            return
        self._next_sweep = now + RETENTION_SWEEP_SECONDS
        try:
            self.spool.release_expired_quarantine(datetime.fromtimestamp(now, UTC))
        except (sqlite3.Error, OSError) as exc:  # uploads matter more; the next sweep tries again
            log.warning("quarantine retention sweep failed", extra={"error": f"{type(exc).__name__}: {exc}"})

    def _put(self, item: Item, obj: SpoolObject) -> None:
        if obj.role == "raw" and obj.body is None:  # a blob file: streamed, in parts when big
            try:
                self.writer.put_file(obj.key, self.spool.blobs.path(item.sha256), obj.content_type, item.sha256)
            except Exception:
                self._tell_put(item.size, ok=False)
                raise
            self._tell_put(item.size, ok=True)
            return
        # Bytes inline in the ledger; a raw object's checksum is the item's identity.
        body, sha256 = obj.body or b"", item.sha256 if obj.role == "raw" else None
        try:
            self.writer.put(obj.key, body, obj.content_type, sha256)
        except Exception:
            self._tell_put(len(body), ok=False)
            raise
        self._tell_put(len(body), ok=True)

    def _tell_put(self, size: int, *, ok: bool) -> None:
        for callback in self._put_listeners:
            callback(size, ok)

    def _failed(self, item: Item, obj: SpoolObject, text: str) -> None:
        attempt = item.attempts + 1
        delay = max(0.05, full_jitter(attempt, self.backoff_base, self.backoff_max, self._rand))
        attempts = self.spool.ledger.outbox.upload_failed(item.item_id, text, self._clock() + delay)
        self.spool.ledger.meta.error(text, datetime.now(UTC))
        extra = {"item_id": item.item_id, "role": obj.role, "attempts": attempts, "error": text, "retry_in": delay}
        if attempts >= self.alarm_after:
            log.error("ALARM upload keeps failing", extra=extra)
        else:
            log.warning("upload failed; will retry", extra=extra)
