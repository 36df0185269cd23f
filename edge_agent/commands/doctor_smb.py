"""`medflow-edge doctor` for an SMB source: sign in, the share and folder, a listing, one file read, change notify.

Each finding is said the way a clinic's IT person can act on it (which password, which share,
which permission), with server, share and folder names only: never a file name from the share.
"""

from __future__ import annotations

from edge_agent.commands.doctor import MAX_COUNTED_FILES, Check
from edge_agent.config import SmbSourceConfig
from edge_agent.sources.smb_share import FileBusy, ShareError, SmbShare, classify


def check_smb(source: SmbSourceConfig, environ: dict[str, str] | None = None) -> list[Check]:
    name = f"source {source.name}"
    share = SmbShare(source, environ=environ)
    where = f"\\\\{source.server}\\{source.share}" + (f"\\{source.path.replace('/', chr(92))}" if source.path else "")
    try:
        share.connect()
    except ShareError as exc:
        return [Check(name, "fail", f"{where}: {exc} [{exc.status}]")]
    try:
        how = "encrypted (SMB 3)" if share.encrypted else "signed, not encrypted"
        checks = [Check(name, "ok", f"{where}: signed in as {source.username or 'the account'}, {how}")]
        checks += _list_and_read(name, share, where)
        checks.append(_notify(name, share, source))
        return checks
    finally:
        share.close()


def _list_and_read(name: str, share: SmbShare, where: str) -> list[Check]:
    count, first = 0, None
    try:
        for entry in share.list():
            count += 1
            first = first or entry
            if count >= MAX_COUNTED_FILES:
                break
    except Exception as exc:  # noqa: BLE001 - every failure is reported, in words
        error = classify(exc, share.config)
        return [Check(f"{name} list", "fail", f"cannot list {where}: {error} [{error.status}]")]
    more = "at least " if count >= MAX_COUNTED_FILES else ""
    checks = [Check(f"{name} list", "ok", f"{where} lists {more}{count} file(s)")]
    if first is None:
        checks.append(
            Check(f"{name} read", "warn", "no file to test reading with yet; check again once a device exported")
        )
        return checks
    try:
        data, _ = share.read(first.relative)
    except FileBusy:
        checks.append(Check(f"{name} read", "warn", "the file tried was still being written; run doctor again"))
    except Exception as exc:  # noqa: BLE001 - every failure is reported, in words
        error = classify(exc, share.config)
        text = f"files in {where} cannot be read by this account: {error} [{error.status}]"
        checks.append(Check(f"{name} read", "fail", text))
    else:
        checks.append(Check(f"{name} read", "ok", f"read one file ({len(data)} bytes) without changing it"))
    return checks


def _notify(name: str, share: SmbShare, source: SmbSourceConfig) -> Check:
    try:
        supported = share.notify_supported()
    except Exception:  # noqa: BLE001 - a server without notify is fine: the listing covers it
        supported = False
    if supported:
        return Check(f"{name} notify", "ok", "the server announces new files at once (SMB change notify)")
    return Check(
        f"{name} notify",
        "warn",
        f"the server does not announce changes; new files are found by listing the folder every "
        f"{source.rescan_seconds:g} s (lower rescan_seconds for faster pick-up)",
    )
