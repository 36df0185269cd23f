"""API scaling benchmark: DynamoDB calls and latency per request of each journey route, at growing clinic sizes.

Run: .venv/bin/python bench/api_scaling.py [--backend moto|dynalite] [--sizes 1000,100000] [--requests 30]
     [--write-requests 5] [--write-max N] [--probe-max N] [--threads 4] [--only platform|outpatient]
     (make bench-api BENCH_API_ARGS="--backend moto --sizes 1000,10000")
Backends: dynalite (the default; npm: DynamoDB on LevelDB, installed into var/bench-dynalite/ the first
time; a Query reads only its key range, so a clinic of 100,000 patients fits in a few hundred MB) behind
bench/dynalite_front.js, which adds TransactWriteItems and TransactGetItems (dynalite 4.0 has neither) and
forwards S3 and SQS to a moto server; or a moto server for everything (a real HTTP endpoint, as `make run`
uses; it holds 10,000 patients at most here). The call counts come from the app's own connection, whatever
answers; the latencies are the backend's (plus the front's hop on dynalite).
The endpoint holds one clinic, grown to each size in
turn: the first few hundred patients registered through `services.patients.register`, the rest
written directly with BatchWriteItem as the exact items registration writes (the patient, its OP /
national-id / identity look-ups, its search entries, one audit entry, one outbox event), every tenth
patient with a tonometry capture (4 readings), one unmatched capture per hundred patients, and
audit entries spread over the past year (a clinic of that size has history). The outpatient journey
(docs/journey.md) is seeded the same way (bench/journey_history.py builds the items with the domain
repositories' own builders): every patient a COMPLETED visit with its charges and a payment, one in ten
with a consultation encounter, a diagnosis, a dispensed prescription and a completed lab request in it,
one in twenty an allergy, one in ten an appointment in the coming month, and 50 open visits in today's
queue; the probes' journeys (a completed visit, today's open visit with its encounters, a PRESCRIBED
prescription and a PENDING lab request, a SHA invoice, an appointment) go through the API, and the bench
fails when a seeded item's attribute names differ from a service-written one's of the same kind. Each
route is then called through `chalice.test.Client` (in process: no HTTP in front of the app);
`--only outpatient` (or `platform`) measures one group of routes.

Per route: the DynamoDB calls one request makes (counted with a botocore `before-call` hook on the
app's one connection) and the latency p50/p95. The baseline is the smallest size: the calls must be
the same at every size (no Scan, nothing that grows with the clinic), and the exit code is 1 when a
route's calls differ. The latency ratio to the baseline says what moto costs at that size, not
DynamoDB: moto reads and sorts a whole partition in Python at every Query (every patient's
directory items share the clinic's partition), walks every item of a table for a GSI Query, and
deep-copies a whole table for every item of a transaction, so its latency grows where DynamoDB's
would not (on moto, write routes run up to --write-max, 2,000 patients by default: beyond, a registration outlasts
botocore's 60 s read timeout); the call count is the figure that carries to DynamoDB. A route answering 4xx/5xx fails.
Searches use names, phones and OP numbers that match the same patients at every size (a page of a
search costs one Query per term kind until the page is full, so a broad prefix costs fewer Queries
once it has enough matches). The main table uses a token minted without a session (as tools do);
the session row adds what a login token costs: its session is read at every request.
Filters applied after a Query (GET /audit by resource plus user, or by resource without an id over
a year of history) are measured too: a list is one Query per request (a filtered page may hold fewer
items than asked, with a `next` token), so their calls stay the same at every size as well.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, tzinfo
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "cloud")]

from localdev.moto import LOCAL_CREDENTIALS, MotoServer  # noqa: E402

os.environ.update(LOCAL_CREDENTIALS)

import boto3  # noqa: E402
import journey_history as history  # noqa: E402  (bench/, beside this script)
from botocore.config import Config  # noqa: E402
from chalice.test import Client  # noqa: E402

from chalicelib import aws  # noqa: E402
from chalicelib.db import agents as agents_repo  # noqa: E402
from chalicelib.db import audit as audit_repo  # noqa: E402
from chalicelib.db import events as events_repo  # noqa: E402
from chalicelib.db import (  # noqa: E402
    keys,
    patient_index,
    sequences,
    store,
    unmatched,
)
from chalicelib.db import patients as patients_repo  # noqa: E402
from chalicelib.db import readings as readings_repo  # noqa: E402
from chalicelib.db.sequences import Sequence  # noqa: E402
from chalicelib.models import AgentStatus, DomainEvent, StoredReading, UnmatchedEnvelope  # noqa: E402
from chalicelib.services import audit, auth, clinics, patients, tokens  # noqa: E402
from chalicelib.services.roles import Role  # noqa: E402
from chalicelib.services.scope import Scope  # noqa: E402
from chalicelib.services.users import ensure_user  # noqa: E402
from chalicelib.settings import Settings, use_settings  # noqa: E402
from localdev.bootstrap import ensure_resources  # noqa: E402

STAGE, REGION = "bench", "us-east-1"
JWT_SECRET = "bench-only-hs256-secret-0123456789abcdef"  # noqa: S105 (a local emulator only)
PASSWORD = "correct horse battery staple"  # noqa: S105
CLINIC = "bench-clinic"
ADMIN_EMAIL = "bench.admin@bench-clinic.test"
REGISTERED_BY_SERVICE = 300  # the rest of each size is written directly
FIRST = ("Wanjiru", "Otieno", "Amina", "Baraka", "Chebet", "Daudi", "Esther", "Faraji", "Grace", "Hassan",
         "Imani", "Jabari", "Kerubo", "Lulu", "Mosi", "Nia", "Omondi", "Pendo", "Rehema", "Sefu")  # fmt: skip
LAST = ("Kamau", "Mwangi", "Njoroge", "Odhiambo", "Kiprop", "Mutua", "Wafula", "Kilonzo", "Nyambura", "Mohamed",
        "Karanja", "Owino", "Rotich", "Ndungu", "Muriuki", "Langat", "Juma", "Wekesa", "Gitau", "Korir")  # fmt: skip
PROBE_LAST = "Achieng-Probe"  # no generated surname starts like it: a name search matches the probes only
PROBES = 3
DYNALITE_VERSION = "4.0.0"
DYNALITE_DIR = REPO / "var" / "bench-dynalite"  # npm installs dynalite here the first time (never in the repo)
DYNALITE_FRONT = Path(__file__).resolve().parent / "dynalite_front.js"


def now() -> datetime:
    return datetime.now(UTC)


# --- the DynamoDB backend -------------------------------------------------------------------------------------


class DynaliteServer:
    """dynalite (npm: DynamoDB on LevelDB, on disk under var/) behind bench/dynalite_front.js, which adds the
    transactions dynalite 4.0 lacks and forwards every other service to `other` (a moto server): one endpoint,
    as the app expects. Installed with npm into var/bench-dynalite/ the first time."""

    def __init__(self, other: str) -> None:
        self.other = other
        self.proc: subprocess.Popen[str] | None = None
        self.data = Path(tempfile.mkdtemp(prefix="leveldb-", dir=ensure_dynalite()))
        self.url = ""

    def start(self, timeout: float = 30.0) -> DynaliteServer:
        node = shutil.which("node")
        assert node is not None
        command = [node, str(DYNALITE_FRONT), "--modules", str(DYNALITE_DIR), "--path", str(self.data),
                   "--other", self.other]  # fmt: skip
        self.proc = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()  # "listening PORT", or nothing when it failed
        match = re.fullmatch(r"listening (\d+)\s*", line)
        if not match:
            self.stop()
            raise RuntimeError(f"dynalite did not start: {line!r}")
        self.url = f"http://127.0.0.1:{match.group(1)}"
        return self

    def rss_mb(self) -> float:
        return rss_mb(self.proc.pid) if self.proc else 0.0

    def disk_mb(self) -> float:
        return sum(f.stat().st_size for f in self.data.rglob("*") if f.is_file()) / 1e6

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None
        shutil.rmtree(self.data, ignore_errors=True)


def ensure_dynalite() -> Path:
    """var/bench-dynalite/ with dynalite installed (npm, the first time); SystemExit when node/npm are missing."""
    if (DYNALITE_DIR / "node_modules" / "dynalite" / "package.json").is_file():
        return DYNALITE_DIR
    npm = shutil.which("npm")
    if not npm or not shutil.which("node"):
        raise SystemExit("--backend dynalite needs node (>= 20) and npm")
    DYNALITE_DIR.mkdir(parents=True, exist_ok=True)
    (DYNALITE_DIR / "package.json").write_text('{"name": "bench-dynalite", "private": true}\n')
    install = subprocess.run([npm, "install", "--no-audit", "--no-fund", f"dynalite@{DYNALITE_VERSION}"],
                             cwd=DYNALITE_DIR, capture_output=True, text=True, timeout=600)  # fmt: skip
    if install.returncode != 0:
        raise SystemExit(f"npm install dynalite@{DYNALITE_VERSION} failed: {install.stderr.strip()[-500:]}")
    return DYNALITE_DIR


def rss_mb(pid: int) -> float:
    """Resident memory of a process (Linux /proc), in MB; 0 where it cannot be read."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


