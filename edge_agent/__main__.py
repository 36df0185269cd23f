"""`medflow-edge` (also `python -m edge_agent`): the commands, and the one place the agent's objects are built."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from edge_agent import __version__
from edge_agent.adapters import ALL_ADAPTERS
from edge_agent.commands import EXIT_USAGE
from edge_agent.commands.doctor import Check, DoctorReport, run_doctor
from edge_agent.commands.install import register as register_install
from edge_agent.commands.parse import cmd_parse
from edge_agent.commands.replay import replay
from edge_agent.commands.simulate import register as register_simulate
from edge_agent.commands.status import cmd_status
from edge_agent.config import (
    AgentConfig,
    AstmTcpSourceConfig,
    DicomScpSourceConfig,
    FolderSourceConfig,
    MllpSourceConfig,
    SerialSourceConfig,
    SmbSourceConfig,
    SourceConfig,
    load_config,
)
from edge_agent.errors import ConfigError
from edge_agent.identity import Identity
from edge_agent.intake.describer import Describer
from edge_agent.intake.intake import Intake
from edge_agent.intake.parse_pool import ParsePool
from edge_agent.intake.port import IntakePort
from edge_agent.ops.activity import Activity, Expected
from edge_agent.ops.flowlog import FlowLog
from edge_agent.ops.health import Counters, HealthServer
from edge_agent.ops.heartbeat import Heartbeat
from edge_agent.ops.logs import setup_logging
from edge_agent.ops.sd_notify import SdNotifier
from edge_agent.remote_config.document import Published, effective
from edge_agent.remote_config.fetch import ConfigFetcher
from edge_agent.remote_config.last_good import LastGood
from edge_agent.remote_config.poller import ConfigStatus, RemoteConfigPoller
from edge_agent.sources import Source
from edge_agent.sources.folder import FolderSource
from edge_agent.sources.running import RunningSources
from edge_agent.sources.seen import SeenFiles
from edge_agent.spool import DB_NAME, BlobStore, Ledger, Spool
from edge_agent.spool.uploader import ObjectWriter, Uploader, make_s3_client
from shared_models import QuarantineReason

log = logging.getLogger("edge_agent")

CONFIG_ENV = "MEDFLOW_EDGE_CONFIG"


def build_source(config: SourceConfig, intake: IntakePort, seen: SeenFiles | None = None) -> Source:
    """Protocol sources are imported only when configured, so a site without them needs none of their deps."""
    if isinstance(config, FolderSourceConfig):
        return FolderSource(config, intake, seen=seen)
    try:
        if isinstance(config, MllpSourceConfig):
            from edge_agent.sources.mllp import MllpSource

            return MllpSource(config, intake)  # type: ignore[no-any-return,unused-ignore]
        if isinstance(config, SerialSourceConfig):
            from edge_agent.sources.serial import SerialSource

            return SerialSource(config, intake)  # type: ignore[no-any-return,unused-ignore]
        if isinstance(config, AstmTcpSourceConfig):
            from edge_agent.sources.astm_tcp import AstmTcpSource

            return AstmTcpSource(config, intake)  # type: ignore[no-any-return,unused-ignore]
        if isinstance(config, SmbSourceConfig):
            from edge_agent.sources.smb import SmbSource

            return SmbSource(config, intake, seen=seen)
        if isinstance(config, DicomScpSourceConfig):
            from edge_agent.sources.dicom_scp import DicomScpSource

            return DicomScpSource(config, intake)  # type: ignore[no-any-return,unused-ignore]
    except ImportError as exc:
        raise ConfigError(f"source {config.name!r}: kind {config.kind!r} is not available here: {exc}") from exc
    raise ConfigError(f"source {config.name!r}: unknown kind")


@dataclass
class Agent:
    """Everything `run` starts, in start order; stopped in reverse, each before what it writes to closes."""

    spool: Spool
    intake: Intake
    uploader: Uploader
    heartbeat: Heartbeat
    flow: FlowLog
    sources: RunningSources
    activity: Activity
    health: HealthServer | None = None
    parse_pool: ParsePool | None = None
    remote: RemoteConfigPoller | None = None  # `remote_config = true`: polls what the cloud publishes

    def start(self) -> None:
        self.spool.tidy()
        self.intake.resume()  # items a crash left half-way, before anything new arrives
        self.uploader.start()
        self.heartbeat.start()
        if self.health is not None:
            self.health.start()
        if self.parse_pool is not None:
            self.parse_pool.start()
        self.sources.start()
        if self.remote is not None:
            self.remote.start()

    def stop(self) -> None:
        if self.remote is not None:
            self.remote.stop()  # no change of sources while they stop (one being applied finishes first)
        self.sources.stop()  # nothing new comes in
        if self.parse_pool is not None:
            self.parse_pool.close()
        self.flow.close()  # the last "items parsed" counts, while logging still writes
        if self.health is not None:
            self.health.stop()
        self.uploader.stop()
        self.heartbeat.stop()
        self.spool.close()

    def apply(self, config: AgentConfig) -> None:
        """Runs on `config` from now on (a published configuration, laid over the TOML): sources added, removed
        or changed live (nothing taken is lost: edge_agent/sources/running.py), the heartbeat's interval and
        source list, the log level. Raises ConfigError / SourceStartFailed with the previous sources running."""
        change = self.sources.replace(config.sources)
        self.activity.configure(_expected(config))
        self.heartbeat.reconfigure(interval=config.agent.heartbeat_seconds, sources=[s.name for s in config.sources])
        logging.getLogger().setLevel(config.agent.log_level)
        log.info("sources changed", extra={"added": change.added, "removed": change.removed,
                                           "restarted": change.restarted})  # fmt: skip


def _expected(config: AgentConfig) -> list[Expected]:
    return [Expected(s.name, s.kind, s.expect_every_minutes) for s in config.sources]


def build_parse_pool(config: AgentConfig, describer: Describer) -> ParsePool | None:
    """Parse workers for the busiest MLLP source that asks for them (they serve one event loop)."""
    wanting = [s for s in config.sources if isinstance(s, MllpSourceConfig) and s.parse_workers]
    if not wanting:
        return None
    busiest = max(wanting, key=lambda s: s.parse_workers)
    return ParsePool(busiest.parse_workers, describer, name=busiest.name)


def _last_good(config: AgentConfig, ident: Identity) -> Published | None:
    """The published configuration applied before the last stop, when remote configuration is on."""
    if not config.agent.remote_config:
        return None
    return LastGood(config.agent.data_dir).load(ident)


def build_agent(config: AgentConfig) -> Agent:
    local = config  # the TOML: what a published configuration is laid over
    ident = Identity(config.agent.clinic_id, config.agent.agent_id, config.cloud.prefix)
    last = _last_good(config, ident)
    if last is not None:  # started as it ran before, also without the network
        config = effective(local, last.config)
        logging.getLogger().setLevel(config.agent.log_level)
        log.info("starting with the last remote configuration", extra={"version": last.version})
    spool = Spool(config.agent.data_dir, keep_quarantined_seconds=config.agent.keep_quarantined_days * 86400)
    pool = build_parse_pool(config, Describer(ident, ALL_ADAPTERS))
    a = config.agent
    intake = Intake(
        spool, ident, max_spool_bytes=a.max_spool_bytes, max_spool_items=a.max_spool_items,
        spool_resume_ratio=a.spool_resume_ratio, adapters=ALL_ADAPTERS, parse_pool=pool,
    )  # fmt: skip
    writer = ObjectWriter(make_s3_client(config.cloud), config.cloud)
    uploader = Uploader(
        spool,
        writer,
        backoff_base=config.cloud.backoff_base_seconds,
        backoff_max=config.cloud.backoff_max_seconds,
        alarm_after=config.cloud.max_attempts_before_alarm,
    )
    intake.on_new_item(uploader.wake)
    uploader.on_uploaded(intake.relieve)  # the spool-full alarm clears as the backlog drains
    flow = FlowLog(logging.getLogger("edge_agent.intake"))
    intake.on_taken(flow.taken)
    names = [s.name for s in config.sources]
    activity = Activity(_expected(config))
    intake.on_taken(activity.taken)
    status = ConfigStatus(last.version if last is not None else None) if config.agent.remote_config else None
    heartbeat = Heartbeat(
        spool, writer, ident, interval=config.agent.heartbeat_seconds, sources=names, activity=activity,
        config_status=status.report if status is not None else None,
    )  # fmt: skip
    health = None
    try:
        seen = SeenFiles(config.agent.data_dir / "sources.db")
        sources = RunningSources(lambda source: build_source(source, intake, seen), config.sources)
        if config.agent.health_port:  # metrics are counted only when served
            counters = Counters()
            intake.on_taken(counters.inputs_taken)
            uploader.on_put(counters.object_put)
            uploader.on_uploaded(counters.item_uploaded)
            health = HealthServer(
                spool.ledger.path, counters, host=config.agent.health_host, port=config.agent.health_port,
                alarm_after=config.cloud.max_attempts_before_alarm, refusing=lambda: spool.refusing,
            )  # fmt: skip
    except ConfigError:
        spool.close()
        raise
    agent = Agent(spool, intake, uploader, heartbeat, flow, sources, activity, health, pool)
    if status is not None:
        fetcher = ConfigFetcher(make_s3_client(config.cloud), config.cloud.bucket, ident)
        agent.remote = RemoteConfigPoller(
            fetcher, LastGood(config.agent.data_dir), local, ident, agent.apply,
            interval=config.agent.remote_config_seconds, status=status,
        )  # fmt: skip
        agent.remote.on_change(heartbeat.beat_soon)  # the cloud hears of an applied or refused version at once
    return agent


def _load(path: str | None) -> AgentConfig:
    path = path or os.environ.get(CONFIG_ENV)
    if not path:
        raise ConfigError(f"no configuration: pass --config FILE or set {CONFIG_ENV}")
    return load_config(Path(path))


def cmd_run(args: argparse.Namespace) -> int:
    try:
        config = _load(args.config)
        setup_logging(config.agent.log_level)
        agent = build_agent(config)
    except ConfigError as exc:
        print(f"medflow-edge: configuration error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    stopping = threading.Event()

    def _on_signal(signum: int, frame: FrameType | None) -> None:
        stopping.set()

    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGTERM, _on_signal)
    systemd = SdNotifier()  # a no-op unless systemd started us (Type=notify, WatchdogSec)
    # WATCHDOG=1 from the heartbeat loop, three times per WatchdogSec (systemd's WATCHDOG_USEC)
    watchdog_every = systemd.watchdog_seconds / 3 if systemd.watchdog_seconds else None
    agent.heartbeat.on_beat(systemd.watchdog, every=watchdog_every)
    agent.start()
    log.info(
        "agent running",
        extra={"clinic_id": config.agent.clinic_id, "agent_id": config.agent.agent_id, "version": __version__},
    )
    systemd.ready(f"running {len(config.sources)} source(s)")
    stopping.wait()
    systemd.stopping()
    log.info("agent stopping")
    agent.stop()
    log.info("agent stopped")
    return 0


def _parse(args: argparse.Namespace) -> int:
    setup_logging("WARNING")  # stdout carries the results; only problems go to stderr, as JSON
    return cmd_parse(args.paths, as_json=args.json, patterns=args.patterns, adapters=ALL_ADAPTERS)


def _status(args: argparse.Namespace) -> int:
    if args.data_dir:
        return cmd_status(Path(args.data_dir), as_json=args.json)
    try:
        config = _load(args.config)
    except ConfigError as exc:
        print(f"medflow-edge: configuration error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    return cmd_status(config.agent.data_dir, as_json=args.json)


def _replay(args: argparse.Namespace) -> int:
    reasons = [r.value for r in QuarantineReason]
    if args.reason is not None and args.reason not in reasons:
        print(f"medflow-edge replay: --reason must be one of {', '.join(reasons)}", file=sys.stderr)
        return EXIT_USAGE
    try:
        config = _load(args.config)
    except ConfigError as exc:
        print(f"medflow-edge: configuration error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    setup_logging("WARNING")  # stdout carries the summary; problems go to stderr, as JSON
    db = config.agent.data_dir / DB_NAME
    if not db.is_file():
        print(f"medflow-edge replay: no spool at {db} (has the agent run with this data_dir?)", file=sys.stderr)
        return EXIT_USAGE
    ident = Identity(config.agent.clinic_id, config.agent.agent_id, config.cloud.prefix)
    ledger = Ledger(db, readonly=args.dry_run)  # read-write beside a running agent: WAL, short transactions
    try:
        report = replay(
            ledger, BlobStore(config.agent.data_dir / "blobs"), ident, adapters=ALL_ADAPTERS, reason=args.reason,
            dry_run=args.dry_run, keep_quarantined_days=config.agent.keep_quarantined_days,
        )  # fmt: skip
    finally:
        ledger.close()
    print(report.to_json() if args.json else report.to_text())
    return 0


def _doctor(args: argparse.Namespace) -> int:
    path = args.config or os.environ.get(CONFIG_ENV)
    if not path:
        print(f"medflow-edge doctor: pass --config FILE or set {CONFIG_ENV}", file=sys.stderr)
        return EXIT_USAGE
    setup_logging("ERROR")  # the checks' own messages say what is wrong
    try:
        config = load_config(Path(path))
    except ConfigError as exc:  # a finding like any other: nothing else can be checked without it
        report = DoctorReport([Check("config", "fail", str(exc))])
    else:
        report = run_doctor(config, path, make_s3_client(config.cloud))
    print(report.to_json() if args.json else report.to_text())
    return 1 if report.failed else 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="medflow-edge", description="MedFlow clinic edge agent")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    run = sub.add_parser("run", help="run the agent (sources, spool, uploader, heartbeat)")
    run.add_argument("--config", help=f"agent TOML file (default: ${CONFIG_ENV})")
    run.set_defaults(func=cmd_run)

    parse = sub.add_parser("parse", help="detect and parse files only (no network, no spool)")
    parse.add_argument("paths", nargs="*", metavar="PATH", help="files or folders (walked)")
    parse.add_argument("--json", action="store_true", help="JSON Lines: one envelope or quarantine per line")
    parse.add_argument(
        "--patient-id-pattern", action="append", default=[], dest="patterns", help='e.g. "{patient_id}/*"'
    )
    parse.set_defaults(func=_parse)

    status = sub.add_parser("status", help="spool counts, last upload, last error (exit 1 on alarm)")
    status.add_argument("--config", help=f"agent TOML file (default: ${CONFIG_ENV})")
    status.add_argument("--data-dir", help="read this data directory instead of the config's")
    status.add_argument("--json", action="store_true")
    status.set_defaults(func=_status)

    replay_cmd = sub.add_parser("replay", help="parse quarantined items again (after an adapter upgrade)")
    replay_cmd.add_argument("--config", help=f"agent TOML file (default: ${CONFIG_ENV})")
    replay_cmd.add_argument("--reason", help="only items quarantined for this reason (e.g. unknown_format)")
    replay_cmd.add_argument("--dry-run", action="store_true", help="report what would change; write nothing")
    replay_cmd.add_argument("--json", action="store_true")
    replay_cmd.set_defaults(func=_replay)

    doctor = sub.add_parser("doctor", help="check config, data_dir, spool, sources, S3 and clock (exit 1 on failure)")
    doctor.add_argument("--config", help=f"agent TOML file (default: ${CONFIG_ENV})")
    doctor.add_argument("--json", action="store_true")
    doctor.set_defaults(func=_doctor)

    register_simulate(sub)  # `simulate hl7|astm`: play analyzer messages to a listener, as a device would
    register_install(sub)  # `install` / `uninstall`: the systemd service (and the Windows one, rendered)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits on --help (0) and on usage errors (2)
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    if getattr(args, "handler", None):
        return int(args.handler(args))
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    try:
        return int(args.func(args))
    except BrokenPipeError:  # `medflow-edge parse --json ... | head`: the reader left; not an error of ours
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1


if __name__ == "__main__":
    sys.exit(main())
