"""Operator commands, run from cloud/ with the stage's environment (see settings.py):

    python -m chalicelib.cli create-admin --clinic demo --email admin@demo.clinic --password-env MEDFLOW_ADMIN_PASSWORD
    python -m chalicelib.cli vapid-keys [--out FILE]   # a new web push VAPID pair (`make vapid`)

The password is read from the named environment variable, never from the command line (shell history, ps).
`vapid-keys` needs no stage: it prints the pair as environment lines, or writes the private key as a PEM file
(mode 0600; MEDFLOW_VAPID_KEY_FILE) and prints only the public key.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from chalicelib import vapid
from chalicelib.errors import MedflowError
from chalicelib.services.users import ensure_admin
from chalicelib.settings import SettingsError, get_settings


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m chalicelib.cli", description="MedFlow cloud operator commands")
    commands = parser.add_subparsers(dest="command", required=True)
    admin = commands.add_parser("create-admin", help="create a clinic admin, or reset its password")
    admin.add_argument("--clinic", required=True, help="clinic id, e.g. demo")
    admin.add_argument("--email", required=True)
    admin.add_argument("--password-env", required=True, metavar="VAR", help="environment variable holding the password")
    keys = commands.add_parser("vapid-keys", help="generate a web push VAPID key pair")
    keys.add_argument("--out", type=Path, help="write the private key to this PEM file (0600) instead of printing it")
    return parser


def vapid_keys(out: Path | None) -> int:
    private, public = vapid.generate()
    if out is None:
        print(f"MEDFLOW_VAPID_PRIVATE_KEY={private}")
        print(f"MEDFLOW_VAPID_PUBLIC_KEY={public}")
        return 0
    if out.exists():
        print(f"error: {out} exists; not overwriting a key subscriptions depend on", file=sys.stderr)
        return 1
    out.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(vapid.to_pem(private))
    print(f"MEDFLOW_VAPID_KEY_FILE={out}")
    print(f"MEDFLOW_VAPID_PUBLIC_KEY={public}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "vapid-keys":
        return vapid_keys(args.out)
    try:
        get_settings()  # a bad environment is reported before anything is written
        password = os.environ.get(args.password_env)
        if not password:
            print(f"error: environment variable {args.password_env} is not set or empty", file=sys.stderr)
            return 2
        user_id = ensure_admin(args.clinic, args.email, password)
    except (MedflowError, SettingsError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"admin {args.email.strip().lower()} of clinic {args.clinic} is ready (user id {user_id})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
