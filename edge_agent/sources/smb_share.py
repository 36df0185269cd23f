"""One SMB2/3 share as the smb source and `doctor` see it: connect, list, stat, read (hashing), watch; read only.

Built on smbprotocol's `smbclient` with a connection cache of its own (no process-wide pool shared
with anything else). Signing is always required; encryption is required when the source says
`encrypt = true` (smbprotocol then refuses a server without SMB 3 encryption). Nothing here ever
opens a file for writing, renames or deletes: a read-only account is enough.

Every failure becomes a `ShareError` whose `status` is one fixed word (what the source reports
and what doctor explains) and whose message says what to fix, in a clinic IT person's words.
"""

from __future__ import annotations

import hashlib
import logging
import os
import stat
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import smbclient
from smbprotocol.change_notify import ChangeNotifyFlags, CompletionFilter, FileSystemWatcher
from smbprotocol.exceptions import (
    AccessDenied,
    BadNetworkName,
    LogonFailure,
    PasswordExpired,
    SharingViolation,
    SMBAuthenticationError,
    SMBConnectionClosed,
    SMBException,
    SMBOSError,
    SMBResponseException,
    WrongPassword,
)
from smbprotocol.tree import TreeConnect

from edge_agent.config import SmbSourceConfig
from edge_agent.errors import EdgeAgentError
from edge_agent.sources.settle import Signature, excluded

log = logging.getLogger(__name__)
# smbprotocol logs each request at INFO naming folders and files (patient ids and names live there);
# its warnings name servers and DFS targets only. Our own lines carry file references (hashes).
for _library in ("smbprotocol", "smbclient", "spnego"):
    logging.getLogger(_library).setLevel(logging.WARNING)

# NTSTATUS codes smbprotocol surfaces inside SMBOSError
_NOT_FOUND = {0xC0000034, 0xC000003A, 0xC000000F}  # object name / path not found, no such file
_SHARE_GONE = {0xC00000CC, 0xC00000C9, 0xC0000225}  # bad network name, network name deleted, DFS not found
_AUTH = {0xC000006D, 0xC000006A, 0xC0000071, 0xC0000072, 0xC0000234, 0xC000006E}
_ACCESS_DENIED = 0xC0000022
_SHARING_VIOLATION = 0xC0000043
_READ_CHUNK = 1024 * 1024


class ShareError(EdgeAgentError):
    """The share cannot be used now. `status`: auth_failed | share_missing | path_missing | access_denied |
    unreachable | encryption_unavailable | credentials_missing | credentials_insecure | error."""

    def __init__(self, status: str, message: str) -> None:
        super().__init__(message)
        self.status = status


class FileBusy(EdgeAgentError):
    """Another client has the file open for writing (the exclusive-open probe was refused)."""


@dataclass(frozen=True)
class Credentials:
    username: str
    password: str
    domain: str | None = None

    @property
    def account(self) -> str:
        return f"{self.domain}\\{self.username}" if self.domain else self.username


def load_credentials(config: SmbSourceConfig, environ: dict[str, str] | None = None) -> Credentials:
    """Read at every (re)connect, so a rotated password is picked up without a restart."""
    env = os.environ if environ is None else environ
    username, domain = config.username, config.domain
    if config.password_env is not None:
        password = env.get(config.password_env)
        if not password:
            raise ShareError(
                "credentials_missing",
                f"the environment variable {config.password_env} holding the share's password is not set "
                "for the agent (set it in the service's environment file)",
            )
    else:
        assert config.credentials_file is not None
        values = _read_credentials_file(config.credentials_file)
        password = values.get("password", "")
        username = values.get("username", username)
        domain = values.get("domain", domain)
        if not password or not username:
            raise ShareError(
                "credentials_missing",
                f"{config.credentials_file} needs a password= line"
                + ("" if username else " and a username= line (or username in the config)"),
            )
    assert username is not None
    return Credentials(username, password, domain)


def _read_credentials_file(path: Path) -> dict[str, str]:
    """`username=`/`password=`/`domain=` lines (the mount.cifs format); refused unless only its owner can read it."""
    try:
        st = path.stat()
    except OSError as exc:
        raise ShareError("credentials_missing", f"credentials file {path} cannot be read: {exc.strerror}") from exc
    mode = stat.S_IMODE(st.st_mode)
    if mode & 0o077:
        raise ShareError(
            "credentials_insecure",
            f"credentials file {path} can be read by other users (mode {mode:04o}); "
            f"make it readable only by the agent's user: chmod 600 {path}",
        )
    if st.st_uid not in {0, os.geteuid()}:
        raise ShareError(
            "credentials_insecure", f"credentials file {path} belongs to another user; it must belong to the agent's"
        )
    values: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        key, sep, value = line.strip().partition("=")
        if sep and not key.startswith("#"):
            values[key.strip().lower()] = value.strip()
    return values


