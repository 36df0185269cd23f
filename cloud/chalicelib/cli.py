"""Operator commands, run from cloud/ with the stage's environment (see settings.py):

    python -m chalicelib.cli create-admin --clinic demo --email admin@demo.clinic --password-env MEDFLOW_ADMIN_PASSWORD

The password is read from the named environment variable, never from the command line (shell history, ps).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

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
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
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
