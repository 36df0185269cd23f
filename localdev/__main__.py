"""`python -m localdev run|admin`: the local stack behind `make run` and `make admin`."""

from __future__ import annotations

import argparse
import sys

from localdev.settings import LocalSettings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="medflow-local", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("run", help="run moto server, API, event router and a demo edge agent")
    sub.add_parser("admin", help="create or reset the first admin on the running local stack")
    args = parser.parse_args(argv)
    settings = LocalSettings.from_env()
    if args.command == "run":
        from localdev.stack import run

        return run(settings)
    from localdev.moto import port_in_use
    from localdev.stack import bootstrap

    if not port_in_use(settings.aws_port):
        print(f"medflow: no local AWS on {settings.aws_url}; start the stack first with `make run`", file=sys.stderr)
        return 1
    try:
        bootstrap(settings)
    except Exception as exc:  # noqa: BLE001 - an operator command answers with one line, never a traceback
        message = getattr(exc, "message", None) or str(exc) or exc.__class__.__name__
        print(f"medflow: could not create the admin: {message}", file=sys.stderr)
        return 1
    print(f"admin {settings.admin_email} ready in clinic {settings.clinic_id}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