def classify(exc: BaseException, config: SmbSourceConfig) -> ShareError:
    """Turns what smbprotocol raised into a status word and a fix-it sentence (never a file name)."""
    where = f"{config.server}:{config.port}"
    share = f"share {config.share!r} on {config.server}"
    if isinstance(exc, ShareError):
        return exc
    status = getattr(exc, "ntstatus", None) or getattr(exc, "status", None)
    if isinstance(exc, (LogonFailure, WrongPassword, PasswordExpired, SMBAuthenticationError)) or status in _AUTH:
        return ShareError(
            "auth_failed",
            f"{where} refused the user name or password for {config.username or 'the account'} "
            "(wrong, expired or changed password, or a locked account); update the password the agent uses",
        )
    if isinstance(exc, BadNetworkName) or status in _SHARE_GONE:
        return ShareError("share_missing", f"{share} does not exist or is no longer shared; check the share's name")
    if isinstance(exc, AccessDenied) or status == _ACCESS_DENIED:
        return ShareError(
            "access_denied", f"the account may not read {share}{'/' + config.path if config.path else ''}; "
            "give it read permission (read-only is enough)",
        )  # fmt: skip
    if status in _NOT_FOUND:
        return ShareError("path_missing", f"folder {config.path!r} does not exist in {share}")
    text = str(exc)
    if "encryption is required" in text or "does not support encryption" in text:
        return ShareError(
            "encryption_unavailable",
            f"{where} cannot encrypt SMB traffic (it needs SMB 3 with encryption enabled); "
            "turn encryption on at the server, or set encrypt = false if the network is trusted",
        )
    if isinstance(exc, (SMBConnectionClosed, ConnectionError, TimeoutError, ValueError, OSError)):
        return ShareError(
            "unreachable",
            f"cannot reach the file server at {where} ({type(exc).__name__}); is it on, and is the address right?",
        )
    if isinstance(exc, (SMBResponseException, SMBException)):
        return ShareError("error", f"{share}: {type(exc).__name__}")
    return ShareError("error", f"{share}: unexpected {type(exc).__name__}")


@dataclass(frozen=True)
class Entry:
    relative: str  # '/'-separated below the watched folder
    signature: Signature