# --- counting -----------------------------------------------------------------------------------------------


class DynamoCalls:
    """The DynamoDB operations the app's connection sends, in order (a botocore event hook, no wrapper)."""

    def __init__(self) -> None:
        self.ops: list[str] = []
        store.connection().client.meta.events.register("before-call.dynamodb", self._seen)

    def _seen(self, model: Any, **_: Any) -> None:
        self.ops.append(model.name)


# --- the clinic ---------------------------------------------------------------------------------------------


def fields_of(i: int) -> dict[str, Any]:
    """Registration fields of generated patient `i` (unique phone and date of birth: never a duplicate)."""
    return {
        "first_name": FIRST[i % len(FIRST)],
        "last_name": LAST[(i // len(FIRST)) % len(LAST)],
        "sex": ("FEMALE", "MALE")[i % 2],
        "date_of_birth": date(1940, 1, 1) + timedelta(days=i % 30000),
        "phone": f"+2547{i:08d}",
        "national_id": f"{20000000 + i}" if i % 3 == 0 else None,
        "insurance_type": ("CASH", "SHA", "NHIF", "PRIVATE")[i % 4],
        "registration_type": None,
    }


@dataclass
class Clinic:
    """The bench clinic as loaded so far: ids the routes are called with, and the loading figures."""

    admin_id: str = ""
    staff: list[str] = field(default_factory=list)  # receptionists: every loaded registration names one
    nurse: str = ""  # no patient entries of hers in the audit trail
    probes: list[str] = field(default_factory=list)
    probe_ops: list[str] = field(default_factory=list)
    probe_phone: str = ""
    patients: int = 0
    sequence: int = 0  # the last OP sequence issued
    captures: int = 0
    unmatched: int = 0
    spare_envelopes: list[str] = field(default_factory=list)
    # The outpatient journey: ids the routes are called with (the probes' history, written through the API).
    journey: dict[str, str] = field(default_factory=dict)
    seeded: history.Seeded = field(default_factory=history.Seeded)
    idle: list[str] = field(default_factory=list)  # service-registered patients without an open visit
    spare_patients: list[str] = field(default_factory=list)  # POST /visits of this size opens theirs
    queue: int = 0  # today's open visits seeded
    sample: dict[str, str] = field(default_factory=dict)  # a seeded patient of each history shape

    def scope(self, user_id: str) -> Scope:
        return Scope.system(CLINIC, audit.user_actor(user_id))

    def providers(self) -> list[str]:
        """Who seeded appointments are booked with (every active member of the clinic)."""
        return [self.admin_id, *self.staff, self.nurse]


class Loader:
    """Writes items with BatchWriteItem from worker threads (one boto3 client each, as clients are not shared),
    while the caller builds the next items: `write` queues, `flush` waits for everything queued."""

    def __init__(self, endpoint: str, threads: int) -> None:
        self.endpoint, self.threads = endpoint, threads
        self.local = threading.local()
        self.pool = ThreadPoolExecutor(threads)
        self.pending: list[Future[None]] = []
        self.batches = 0
        self.items = 0
        self.seconds = 0.0  # the caller waited on BatchWriteItem (the rest of the load overlapped it)

    def _client(self) -> Any:
        if not hasattr(self.local, "client"):
            config = Config(parameter_validation=False, retries={"max_attempts": 10, "mode": "adaptive"})
            self.local.client = boto3.client("dynamodb", region_name=REGION, endpoint_url=self.endpoint, config=config)
        return self.local.client

    def _write(self, table: str, items: list[dict[str, Any]]) -> None:
        pending: dict[str, Any] = {table: [{"PutRequest": {"Item": item}} for item in items]}
        while pending:
            answer = self._client().batch_write_item(RequestItems=pending)
            pending = answer.get("UnprocessedItems") or {}

    def write(self, items: Iterable[store.Item]) -> int:
        """Queues every item (exactly as PynamoDB serialises it), 25 to a call, `threads` calls in flight; waits
        only while more than a few thousand items are queued."""
        by_table: dict[str, list[dict[str, Any]]] = {}
        count = 0
        for item in items:
            meta: Any = item.Meta
            by_table.setdefault(meta.table_name, []).append(item.serialize())
            count += 1
        chunks = [(table, rows[i : i + 25]) for table, rows in by_table.items() for i in range(0, len(rows), 25)]
        self.pending += [self.pool.submit(self._write, *chunk) for chunk in chunks]
        self.batches += len(chunks)
        self.items += count
        self._wait(keep=40 * self.threads)
        return count

    def flush(self) -> None:
        self._wait(keep=0)

    def _wait(self, keep: int) -> None:
        began = time.perf_counter()
        while len(self.pending) > keep:
            self.pending.pop(0).result()
        self.seconds += time.perf_counter() - began

    def close(self) -> None:
        self.flush()
        self.pool.shutdown()


def registration_items(clinic: Clinic, i: int, actor: str, at: datetime) -> Iterator[store.Item]:
    """What `services.patients.register` writes for patient `i` (its transaction's items, audit and event)."""
    clinic.sequence += 1
    patient_id = uuid.uuid4().hex
    values = {**patients._registered_values(fields_of(i)), "op_number": patients.op_number(clinic.sequence, at),
              "registered_at": at.isoformat(), "registered_by": actor, "id_source": "registration",
              "first_seen_at": at.isoformat(), "version": 1}  # fmt: skip
    pk = keys.clinic_pk(CLINIC)
    present = {name: value for name, value in values.items() if value is not None}
    yield patients_repo.PatientItem(pk, keys.patient_sk(patient_id), clinic_id=CLINIC, patient_id=patient_id, **present)
    for sk in [patients_repo.op_lookup_sk(values["op_number"]), *patients._identity_keys(values)]:
        yield patients_repo.LookupItem(pk, sk, patient_id=patient_id)
    for sk in sorted(patients._entries(patient_id, values)):
        yield patient_index.SearchItem(pk, sk, clinic_id=CLINIC, patient_id=patient_id)
    scope = Scope.system(CLINIC, actor)
    yield audit_repo.to_item(
        audit.entry(scope, "patient.registered", at=at, resource="patient", resource_id=patient_id)
    )
    yield events_repo.to_item(DomainEvent(id=events_repo.new_id(at), clinic_id=CLINIC, type="patient.registered",
                                          subject={"patient_id": patient_id}, actor=actor, at=at))  # fmt: skip
    if i % 10 == 0:
        clinic.captures += 1
        yield from capture_items(patient_id, f"capture-{i}", at)


def capture_items(patient_id: str, seed: str, at: datetime) -> Iterator[store.Item]:
    """A tonometry capture as the ingest stores it under a patient: three readings and their average."""
    for reading in capture(seed, at).readings:
        yield readings_repo._to_item(reading_of(patient_id, seed, at, reading))


def capture(seed: str, at: datetime) -> UnmatchedEnvelope:
    values = [{"kind": "tonometry", "eye": "OD", "iop_mmhg": v, "method": "air-puff", "representative": False}
              for v in (16.0, 24.0, 15.0)]  # fmt: skip
    values.append({"kind": "tonometry", "eye": "OD", "iop_mmhg": 18.3, "representative": True})
    envelope_id = uuid.uuid5(uuid.NAMESPACE_URL, seed).hex
    return UnmatchedEnvelope(
        clinic_id=CLINIC, envelope_id=envelope_id, agent_id="agent-1", received_at=at, captured_at=at,
        adapter={"name": "tomey_topascope_xml", "version": "1.0.0"},
        device={"vendor": "Tomey", "model": "TOP-1000", "kind": "tonometer"},
        source={"kind": "folder", "uri": "file:///srv/inbox/export.xml"},
        raw_key=f"raw/{CLINIC}/{envelope_id}.xml", readings=values,
    )  # fmt: skip


def reading_of(patient_id: str, seed: str, at: datetime, reading: dict[str, Any]) -> StoredReading:
    envelope = capture(seed, at)
    index = envelope.readings.index(reading)
    return StoredReading(
        clinic_id=CLINIC, patient_id=patient_id, envelope_id=envelope.envelope_id, index=index, kind="tonometry",
        captured_at=at, received_at=at, agent_id="agent-1", adapter=envelope.adapter, device=envelope.device,
        raw_key=envelope.raw_key, reading=reading,
    )  # fmt: skip


def set_up(clinic: Clinic) -> None:
    """Users (an organisation admin, three receptionists, a nurse), agents and the probe patients."""
    clinic.admin_id = ensure_user(CLINIC, ADMIN_EMAIL, PASSWORD, Role.ADMIN, org_admin=True)
    clinic.staff = [ensure_user(CLINIC, f"reception{n}@bench-clinic.test", PASSWORD, Role.RECEPTIONIST)
                    for n in range(3)]  # fmt: skip
    clinic.nurse = ensure_user(CLINIC, "nurse@bench-clinic.test", PASSWORD, Role.NURSE)
    for n in range(3):
        sent = now() - timedelta(minutes=n)
        agents_repo.record_heartbeat(AgentStatus(clinic_id=CLINIC, agent_id=f"agent-{n + 1}", version="0.1.0",
                                                 sent_at=sent, started_at=sent, counts={"uploaded": 7}))  # fmt: skip
    scope = clinic.scope(clinic.staff[0])
    for n in range(PROBES):
        probe = {**fields_of(10_000_000 + n), "first_name": f"Probe{'ABC'[n]}", "last_name": PROBE_LAST}
        made = patients.register(scope, probe)
        clinic.probes.append(made.id)
        clinic.probe_ops.append(made.op_number or "")
        clinic.sequence = int((made.op_number or "0").rsplit("-", 1)[-1])
    clinic.probe_phone = fields_of(10_000_000)["phone"]
    store.connection()  # bound before the loader writes the probes' captures through the same item classes


def grow(clinic: Clinic, loader: Loader, size: int, reserve: int) -> float:
    """Adds patients (and their captures, audit, events) until the clinic has `size`; returns seconds."""
    started = time.perf_counter()
    scope = clinic.scope(clinic.staff[0])
    year = timedelta(days=365)
    zone = clinics.zone(CLINIC)  # read once: it does not change while the clinic grows
    pending: list[store.Item] = []
    while clinic.patients < min(size, REGISTERED_BY_SERVICE):
        i = clinic.patients
        made = patients.register(scope, fields_of(i), at=now())
        clinic.sequence = int((made.op_number or "0").rsplit("-", 1)[-1])
        clinic.idle.append(made.id)
        pending += journey_items(clinic, i, made.id, now() - year * (1 - i / max(size, 1)), zone)
        clinic.patients += 1
    if not clinic.captures:  # the probes' captures (GET /patients/{id}/readings reads the first)
        for n, probe in enumerate(clinic.probes):
            pending += capture_items(probe, f"probe-{n}", now())
            clinic.captures += 1
    while clinic.patients < size:
        i = clinic.patients
        # Spread over the past year, the newest last (a clinic of this size has a history).
        at = now() - year * (1 - i / max(size, 1))
        registered = list(registration_items(clinic, i, audit.user_actor(clinic.staff[i % len(clinic.staff)]), at))
        pending += registered
        pending += journey_items(clinic, i, registered[0].patient_id, at, zone)
        clinic.patients += 1
        if len(pending) >= 2_000:
            loader.write(pending)
            pending = []
    loader.write(pending)
    loader.flush()
    if clinic.sequence:
        sequences.seed(CLINIC, Sequence.OP, clinic.sequence)
    sequences.seed(CLINIC, Sequence.LAB, clinic.seeded.specimens)
    clinic.spare_patients = [clinic.idle.pop() for _ in range(min(reserve, len(clinic.idle)))]
    wanted = max(5, size // 100)
    while clinic.unmatched < wanted:
        unmatched.put(capture(f"orphan-{clinic.unmatched}", now()))
        clinic.unmatched += 1
    clinic.spare_envelopes = []
    for n in range(reserve):
        envelope = capture(f"spare-{size}-{n}", now())
        unmatched.put(envelope)
        clinic.spare_envelopes.append(envelope.envelope_id)
    return time.perf_counter() - started


# --- the outpatient journey ----------------------------------------------------------------------------------

QUEUE = 50  # today's open visits (seeded once: a day's queue does not grow with the clinic)


def journey_items(clinic: Clinic, i: int, patient_id: str, at: datetime, zone: tzinfo) -> list[store.Item]:
    """Patient `i`'s journey history: a COMPLETED visit (charges, a payment); every tenth an encounter, a
    diagnosis, a dispensed prescription and a completed lab request in it; every twentieth an allergy; every
    tenth (others) an appointment in the coming month; the first QUEUE written directly an open visit today."""
    seeded = clinic.seeded
    actor = audit.user_actor(clinic.staff[i % len(clinic.staff)])
    scope = Scope.system(CLINIC, actor)
    # Completed a day before the patient's registration time: the history ends yesterday, so today's queue is the
    # QUEUE open visits at every size (at 100,000 patients a year's history reaching today put ~270 COMPLETED visits
    # first in today's queue, and the first page of ?status=TRIAGED came back empty, without its read audit).
    visited = at - timedelta(days=1)
    items = history.past_visit(seeded, scope, patient_id, visited, visited.astimezone(zone).date().isoformat(),
                               clinical=i % 10 == 0)  # fmt: skip
    if i % 20 == 0:
        items += history.allergy(seeded, scope, patient_id, at)
    if i % 10 == 5:
        tomorrow = datetime.now(zone).date() + timedelta(days=1)
        booked = history.appointment(seeded, scope, patient_id, clinic.providers(), tomorrow, at)
        items += booked
        clinic.sample.setdefault("appointment", booked[0].appointment_id)
    if i % 20 == 0 and i >= REGISTERED_BY_SERVICE:
        clinic.sample.setdefault("patient", patient_id)
    if clinic.queue < QUEUE and i >= REGISTERED_BY_SERVICE:
        opened = now() - timedelta(minutes=QUEUE - clinic.queue)
        items += history.open_visit(scope, patient_id, opened, opened.astimezone(zone).date().isoformat(),
                                    triaged=clinic.queue % 3 == 0)  # fmt: skip
        clinic.sample.setdefault("queue", patient_id)
        clinic.queue += 1
    return items


def api(client: Client, headers: dict[str, str], method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    """One set-up call through the app (the services write it); its JSON answer, or SystemExit on 4xx/5xx."""
    answer = call(client, headers, Request(method, path, body))
    if answer.status_code >= 400:
        raise SystemExit(f"set-up {method} {path} answered {answer.status_code}: {answer.body[:500]!r}")
    return json.loads(answer.body) if answer.body else None


def journey_set_up(clinic: Clinic, client: Client, headers: dict[str, str]) -> None:
    """The clinic's prices and the probes' journeys through the API: probe A a completed visit (triage,
    consultation, diagnosis, dispensed prescription, completed lab request, payment, discharge), an allergy and
    an open visit of today (TRIAGE and CONSULTATION encounters, a PRESCRIBED prescription, a PENDING lab
    request), an appointment; probe B an open visit (the write routes' target); probe C a SHA visit invoiced."""
    prices = [{"kind": kind, "code": code, "name": code.title(), "price": f"{minor / 100:.2f}"}
              for (kind, code), minor in history.PRICES.items()]  # fmt: skip
    api(client, headers, "PUT", "/prices", {"items": prices})
    p0 = clinic.probes[0]

    def visit(patient: str, payment_type: str = "CASH", **extra: str) -> str:
        body = {"patient_id": patient, "chief_complaint": "Fever and headache", "triage_category": "NORMAL",
                "payment_type": payment_type, **extra}  # fmt: skip
        return str(api(client, headers, "POST", "/visits", body)["id"])

    def encounter(visit_id: str, kind: str) -> str:
        body: dict[str, Any] = {"patient_id": p0, "visit_id": visit_id, "encounter_type": kind}
        if kind == "TRIAGE":
            body["vital_signs"] = {"blood_pressure": "120/80", "temperature": 37.9, "pulse": 88}
        else:
            body.update(notes="History of fever for three days", findings="Febrile, no neck stiffness",
                        recommendations="Malaria test; antipyretics")  # fmt: skip
        return str(api(client, headers, "POST", "/patient-encounters", body)["id"])

    def prescribe(encounter_id: str) -> str:
        body = {"patient_id": p0, "encounter_id": encounter_id, "medication_name": history.MEDICATION,
                "dosage": "500 mg", "frequency": "three times a day", "duration": "5 days", "route": "oral",
                "instructions": "After meals", "quantity": 15}  # fmt: skip
        return str(api(client, headers, "POST", "/prescriptions", body)["id"])

    def lab(visit_id: str) -> str:
        body = {"patient_id": p0, "visit_id": visit_id, "tests": history.TESTS}
        return str(api(client, headers, "POST", "/lab-requests", body)["id"])

    past = visit(p0)
    api(client, headers, "PUT", f"/visits/{past}", {"status": "TRIAGED"})
    api(client, headers, "PUT", f"/visits/{past}", {"status": "IN_CONSULTATION"})
    consulted = encounter(past, "CONSULTATION")
    api(client, headers, "POST", "/diagnoses", {"patient_id": p0, "encounter_id": consulted,
                                                "diagnosis_code": history.DIAGNOSIS_CODE})  # fmt: skip
    api(client, headers, "PUT", f"/prescriptions/{prescribe(consulted)}", {"status": "DISPENSED"})
    results = [{"code": "HB", "value": "12.5"}, {"code": "MPS", "value": "negative"}]
    api(client, headers, "PUT", f"/lab-requests/{lab(past)}", {"results": results, "status": "COMPLETED"})
    balance = api(client, headers, "GET", f"/visits/{past}")["balance"]
    api(client, headers, "POST", "/payments", {"visit_id": past, "amount": balance, "payment_type": "CASH"})
    api(client, headers, "PUT", f"/visits/{past}", {"status": "COMPLETED", "discharge_notes": "Reviewed; home care"})
    api(client, headers, "POST", f"/patients/{p0}/allergies",
        {"substance": "Sulfonamides", "reaction": "Rash", "severity": "MODERATE"})  # fmt: skip
    today = visit(p0)
    encounter(today, "TRIAGE")
    consulting = encounter(today, "CONSULTATION")
    prescription = prescribe(consulting)
    request = lab(today)
    sha = visit(clinic.probes[2], "SHA", payment_reference="SHA-BENCH-1")
    invoice = api(client, headers, "POST", "/sha-invoices", {"visit_id": sha, "sha_number": "SHA-0000001"})["id"]
    tomorrow = datetime.now(clinics.zone(CLINIC)).date() + timedelta(days=1)
    booked = api(client, headers, "POST", "/appointments", {"patient_id": p0, "provider_id": clinic.nurse,
                                                            "date": tomorrow.isoformat(), "time": "07:00",
                                                            "reason": "Review"})  # fmt: skip
    clinic.journey = {
        "past_visit": past, "visit": today, "encounter": consulting, "prescription": prescription,
        "lab_request": request, "invoice": invoice, "appointment": booked["id"], "day": tomorrow.isoformat(),
        "writes_visit": visit(clinic.probes[1]),
    }  # fmt: skip
    clinic.seeded.specimens = sequences.current(CLINIC, Sequence.LAB)


def check_seeded(clinic: Clinic, loader: Loader) -> list[str]:
    """Where a seeded journey item's attribute names differ from a service-written one's of the same kind."""
    client = loader._client()
    if not {"patient", "appointment", "queue"} <= clinic.sample.keys():
        # Every patient went through the services (sizes under REGISTERED_BY_SERVICE): nothing was seeded.
        print("  seeded vs service-written journey items: nothing seeded directly at these sizes")
        return []
    served = history.stored_kinds(client, CLINIC, clinic.probes[0], clinic.journey["appointment"])
    seeded = history.stored_kinds(client, CLINIC, clinic.sample["patient"], clinic.sample["appointment"])
    queue = history.stored_kinds(client, CLINIC, clinic.sample["queue"], clinic.sample["appointment"])
    seeded = {**queue, **seeded}
    compared = ", ".join(sorted(seeded.keys() & served.keys()))
    print(f"  seeded vs service-written journey items, attribute names compared for: {compared}")
    return history.differences(seeded, served)


# --- measuring ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    body: dict[str, Any] | None = None


@dataclass(frozen=True)
class Route:
    """One row: a label and how to make its k-th request at a size."""

    label: str
    make: Callable[[Clinic, int, int], Request]
    warm: bool = True  # a GET can be repeated untimed once first; a write would change what it measures
    known_growth: bool = False  # measured, reported, but not part of the exit code
    group: str = "platform"  # "platform" | "outpatient" (the journey's domains): `--only` picks one
    kind: str = "read"  # "read" | "write" (timed `--write-requests` times) | "probe" (once: it only shows the calls)


def past_day() -> str:
    """A day three months back: the visits the seeded history opened that day (more at a bigger clinic)."""
    return (datetime.now(clinics.zone(CLINIC)).date() - timedelta(days=90)).isoformat()


def journey() -> list[Route]:

    def get(path: Callable[[Clinic], str]) -> Callable[[Clinic, int, int], Request]:
        return lambda clinic, size, k: Request("GET", path(clinic))

    def register(clinic: Clinic, size: int, k: int) -> Request:
        n = size * 1000 + k
        phone = f"+2547{90000000 + n % 9999999:08d}"  # unique: never a duplicate
        body = {"first_name": "Newcomer", "last_name": f"Bench{n}", "sex": "FEMALE", "date_of_birth": "1990-05-17",
                "phone": phone, "insurance_type": "CASH"}  # fmt: skip
        return Request("POST", "/patients", body)

    def edit(clinic: Clinic, size: int, k: int) -> Request:
        n = size * 1000 + k
        return Request("PATCH", f"/patients/{clinic.probes[1]}", {"phone": f"+2547{80000000 + n % 9999999:08d}"})

    def assign(clinic: Clinic, size: int, k: int) -> Request:
        return Request("POST", f"/readings/unmatched/{clinic.spare_envelopes[k]}/assign",
                       {"patient_id": clinic.probes[2]})  # fmt: skip

    def open_visit(clinic: Clinic, size: int, k: int) -> Request:
        return Request("POST", "/visits", {"patient_id": clinic.spare_patients[k], "chief_complaint": "Cough",
                                           "triage_category": "NORMAL", "payment_type": "CASH"})  # fmt: skip

    def triage(clinic: Clinic, size: int, k: int) -> Request:
        return Request("POST", "/patient-encounters", {
            "patient_id": clinic.probes[1], "visit_id": clinic.journey["writes_visit"], "encounter_type": "TRIAGE",
            "vital_signs": {"blood_pressure": "118/76", "temperature": 36.8, "pulse": 72},
        })  # fmt: skip

    def pay(clinic: Clinic, size: int, k: int) -> Request:
        body = {"visit_id": clinic.journey["writes_visit"], "amount": "1.00", "payment_type": "MOBILE_MONEY",
                "reference": f"MPESA{size}{k}"}  # fmt: skip
        return Request("POST", "/payments", body)

    def outpatient_journey() -> list[Route]:
        """The outpatient journey's domains (docs/journey.md): every list route and a few writes."""
        routes = [
            Route("GET /visits (today's queue)", get(lambda c: "/visits")),
            Route("GET /visits?status=TRIAGED", get(lambda c: "/visits?status=TRIAGED")),
            Route("GET /visits?date= (a past day)", get(lambda c: f"/visits?date={past_day()}")),
            Route("GET /visits/{id}", get(lambda c: f"/visits/{c.journey['visit']}")),
            Route("GET /visits/{id}/bill", get(lambda c: f"/visits/{c.journey['past_visit']}/bill")),
            Route("GET /patients/{id}/visits", get(lambda c: f"/patients/{c.probes[0]}/visits")),
            Route("GET /patient-encounters/{id}", get(lambda c: f"/patient-encounters/{c.journey['encounter']}")),
            Route("GET /patients/{id}/encounters", get(lambda c: f"/patients/{c.probes[0]}/encounters")),
            Route("GET /patients/{id}/diagnoses", get(lambda c: f"/patients/{c.probes[0]}/diagnoses")),
            Route("GET /patients/{id}/allergies", get(lambda c: f"/patients/{c.probes[0]}/allergies")),
            Route("GET /prescriptions?status=PRESCRIBED", get(lambda c: "/prescriptions?status=PRESCRIBED")),
            Route("GET /prescriptions?status=DISPENSED", get(lambda c: "/prescriptions?status=DISPENSED")),
            Route("GET /prescriptions/patient/{id}", get(lambda c: f"/prescriptions/patient/{c.probes[0]}")),
            Route("GET /prescriptions/{id}", get(lambda c: f"/prescriptions/{c.journey['prescription']}")),
            Route("GET /lab-requests?status=PENDING", get(lambda c: "/lab-requests?status=PENDING")),
            Route("GET /lab-requests?status=COMPLETED", get(lambda c: "/lab-requests?status=COMPLETED")),
            Route("GET /lab-requests/{id}", get(lambda c: f"/lab-requests/{c.journey['lab_request']}")),
            Route("GET /patients/{id}/lab-requests", get(lambda c: f"/patients/{c.probes[0]}/lab-requests")),
            Route("GET /appointments?date=", get(lambda c: f"/appointments?date={c.journey['day']}")),
            Route(
                "GET /appointments?date=&provider=",
                get(lambda c: f"/appointments?date={c.journey['day']}&provider={c.staff[1]}"),
            ),
            Route("GET /prices", get(lambda c: "/prices")),
            Route("GET /sha-invoices", get(lambda c: "/sha-invoices")),
            Route("GET /sha-invoices?status=PENDING", get(lambda c: "/sha-invoices?status=PENDING")),
            Route("GET /sha-invoices/{id}", get(lambda c: f"/sha-invoices/{c.journey['invoice']}")),
            Route("POST /visits", open_visit, warm=False, kind="write"),
            Route("POST /patient-encounters (TRIAGE)", triage, warm=False, kind="write"),
            Route("POST /payments", pay, warm=False, kind="write"),
        ]
        return [dataclasses.replace(route, group="outpatient") for route in routes]

    return [
        Route("GET /patients/{id}", get(lambda c: f"/patients/{c.probes[0]}")),
        Route("GET /patients?q= (name prefix)", get(lambda c: "/patients?q=achieng")),
        Route("GET /patients?q= (phone)", get(lambda c: f"/patients?q={c.probe_phone.replace('+', '%2B')}")),
        Route("GET /patients?q= (OP number)", get(lambda c: f"/patients?q={c.probe_ops[0]}")),
        Route("GET /patients/{id}/readings", get(lambda c: f"/patients/{c.probes[0]}/readings")),
        Route("GET /readings/unmatched", get(lambda c: "/readings/unmatched")),
        Route("GET /agents", get(lambda c: "/agents")),
        Route("GET /audit", get(lambda c: "/audit")),
        Route("GET /audit?resource=&resource_id=", get(lambda c: f"/audit?resource=patient&resource_id={c.probes[0]}")),
        Route("GET /audit?user_id=", get(lambda c: f"/audit?user_id={c.staff[0]}")),
        Route("GET /events", get(lambda c: "/events")),
        Route("GET /users", get(lambda c: "/users")),
        Route("GET /clinics", get(lambda c: "/clinics")),
        *outpatient_journey(),
        Route("POST /patients", register, warm=False, kind="write"),
        Route("PATCH /patients/{id}", edit, warm=False, kind="write"),
        Route("POST /readings/unmatched/{id}/assign", assign, warm=False, kind="write"),
        # Filters evaluated after the Query: still one Query per request (a page may come back short).
        Route(
            "GET /audit?resource=&user_id=",
            get(lambda c: f"/audit?resource=patient&user_id={c.nurse}"),
            warm=False,
            kind="probe",
        ),
        Route(
            "GET /audit?resource= (past year)",
            get(lambda c: "/audit?resource=patient&limit=200"),
            warm=False,
            kind="probe",
        ),
    ]


@dataclass
class Figures:
    calls: list[int]
    ops: list[str]  # the operations of the first timed request, in order
    latencies: list[float]
    statuses: set[int]

    @property
    def p50(self) -> float:
        return statistics.median(self.latencies) * 1000

    @property
    def p95(self) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))] * 1000

    @property
    def per_request(self) -> str:
        low, high = min(self.calls), max(self.calls)
        return str(low) if low == high else f"{low}-{high}"


def call(client: Client, headers: dict[str, str], request: Request) -> Any:
    if request.method == "GET":
        return client.http.get(request.path, headers=headers)
    body = json.dumps(request.body)
    send = {"POST": client.http.post, "PATCH": client.http.patch, "PUT": client.http.put}[request.method]
    return send(request.path, headers={**headers, "Content-Type": "application/json"}, body=body)


def measure(client: Client, counter: DynamoCalls, headers: dict[str, str], make: Callable[[int], Request],
            requests: int, warm: bool) -> Figures:  # fmt: skip
    if warm:
        call(client, headers, make(0))
    figures = Figures([], [], [], set())
    for k in range(requests):
        request = make(k)
        start = len(counter.ops)
        began = time.perf_counter()
        answer = call(client, headers, request)
        figures.latencies.append(time.perf_counter() - began)
        seen = counter.ops[start:]
        figures.calls.append(len(seen))
        figures.statuses.add(answer.status_code)
        if k == 0:
            figures.ops = seen
    return figures


# --- main ---------------------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,100000", help="clinic sizes (patients), smallest first: the baseline")
    parser.add_argument("--requests", type=int, default=30, help="timed requests per route at each size")
    parser.add_argument("--write-requests", type=int, default=5,
                        help="timed requests of each write route (moto copies every table a transaction touches, "
                        "once per item, so a write costs seconds at 100,000 patients)")  # fmt: skip
    parser.add_argument("--write-max", type=int,
                        help="largest size write routes run at (default: 2,000 on moto, which copies the table per "
                        "transaction item, so a registration outlasts the 60 s read timeout at 10,000 patients; "
                        "every size on dynalite)")  # fmt: skip
    parser.add_argument("--probe-max", type=int,
                        help="largest size the known-growth audit probes run at (default: 2,000 on moto, every size "
                        "on dynalite)")  # fmt: skip
    parser.add_argument("--backend", choices=("moto", "dynalite"), default="dynalite",
                        help="the DynamoDB endpoint: dynalite (npm, DynamoDB on LevelDB: a Query reads only its key "
                        "range; the default, as 100,000 patients do not fit moto) behind bench/dynalite_front.js, "
                        "with S3 and SQS on moto; or moto's server (as `make run`) for everything")  # fmt: skip
    parser.add_argument("--threads", type=int, default=4, help="loader threads (BatchWriteItem calls in flight)")
    parser.add_argument("--only", choices=("platform", "outpatient"),
                        help="measure one group of routes: the platform's (patients, readings, audit ...) or the "
                        "outpatient journey's (visits, bills, encounters, prescriptions, lab ...)")  # fmt: skip
    args = parser.parse_args()
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[attr-defined]  # progress shows when redirected
    sizes = sorted(int(s) for s in args.sizes.split(","))
    unlimited = args.backend == "dynalite"
    limits = (
        args.write_max if args.write_max is not None else (max(sizes) if unlimited else 2_000),
        args.probe_max if args.probe_max is not None else (max(sizes) if unlimited else 2_000),
    )
    server = MotoServer().start()
    dynamo: DynaliteServer | None = None
    try:
        if args.backend == "dynalite":
            dynamo = DynaliteServer(other=server.url).start()

        def memory() -> str:
            moto = f"moto server {rss_mb(server.proc.pid) if server.proc else 0:,.0f} MB RSS"
            if dynamo is None:
                return moto
            return f"dynalite {dynamo.rss_mb():,.0f} MB RSS, {dynamo.disk_mb():,.0f} MB on disk (LevelDB); {moto}"

        backend = Backend(args.backend, memory)
        return run(dynamo.url if dynamo else server.url, sizes, args.requests, args.write_requests, args.threads,
                   limits, args.only, backend)  # fmt: skip
    finally:
        if dynamo is not None:
            dynamo.stop()
        server.stop()


@dataclass(frozen=True)
class Backend:
    name: str  # "moto" | "dynalite"
    memory: Callable[[], str]  # what the endpoint's processes hold now


def run(endpoint: str, sizes: list[int], requests: int, write_requests: int, threads: int,
        limits: tuple[int, int], only: str | None = None, backend: Backend | None = None) -> int:  # fmt: skip
    """`limits`: the largest size write routes and the known-growth probes run at."""
    backend = backend or Backend("moto", lambda: "")
    os.environ["AWS_ENDPOINT_URL"] = endpoint
    settings = Settings(stage=STAGE, region=REGION, endpoint_url=endpoint, jwt_secret=JWT_SECRET)
    use_settings(settings)
    aws.reset_clients()
    ensure_resources(endpoint, STAGE, REGION)
    from app import app

    client = Client(app)
    counter = DynamoCalls()
    clinic = Clinic()
    set_up(clinic)

    def minted() -> dict[str, str]:
        """A fresh tool-minted admin token (no session): one per route, as a slow size outlasts its 15 minutes."""
        token = tokens.issue(user_id=clinic.admin_id, clinic_id=CLINIC, role=Role.ADMIN.value, settings=settings,
                             org_id=settings.org_id, org_admin=True)  # fmt: skip
        return {"Authorization": f"Bearer {token.token}"}

    journey_set_up(clinic, client, minted())
    routes = [route for route in journey() if only in (None, route.group)]
    loader = Loader(endpoint, threads)
    mismatched: list[str] = []
    print(f"{backend.name} at {endpoint}; {requests} timed requests per read route and size, {write_requests} per "
          "write route, 1 per known-growth probe; "
          f"the first {REGISTERED_BY_SERVICE} patients through services.patients.register, the rest by "
          f"BatchWriteItem ({threads} threads)")  # fmt: skip
    results: dict[int, dict[str, Figures]] = {}
    sessions: dict[int, tuple[Figures, Figures]] = {}
    for size in sizes:
        items0, written0 = loader.items, loader.seconds
        seconds = grow(clinic, loader, size, reserve=write_requests if size <= limits[0] else 0)
        items, written = loader.items - items0, loader.seconds - written0
        print(f"loaded {size:,} patients in {seconds:.1f} s: {items:,} items by BatchWriteItem ({items / seconds:,.0f} "
              f"items/s over the load, building the next items while {threads} threads write; {written:.1f} s "
              f"waiting on the writes), the rest through the services; {clinic.captures:,} captures with readings, "
              f"{clinic.unmatched:,} unmatched captures")  # fmt: skip
        print(f"  journey history: {clinic.seeded.visits:,} completed visits (charges, a payment), "
              f"{clinic.seeded.clinical:,} with an encounter, diagnosis, dispensed prescription and completed lab "
              f"request, {clinic.seeded.appointments:,} appointments over 30 days, "
              f"{clinic.queue} open visits today")  # fmt: skip
        if shown := backend.memory():
            print(f"  memory after loading: {shown}")
        if size == sizes[0]:
            mismatched = check_seeded(clinic, loader)
            print("  " + ("; ".join(mismatched) if mismatched else "same attribute names for every kind"))
        results[size] = {}
        for route in routes:
            if size > {"write": limits[0], "probe": limits[1]}.get(route.kind, size):
                continue
            make = functools.partial(lambda k, r, n: r.make(clinic, n, k), r=route, n=size)
            count = {"read": requests, "write": write_requests, "probe": 1}[route.kind]
            measured = results[size][route.label] = measure(client, counter, minted(), make, count, route.warm)
            # As it goes (a slow size still shows what it measured): calls, p50, operations, statuses.
            print(f"  {size:,} {route.label}: {measured.per_request} calls, p50 {measured.p50:.1f} ms, "
                  f"{shown_ops(measured.ops)} (HTTP {','.join(map(str, sorted(measured.statuses)))})")  # fmt: skip
        login = auth.login(ADMIN_EMAIL, PASSWORD, source_ip="127.0.0.1")
        with_session = {"Authorization": f"Bearer {login.access.token}"}
        read = Request("GET", f"/patients/{clinic.probes[0]}")
        sessions[size] = (
            measure(client, counter, minted(), lambda k, r=read: r, requests, True),
            measure(client, counter, with_session, lambda k, r=read: r, requests, True),
        )
    failed = report(sizes, routes, results, sessions, backend.name)
    if mismatched:
        print(f"seeded journey items differ from service-written ones: {'; '.join(mismatched)}")
    loader.close()
    return 1 if failed or mismatched else 0


def report(sizes: list[int], routes: list[Route], results: dict[int, dict[str, Figures]],
           sessions: dict[int, tuple[Figures, Figures]], backend: str = "moto") -> int:  # fmt: skip
    base = sizes[0]
    head = f"{'route':<40}" + "".join(f" | {f'{s:,} patients':>28}" for s in sizes) + f" | {'p50 / baseline':>14} | ops"
    print()
    print(f"calls = DynamoDB calls per request; p50/p95 = latency in ms through chalice.test.Client on {backend}")
    print(head)
    print(f"{'':<40}" + "".join(f" | {'calls':>6} {'p50':>9} {'p95':>9} " for _ in sizes) + f" | {'':>14} |")
    for route in routes:
        ran = [size for size in sizes if route.label in results[size]]
        row = f"{route.label:<40}"
        for size in sizes:
            f = results[size].get(route.label)
            row += f" | {f.per_request:>6} {f.p50:>9.1f} {f.p95:>9.1f} " if f else f" | {'not run':>27} "
        ratio = results[ran[-1]][route.label].p50 / results[base][route.label].p50
        shown = f"{ratio:>13.2f}x" if len(ran) > 1 else f"{'-':>14}"
        statuses = sorted({s for size in ran for s in results[size][route.label].statuses})
        row += f" | {shown} | {shown_ops(results[base][route.label].ops)}  (HTTP {','.join(map(str, statuses))})"
        print(row)
    print()
    print("session check: GET /patients/{id} with a login token (session id: its session is read) vs a minted one")
    for size in sizes:
        plain, session = sessions[size]
        extra = session.calls[0] - plain.calls[0]
        print(f"session check at {size:,} patients: {plain.per_request} -> {session.per_request} calls "
              f"(+{extra}: {extra_ops(plain.ops, session.ops)}); p50 {plain.p50:.1f} -> {session.p50:.1f} ms "
              f"(+{session.p50 - plain.p50:.1f} ms, {session.p50 / plain.p50:.2f}x)")  # fmt: skip
    print()
    failed = 0
    for route in routes:
        counts = [sorted(set(results[size][route.label].calls)) for size in sizes if route.label in results[size]]
        same = all(c == counts[0] for c in counts) and len(counts[0]) == 1
        shown = " vs ".join("/".join(map(str, c)) for c in counts)
        errors = sorted({status for size in sizes if route.label in results[size]
                         for status in results[size][route.label].statuses if status >= 400})  # fmt: skip
        if errors:
            verdict = f"FAILED: answered HTTP {','.join(map(str, errors))}"
            failed += 1
        elif len(counts) < len(sizes):
            verdict = "run only up to --write-max / --probe-max"
        elif same:
            verdict = "same calls at every size"
        elif route.known_growth:
            verdict = "GROWS with the clinic (known: a filter after the Query)"
        else:
            verdict = "DIFFERENT calls between sizes"
            failed += 1
        print(f"{route.label:<40} {shown:>16}  {verdict}")
    plain_counts = {sessions[size][0].calls[0] for size in sizes}
    session_counts = {sessions[size][1].calls[0] for size in sizes}
    if len(plain_counts) > 1 or len(session_counts) > 1:
        failed += 1
    print(f"{'session check (login token)':<40} {'/'.join(map(str, sorted(session_counts))):>16}  "
          f"{'same calls at every size' if len(session_counts) == 1 else 'DIFFERENT calls between sizes'}")  # fmt: skip
    return 1 if failed else 0


def shown_ops(ops: list[str]) -> str:
    return " ".join(f"{op}x{n}" if n > 1 else op for op, n in Counter(ops).items())


def extra_ops(plain: list[str], session: list[str]) -> str:
    return shown_ops(list((Counter(session) - Counter(plain)).elements())) or "none"


if __name__ == "__main__":
    sys.exit(main())