class SmbShare:
    """A session to one share's folder. Not thread-safe by itself except `watch` (its own thread)."""

    def __init__(self, config: SmbSourceConfig, *, environ: dict[str, str] | None = None) -> None:
        self.config = config
        self._environ = environ
        self._cache: dict[str, Any] = {}
        self._tree: TreeConnect | None = None
        self.encrypted = False
        self.exclusive_probe = True  # false once the server refused an exclusive open for access reasons

    # --- session ------------------------------------------------------------------------------

    @property
    def root_unc(self) -> str:
        base = f"\\\\{self.config.server}\\{self.config.share}"
        return base + ("\\" + self.config.path.replace("/", "\\") if self.config.path else "")

    def _kw(self) -> dict[str, Any]:
        return {"port": self.config.port, "connection_cache": self._cache}

    def connect(self) -> None:
        """Session (signed; encrypted when asked) and tree connect; raises ShareError."""
        self.close()
        creds = load_credentials(self.config, self._environ)
        try:
            session = smbclient.register_session(
                self.config.server,
                username=creds.account,
                password=creds.password,
                port=self.config.port,
                encrypt=True if self.config.encrypt else None,
                connection_timeout=int(self.config.timeout_seconds),
                connection_cache=self._cache,
                auth_protocol="ntlm" if "\\" not in creds.account or creds.domain else "negotiate",
                require_signing=True,
            )
            # smbprotocol waits for answers without a deadline and sends a keep-alive echo only after this many
            # idle seconds (10 minutes by default), declaring the connection dead when that goes unanswered:
            # a silently dropped network would hang a read for 20 minutes. Ours: timeout_seconds.
            session.connection._receive_timeout = max(1, int(self.config.timeout_seconds))
            # Our own tree connect: a missing share answers BAD_NETWORK_NAME here, not a DFS detour.
            tree = TreeConnect(session, f"\\\\{self.config.server}\\{self.config.share}")
            tree.connect()
            self._tree = tree
            self.encrypted = bool(session.encrypt_data or tree.encrypt_data)
            if self.config.encrypt and not self.encrypted:
                raise ShareError(
                    "encryption_unavailable",
                    f"{self.config.server}:{self.config.port} did not encrypt the session although encrypt = true",
                )
            smbclient.stat(self.root_unc, **self._kw())  # the watched folder exists and may be read
        except Exception as exc:
            self.close()
            raise classify(exc, self.config) from exc

    def close(self) -> None:
        self._tree = None
        try:
            smbclient.reset_connection_cache(fail_on_error=False, connection_cache=self._cache)
        except (SMBException, OSError, ValueError):  # a dead connection may fail to close; dropped either way
            log.debug("smb connection close failed", extra={"source": self.config.name})
        self._cache.clear()

    # --- reading ------------------------------------------------------------------------------

    def unc(self, relative: str) -> str:
        return self.root_unc + "\\" + relative.replace("/", "\\")

    def list(self) -> Iterator[Entry]:
        """Every file below the folder (recursive unless configured otherwise), sizes and times from the listing."""
        stack = [""]
        while stack:
            folder = stack.pop()
            target = self.unc(folder) if folder else self.root_unc
            try:
                entries = list(smbclient.scandir(target, **self._kw()))
            except SMBOSError as exc:
                if folder and exc.ntstatus in _NOT_FOUND:  # a subfolder removed while walking
                    continue
                raise
            for entry in entries:
                rel = f"{folder}/{entry.name}" if folder else entry.name
                if excluded([entry.name], self.config.exclude):
                    continue
                if entry.is_dir():
                    if self.config.recursive:
                        stack.append(rel)
                    continue
                info = entry.smb_info
                yield Entry(rel, (info.end_of_file, _ns(info.last_write_time)))

    def stat(self, relative: str) -> Signature | None:
        try:
            st = smbclient.stat(self.unc(relative), **self._kw())
        except SMBOSError as exc:
            if exc.ntstatus in _NOT_FOUND:
                return None
            raise
        return (int(st.st_size), int(st.st_mtime_ns) // 1000 * 1000)  # microseconds, as listings give

    def read(self, relative: str) -> tuple[bytes, str]:
        """The whole file in one pass, hashed while read; raises FileBusy while another client writes it.

        First an exclusive open (no sharing): it fails while a writer over SMB holds the file open,
        which size and mtime alone cannot tell. A server that refuses exclusive opens to this account
        (access denied) gets a shared read-only open instead, from then on.
        """
        path = self.unc(relative)
        try:
            fh = smbclient.open_file(path, mode="rb", buffering=0, share_access=None if self.exclusive_probe else "rwd",
                                     **self._kw())  # fmt: skip
        except SharingViolation as exc:
            raise FileBusy(relative) from exc
        except SMBOSError as exc:
            if exc.ntstatus == _SHARING_VIOLATION:
                raise FileBusy(relative) from exc
            if exc.ntstatus != _ACCESS_DENIED or not self.exclusive_probe:
                raise
            self.exclusive_probe = False
            log.info("exclusive open refused; reading with shared opens", extra={"source": self.config.name})
            fh = smbclient.open_file(path, mode="rb", buffering=0, share_access="rwd", **self._kw())
        digest, chunks = hashlib.sha256(), []
        with fh:
            while chunk := fh.read(_READ_CHUNK):
                digest.update(chunk)
                chunks.append(chunk)
        return b"".join(chunks), digest.hexdigest()

    # --- watching -----------------------------------------------------------------------------

    def watch(self, on_change: Callable[[], None], stop: threading.Event) -> None:
        """Blocks, calling `on_change` after each CHANGE_NOTIFY answer, until `stop` or an error (raised)."""
        handle = smbclient.open_file(self.root_unc, mode="rb", buffering=0, file_type="dir", share_access="rwd",
                                     **self._kw())  # fmt: skip
        try:
            while not stop.is_set():
                watcher = FileSystemWatcher(handle.fd)
                watcher.start(_NOTIFY_FILTER, flags=ChangeNotifyFlags.SMB2_WATCH_TREE if self.config.recursive else 0)
                while not watcher.response_event.wait(0.5):
                    if stop.is_set():
                        watcher.cancel()
                        return
                watcher.result  # noqa: B018 - raises what the server answered (e.g. the share went away)
                on_change()
        finally:
            try:
                handle.close()
            except (SMBException, OSError, ValueError):  # the connection may be gone already
                log.debug("smb watch handle close failed", extra={"source": self.config.name})

    def notify_supported(self, wait: float = 0.5) -> bool:
        """Starts a CHANGE_NOTIFY and cancels it: False when the server refuses it at once (doctor's check)."""
        handle = smbclient.open_file(self.root_unc, mode="rb", buffering=0, file_type="dir", share_access="rwd",
                                     **self._kw())  # fmt: skip
        try:
            watcher = FileSystemWatcher(handle.fd)
            watcher.start(_NOTIFY_FILTER, flags=ChangeNotifyFlags.SMB2_WATCH_TREE if self.config.recursive else 0)
            if watcher.response_event.wait(wait):  # answered at once: an error (or a change right now)
                try:
                    watcher.result  # noqa: B018 - raises the server's refusal
                except SMBException:
                    return False
                return True
            watcher.cancel()
            watcher.response_event.wait(wait)
            return True
        finally:
            handle.close()


_NOTIFY_FILTER = (
    CompletionFilter.FILE_NOTIFY_CHANGE_FILE_NAME
    | CompletionFilter.FILE_NOTIFY_CHANGE_DIR_NAME
    | CompletionFilter.FILE_NOTIFY_CHANGE_SIZE
    | CompletionFilter.FILE_NOTIFY_CHANGE_LAST_WRITE
)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _ns(when: datetime) -> int:
    """A listing's time (smbprotocol gives whole microseconds, UTC) as nanoseconds, exactly."""
    return (when - _EPOCH) // timedelta(microseconds=1) * 1000
