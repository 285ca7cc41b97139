#!/usr/bin/env python3
"""Kill -9 at random points: nothing the server acknowledged is lost or stored twice.

Drives the real server binary (`livingwell serve`) on a real SQLite file or a fresh Postgres
database with a stream of writes of the kinds the apps make, each carrying its own retry
identity (a message's client id; an `Idempotency-Key` for the rest), while another thread kills
the server with SIGKILL at random moments and starts it again. A write is retried, with the
same identity, until the server gives a definite answer, exactly as the phone's outbox does.
Then it counts, in the database itself:

- every write answered 2xx is stored exactly once, and so is every write the server said was
  applied but whose answer was lost (409 `idempotency_answer_lost`);
- nothing else was stored (no write that was never sent, no second copy);
- nothing is half-written: every message has its `message_created` event, every plan version
  and comment has its audit entry;
- the audit chain verifies (`livingwell audit verify`), and SQLite's `integrity_check` is ok.

Standard library only; `psql` reads Postgres. Exits non-zero on any loss, duplicate or
half-written write, and prints one line of figures per database for faults/README.md.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import resource
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

DEMO_PASSWORD = "livingwell-demo"
READY_WITHIN_S = 30.0
# Every request gives up after this long; a kill makes the connection fail at once anyway.
REQUEST_TIMEOUT_S = 10.0
# How long the clients keep writing after the last kill.
SETTLE_S = 4.0


class Unavailable(Exception):
    """The server did not answer (killed, restarting, or refusing connections)."""


class Unexpected(Exception):
    """An answer no correct server gives to these requests."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    binary: str
    database_url: str
    data_dir: str
    port: int
    log_path: str
    process: subprocess.Popen | None = None
    starts: int = 0

    def start(self, demo: bool = False) -> float:
        """Starts the server and waits until it is ready; returns the seconds it took."""
        began = time.monotonic()
        args = [
            self.binary,
            "--database-url",
            self.database_url,
            "serve",
            "--bind",
            f"127.0.0.1:{self.port}",
            "--data-dir",
            self.data_dir,
            "--message-rate-limit",
            "0",
            # A key held by a killed process is free again after this long (production: 2 min).
            "--idempotency-lease-secs",
            "2",
        ]
        if demo:
            args.append("--demo")
        # The log reaches its file through a pipe, so that the harness writes the file, not
        # the server: a limit on what the server may write (`RLIMIT_FSIZE`) spares it.
        self.process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        threading.Thread(
            target=copy_to_file, args=(self.process.stdout, self.log_path), daemon=True
        ).start()
        self.starts += 1
        deadline = began + READY_WITHIN_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the server exited at start (see {self.log_path})")
            try:
                status, _ = request(self.port, "GET", "/readyz", timeout=1.0)
                if status == 200:
                    return time.monotonic() - began
            except Unavailable:
                pass
            time.sleep(0.02)
        raise RuntimeError(f"the server was not ready within {READY_WITHIN_S} s")

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()


def copy_to_file(source, path: str) -> None:
    with open(path, "ab") as log:
        for line in source:
            log.write(line)


def request(
    port: int,
    method: str,
    path: str,
    token: str | None = None,
    body: object | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = REQUEST_TIMEOUT_S,
) -> tuple[int, object]:
    """One request on a new connection; `Unavailable` when no answer came."""
    all_headers = dict(headers or {})
    if token:
        all_headers["Authorization"] = f"Bearer {token}"
    payload = None
    if body is not None:
        payload = json.dumps(body).encode()
        all_headers["Content-Type"] = "application/json"
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request(method, path, body=payload, headers=all_headers)
        response = connection.getresponse()
        raw = response.read()
        headers_seen = {k.lower(): v for k, v in response.getheaders()}
    except (OSError, http.client.HTTPException) as error:
        raise Unavailable(str(error)) from error
    finally:
        connection.close()
    parsed: object = None
    if raw and headers_seen.get("content-type", "").startswith("application/json"):
        parsed = json.loads(raw)
    elif raw:
        parsed = raw.decode(errors="replace")
    if isinstance(parsed, dict):
        parsed["_etag"] = headers_seen.get("etag")
        parsed["_retry_after"] = headers_seen.get("retry-after")
    return response.status, parsed


@dataclass
class Outcomes:
    """What the writers know about each write, by the tag it carries."""

    acknowledged: dict[str, set[str]] = field(default_factory=dict)
    applied_answer_lost: dict[str, set[str]] = field(default_factory=dict)
    retries: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, kind: str, tag: str, answer_lost: bool) -> None:
        with self.lock:
            target = self.applied_answer_lost if answer_lost else self.acknowledged
            target.setdefault(kind, set()).add(tag)

    def sent(self, kind: str) -> set[str]:
        return self.acknowledged.get(kind, set()) | self.applied_answer_lost.get(kind, set())


class Client:
    """A signed-in account that retries each write until the server gives a definite answer."""

    def __init__(self, server: Server, username: str, outcomes: Outcomes, stop: threading.Event):
        self.server = server
        self.username = username
        self.outcomes = outcomes
        self.stop = stop
        self.token = ""
        self.user: dict = {}
        self.sign_in()

    def sign_in(self) -> None:
        while True:
            try:
                status, body = request(
                    self.server.port,
                    "POST",
                    "/v1/auth/login",
                    body={"username": self.username, "password": DEMO_PASSWORD},
                )
            except Unavailable:
                time.sleep(0.05)
                continue
            if status == 200 and isinstance(body, dict):
                self.token = body["access_token"]
                self.user = body["user"]
                return
            if status in (429, 503):
                time.sleep(0.2)
                continue
            raise Unexpected(f"sign-in of {self.username}: {status} {body}")

    def call(self, method: str, path: str, body: object | None = None, headers=None):
        """Until answered: a connection failure or a 503 is retried as it stands."""
        while True:
            try:
                status, answer = request(
                    self.server.port, method, path, self.token, body, headers
                )
            except Unavailable:
                self.outcomes.retries += 1
                time.sleep(0.02)
                continue
            if status == 401:
                self.sign_in()
                continue
            if status == 503:
                time.sleep(0.05)
                continue
            return status, answer

    def write(self, kind, tag, method, path, body, headers=None, keep=None) -> int:
        """Sends one write until it is answered for good; records what the answer says, and
        hands a 2xx answer's body to `keep`."""
        while True:
            status, answer = self.call(method, path, body, headers)
            if 200 <= status < 300:
                self.outcomes.record(kind, tag, answer_lost=False)
                if keep is not None:
                    keep(answer)
                return status
            code = answer.get("code") if isinstance(answer, dict) else None
            if status == 409 and code == "idempotency_in_progress":
                time.sleep(0.25)
                continue
            if status == 409 and code == "idempotency_answer_lost":
                self.outcomes.record(kind, tag, answer_lost=True)
                return status
            return status


def write_messages(client: Client, conversation: str, prefix: str) -> None:
    n = 0
    while not client.stop.is_set():
        n += 1
        tag = f"{prefix}-{n}"
        status = client.write(
            "message",
            tag,
            "POST",
            f"/v1/conversations/{conversation}/messages",
            {"client_id": str(uuid.uuid4()), "body": f"fault harness {tag}"},
        )
        if status not in (200, 201, 409):
            raise Unexpected(f"message {tag}: {status}")


def write_comments(client: Client, person: str) -> None:
    n = 0
    while not client.stop.is_set():
        n += 1
        tag = f"comment-{n}"
        status = client.write(
            "comment",
            tag,
            "POST",
            f"/v1/people/{person}/enablement-plan/comments",
            {"section": "goals", "body": f"fault harness {tag}"},
            {"Idempotency-Key": str(uuid.uuid4())},
        )
        if status not in (200, 201, 409):
            raise Unexpected(f"comment {tag}: {status}")


def write_versions(client: Client, person: str, record: str) -> None:
    """New versions of the Enablement Plan (`record` = "enablement-plan") or the WRAP, each on
    the version just read (`If-Match`), each carrying its tag in a text field."""
    n = 0
    path = f"/v1/people/{person}/{record}"
    field_of = "plan" if record == "enablement-plan" else "wrap"
    kind = "version" if record == "enablement-plan" else "wrap"
    while not client.stop.is_set():
        n += 1
        tag = f"{kind}-{n}"
        status, current = client.call("GET", path)
        if status != 200 or not isinstance(current, dict):
            raise Unexpected(f"{record} read: {status}")
        content = current[field_of]
        if field_of == "plan":
            content.setdefault("about_me", {})["preferred_name"] = tag
        else:
            content["post_crisis_plan"] = tag
        status = client.write(
            kind,
            tag,
            "PUT",
            path,
            {field_of: content},
            {"Idempotency-Key": str(uuid.uuid4()), "If-Match": current["_etag"]},
        )
        if status == 409:
            continue  # applied with its answer lost (recorded), or the base moved: read again
        if status not in (200, 201):
            raise Unexpected(f"{kind} {tag}: {status}")


def write_appointments(staff: Client, person_client: Client, person: str) -> None:
    """Staff book appointments; the person confirms each one they were answered about."""
    n = 0
    base = datetime.now(timezone.utc).replace(microsecond=0) + timedelta(days=2)
    while not staff.stop.is_set():
        n += 1
        tag = f"appointment-{n}"
        starts = base + timedelta(minutes=30 * n)
        answer: dict = {}

        def keep(body):
            answer.update(body if isinstance(body, dict) else {})

        status = staff.write(
            "appointment",
            tag,
            "POST",
            f"/v1/people/{person}/appointments",
            {
                "kind": "key_worker_session",
                "starts_at": starts.isoformat(),
                "ends_at": (starts + timedelta(minutes=30)).isoformat(),
                "location": {"type": "home"},
                "notes_for_person": f"fault harness {tag}",
            },
            {"Idempotency-Key": str(uuid.uuid4())},
            keep,
        )
        if status == 409:
            continue  # applied, answer lost: its id is unknown here, so no confirmation
        if status not in (200, 201):
            raise Unexpected(f"appointment {tag}: {status}")
        status = person_client.write(
            "confirmation",
            answer["id"],
            "POST",
            f"/v1/appointments/{answer['id']}/response",
            {"action": "confirm"},
            {"Idempotency-Key": str(uuid.uuid4())},
        )
        if status not in (200, 201, 409):
            raise Unexpected(f"confirmation of {tag}: {status}")


def write_consents(client: Client, person: str, carer_id: str) -> None:
    """The person shares their diary with their carer, then takes it back."""
    while not client.stop.is_set():
        answer: dict = {}

        def keep(body):
            answer.update(body if isinstance(body, dict) else {})

        grant_tag = str(uuid.uuid4())
        status = client.write(
            "consent",
            grant_tag,
            "POST",
            f"/v1/people/{person}/consents",
            {"carer_id": carer_id, "scopes": ["appointments"]},
            {"Idempotency-Key": grant_tag},
            keep,
        )
        if status == 409:
            continue
        if status not in (200, 201):
            raise Unexpected(f"consent: {status}")
        status = client.write(
            "revocation",
            answer["id"],
            "DELETE",
            f"/v1/people/{person}/consents/{answer['id']}",
            None,
            {"Idempotency-Key": str(uuid.uuid4())},
        )
        if status not in (200, 204, 409):
            raise Unexpected(f"revocation: {status}")


def write_bookings(client: Client, person: str, programme: str) -> None:
    """The person gives up their place on the demo's WRAP group and books it again, by turns;
    which turn is due is read from the server, so a turn whose answer was lost is not lost."""
    while not client.stop.is_set():
        status, listing = client.call("GET", f"/v1/people/{person}/bookings")
        if status != 200 or not isinstance(listing, list):
            raise Unexpected(f"bookings: {status}")
        active = [
            b["id"]
            for b in listing
            if b["programme_id"] == programme and b["status"] in ("booked", "waitlisted", "offered")
        ]
        if active:
            status = client.write(
                "cancellation",
                active[0],
                "DELETE",
                f"/v1/programmes/{programme}/bookings/{active[0]}",
                None,
                {"Idempotency-Key": str(uuid.uuid4())},
            )
            if status not in (200, 409):
                raise Unexpected(f"cancellation: {status}")
            continue
        key = str(uuid.uuid4())
        status = client.write(
            "booking",
            key,
            "POST",
            f"/v1/programmes/{programme}/bookings",
            {},
            {"Idempotency-Key": key},
        )
        # 200 would be "already booked": a place this loop did not see, so a write it lost.
        if status not in (201, 409):
            raise Unexpected(f"booking: {status}")


def write_offline_reads(client: Client, person: str) -> None:
    """A carer's phone uploads crisis-plan reads it showed offline; each read once."""
    while not client.stop.is_set():
        event_id = str(uuid.uuid4())
        read_at = datetime.now(timezone.utc) - timedelta(seconds=30)
        status = client.write(
            "offline_read",
            event_id,
            "POST",
            "/v1/audit/offline-reads",
            {
                "reads": [
                    {
                        "event_id": event_id,
                        "person_id": person,
                        "record": "crisis_plan",
                        "read_at": read_at.isoformat(),
                    }
                ]
            },
        )
        if status not in (200, 201):
            raise Unexpected(f"offline read: {status}")


class Database:
    """Reads the store the server wrote, in its own dialect."""

    def __init__(self, url: str):
        self.url = url
        self.sqlite = url.startswith("sqlite:")

    def rows(self, sqlite_sql: str, postgres_sql: str | None = None) -> list[tuple]:
        if self.sqlite:
            path = self.url.removeprefix("sqlite://").split("?")[0]
            with sqlite3.connect(path) as db:
                return db.execute(sqlite_sql).fetchall()
        out = subprocess.run(
            ["psql", self.url, "-At", "-F", "\t", "-c", postgres_sql or sqlite_sql],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        return [tuple(line.split("\t")) for line in out.splitlines() if line]

    def count(self, sqlite_sql: str, postgres_sql: str | None = None) -> int:
        return int(self.rows(sqlite_sql, postgres_sql)[0][0])

    def uuid(self, value: str) -> str:
        """A UUID as a literal of this database (a 16-byte BLOB on SQLite)."""
        hex_digits = uuid.UUID(value).hex
        return f"X'{hex_digits}'" if self.sqlite else f"'{value}'::uuid"

    def json_text(self, column: str, *path: str) -> str:
        """A text member of a JSON column, as an expression of this database."""
        if self.sqlite:
            return f"json_extract({column}, '$.{'.'.join(path)}')"
        steps = "".join(f"->'{p}'" for p in path[:-1])
        return f"{column}{steps}->>'{path[-1]}'"

    def uuid_text(self, column: str) -> str:
        """A UUID column as lower-case hyphenated text."""
        if not self.sqlite:
            return f"{column}::text"
        h = f"lower(hex({column}))"
        return (
            f"(substr({h},1,8) || '-' || substr({h},9,4) || '-' || substr({h},13,4) || '-' || "
            f"substr({h},17,4) || '-' || substr({h},21))"
        )


PREFIX = "fault harness "
# Every kind of write the harness makes; a run in which one was never acknowledged proves
# nothing about it, and fails.
WRITE_KINDS = (
    "message",
    "comment",
    "version",
    "wrap",
    "appointment",
    "confirmation",
    "consent",
    "revocation",
    "offline_read",
    "booking",
    "cancellation",
)
CONSENTS_OF_ALEX = "SELECT count(*) FROM consents WHERE person_id = {person}"
BOOKINGS_OF_ALEX = (
    "SELECT count(*) FROM bookings WHERE person_id = {person} AND programme_id = {programme}"
)


def count_problems(
    db: Database,
    outcomes: Outcomes,
    person: str,
    consents_before: int,
    kinds: tuple[str, ...] = (),
    bookings: tuple[str, int] | None = None,
) -> dict[str, int]:
    """Losses, duplicates and half-written writes; of `kinds` only, when named."""
    problems = {"lost": 0, "duplicated": 0, "half_written": 0}

    def compare(kind: str, stored: list[str]) -> None:
        """Every write sent is stored once; none twice."""
        if kinds and kind not in kinds:
            return
        sent = outcomes.sent(kind)
        seen: dict[str, int] = {}
        for tag in stored:
            seen[tag] = seen.get(tag, 0) + 1
        for tag in sent:
            if seen.get(tag, 0) == 0:
                problems["lost"] += 1
                print(f"  LOST {kind} {tag}", file=sys.stderr)
        for tag, times in seen.items():
            if times > 1:
                problems["duplicated"] += times - 1
                print(f"  DUPLICATED {kind} {tag} x{times}", file=sys.stderr)

    def tags(sql: str) -> list[str]:
        return [row[0] for row in db.rows(sql)]

    def half_written(what: str, count: int) -> None:
        if count:
            problems["half_written"] += count
            print(f"  HALF-WRITTEN {what}: {count}", file=sys.stderr)

    cut = len(PREFIX) + 1
    compare("message", tags(f"SELECT substr(body, {cut}) FROM messages WHERE body LIKE '{PREFIX}%'"))
    compare(
        "comment",
        tags(f"SELECT substr(body, {cut}) FROM plan_comments WHERE body LIKE '{PREFIX}%'"),
    )
    for kind, record, path in (
        ("version", "enablement_plan", ("about_me", "preferred_name")),
        ("wrap", "wrap", ("post_crisis_plan",)),
    ):
        name = db.json_text("body", *path)
        compare(
            kind,
            tags(f"SELECT {name} FROM plan_versions WHERE kind = '{record}' AND {name} LIKE '{kind}-%'"),
        )
    compare(
        "appointment",
        tags(
            f"SELECT substr(notes_for_person, {cut}) FROM appointments "
            f"WHERE notes_for_person LIKE '{PREFIX}%'"
        ),
    )
    compare(
        "offline_read",
        tags(f"SELECT {db.uuid_text('event_id')} FROM offline_reads"),
    )
    # Consents carry no text of the harness's: every grant sent is one new row of the person's.
    grants = db.count(CONSENTS_OF_ALEX.format(person=db.uuid(person))) - consents_before
    sent_grants = len(outcomes.sent("consent")) if not kinds or "consent" in kinds else grants
    if grants < sent_grants:
        problems["lost"] += sent_grants - grants
        print(f"  LOST consents: {sent_grants} sent, {grants} stored", file=sys.stderr)
    if grants > sent_grants:
        problems["duplicated"] += grants - sent_grants
        print(f"  DUPLICATED consents: {sent_grants} sent, {grants} stored", file=sys.stderr)
    # Bookings carry no text either: every booking sent is one new row of the person's, and
    # every booked place has its sessions in the person's diary.
    if bookings is not None and (not kinds or "booking" in kinds):
        programme, bookings_before = bookings
        made = db.count(
            BOOKINGS_OF_ALEX.format(person=db.uuid(person), programme=db.uuid(programme))
        ) - bookings_before
        sent_bookings = len(outcomes.sent("booking"))
        if made < sent_bookings:
            problems["lost"] += sent_bookings - made
            print(f"  LOST bookings: {sent_bookings} sent, {made} stored", file=sys.stderr)
        if made > sent_bookings:
            problems["duplicated"] += made - sent_bookings
            print(f"  DUPLICATED bookings: {sent_bookings} sent, {made} stored", file=sys.stderr)
        half_written(
            "places booked without their sessions",
            db.count(
                f"SELECT count(*) FROM bookings b WHERE b.person_id = {db.uuid(person)} "
                "AND b.status = 'booked' AND NOT EXISTS "
                "(SELECT 1 FROM appointments a WHERE a.booking_id = b.id)"
            ),
        )
    for booking in outcomes.acknowledged.get("cancellation", set()) if not kinds else ():
        cancelled = db.rows(f"SELECT status FROM bookings WHERE id = {db.uuid(booking)}")
        if not cancelled or cancelled[0][0] != "cancelled":
            problems["lost"] += 1
            print(f"  LOST cancellation of {booking}", file=sys.stderr)
    # What an acknowledged answer promised is what is stored.
    for appointment in outcomes.acknowledged.get("confirmation", set()):
        status = db.rows(f"SELECT status FROM appointments WHERE id = {db.uuid(appointment)}")
        if not status or status[0][0] != "confirmed":
            problems["lost"] += 1
            print(f"  LOST confirmation of {appointment}", file=sys.stderr)
    for consent in outcomes.acknowledged.get("revocation", set()):
        revoked = db.rows(f"SELECT revoked_at FROM consents WHERE id = {db.uuid(consent)}")
        if not revoked or revoked[0][0] in (None, ""):
            problems["lost"] += 1
            print(f"  LOST revocation of {consent}", file=sys.stderr)
    # Half-written: a message without the event that announces it. (Two lists compared here:
    # the event's message id is inside its JSON, which no index reaches, so a join would read
    # every event once per message.)
    announced = set(
        tags(f"SELECT {db.json_text('data', 'message_id')} FROM events WHERE kind = 'message_created'")
    )
    half_written(
        "messages without their event",
        sum(
            1
            for message in tags(
                f"SELECT {db.uuid_text('id')} FROM messages WHERE body LIKE '{PREFIX}%'"
            )
            if message not in announced
        ),
    )
    # Half-written: an offline read without its audit entry.
    half_written(
        "offline reads without their audit entry",
        db.count(
            "SELECT count(*) FROM offline_reads o WHERE NOT EXISTS "
            "(SELECT 1 FROM audit_log a WHERE a.seq = o.audit_seq)"
        ),
    )
    # Half-written: more of the harness's plan versions and comments stored than allowed plan
    # writes and comments audited (a retry is audited again, so the audit may count more).
    audited = db.count(
        "SELECT count(*) FROM audit_log WHERE resource = 'enablement_plan' "
        "AND action IN ('write', 'comment') AND outcome = 'allowed'"
    )
    name = db.json_text("body", "about_me", "preferred_name")
    stored = db.count(
        f"SELECT (SELECT count(*) FROM plan_versions WHERE kind = 'enablement_plan' AND {name} "
        f"LIKE 'version-%') + (SELECT count(*) FROM plan_comments WHERE body LIKE '{PREFIX}%')"
    )
    half_written(f"plan writes ({stored} stored, {audited} audited)", max(0, stored - audited))
    return problems


def run(binary: str, database_url: str, kills: int, seed: int, workdir: str, name: str) -> bool:
    rng = random.Random(seed)
    data_dir = os.path.join(workdir, f"{name}-data")
    os.makedirs(data_dir, exist_ok=True)
    server = Server(binary, database_url, data_dir, free_port(), os.path.join(workdir, f"{name}.log"))
    server.start(demo=True)
    outcomes = Outcomes()
    stop = threading.Event()
    # One signed-in client (its own session) per stream of writes.
    def client(username: str) -> Client:
        return Client(server, username, outcomes, stop)

    alex = client("alex")
    person = alex.user["person_id"]
    sam = client("sam")
    status, listing = alex.call("GET", "/v1/conversations")
    conversation = next(c["id"] for c in listing["conversations"] if c["kind"] == "peer")
    db = Database(database_url)
    consents_before = db.count(CONSENTS_OF_ALEX.format(person=db.uuid(person)))
    status, programmes = alex.call("GET", "/v1/programmes")
    programme = next(p["id"] for p in programmes["programmes"] if p["title"] == "WRAP group")
    bookings_before = db.count(
        BOOKINGS_OF_ALEX.format(person=db.uuid(person), programme=db.uuid(programme))
    )

    failures: list[BaseException] = []

    def guarded(target, *args):
        def body():
            try:
                target(*args)
            except BaseException as error:  # reported after the run
                failures.append(error)
                stop.set()

        return threading.Thread(target=body, daemon=True)

    writers = [
        guarded(write_messages, alex, conversation, "alex"),
        guarded(write_messages, client("jo"), conversation, "jo"),
        guarded(write_comments, client("alex"), person),
        guarded(write_versions, client("priya"), person, "enablement-plan"),
        guarded(write_versions, client("alex"), person, "wrap"),
        guarded(write_appointments, client("priya"), client("alex"), person),
        guarded(write_consents, client("alex"), person, sam.user["id"]),
        guarded(write_offline_reads, sam, person),
        guarded(write_bookings, client("alex"), person, programme),
    ]
    for writer in writers:
        writer.start()
    recoveries = []
    began = time.monotonic()
    for _ in range(kills):
        if stop.is_set():
            break
        time.sleep(rng.uniform(0.02, 0.4))
        server.kill()
        time.sleep(rng.uniform(0.0, 0.1))
        recoveries.append(server.start())
    # A quiet spell after the last restart: every stream of writes gets answers again, so a
    # server that came back unable to take one kind of write fails the run.
    time.sleep(SETTLE_S)
    stop.set()
    for writer in writers:
        writer.join(timeout=60)
    server.stop()
    elapsed = time.monotonic() - began
    if failures:
        print(f"{name}: a writer failed: {failures[0]!r}", file=sys.stderr)
        return False

    problems = count_problems(
        db, outcomes, person, consents_before, bookings=(programme, bookings_before)
    )
    verify = subprocess.run(
        [binary, "--database-url", database_url, "audit", "verify"],
        capture_output=True,
        text=True,
    )
    intact = verify.returncode == 0
    integrity = "n/a"
    if db.sqlite:
        integrity = db.rows("PRAGMA integrity_check", "")[0][0]
    acknowledged = sum(len(v) for v in outcomes.acknowledged.values())
    answer_lost = sum(len(v) for v in outcomes.applied_answer_lost.values())
    recoveries.sort()
    p50 = recoveries[len(recoveries) // 2] if recoveries else 0.0
    worst = recoveries[-1] if recoveries else 0.0
    print(
        f"{name}: {len(recoveries)} kills in {elapsed:.0f} s; writes acknowledged {acknowledged}, "
        f"applied with answer lost {answer_lost}; lost {problems['lost']}, duplicated "
        f"{problems['duplicated']}, half-written {problems['half_written']}; retries "
        f"{outcomes.retries}; restart to ready p50 {p50 * 1000:.0f} ms, max {worst * 1000:.0f} ms; "
        f"audit verify {'intact' if intact else 'BROKEN'}; integrity_check {integrity}"
    )
    kinds = sorted(set(outcomes.acknowledged) | set(outcomes.applied_answer_lost))
    print(
        "  by kind (acknowledged + applied with answer lost): "
        + ", ".join(
            f"{kind} {len(outcomes.acknowledged.get(kind, ()))}"
            f"+{len(outcomes.applied_answer_lost.get(kind, ()))}"
            for kind in kinds
        )
    )
    if not intact:
        print(verify.stdout + verify.stderr, file=sys.stderr)
    return (
        problems["lost"] == 0
        and problems["duplicated"] == 0
        and problems["half_written"] == 0
        and intact
        and integrity in ("ok", "n/a")
        and all(outcomes.acknowledged.get(kind) for kind in WRITE_KINDS)
    )


def fresh_postgres(base_url: str, workdir: str) -> tuple[str, str]:
    name = f"faults_{uuid.uuid4().hex[:12]}"
    subprocess.run(["psql", base_url, "-qc", f"CREATE DATABASE {name}"], check=True)
    url = base_url.rsplit("/", 1)[0] + f"/{name}"
    return url, name


class ThrowawayCluster:
    """A Postgres cluster of the harness's own (initdb + pg_ctl on a free port in a temp dir,
    run as the `postgres` user because they refuse root), so it can be stopped under load
    without touching the machine's shared server."""

    def __init__(self, workdir: str):
        self.dir = os.path.join(workdir, "cluster")
        self.port = free_port()
        self.log = os.path.join(workdir, "cluster.log")
        os.makedirs(self.dir)
        as_postgres = os.geteuid() == 0
        self.prefix = ["runuser", "-u", "postgres", "--"] if as_postgres else []
        if as_postgres:
            shutil.chown(workdir, "postgres")
            shutil.chown(self.dir, "postgres")
            open(self.log, "a").close()
            shutil.chown(self.log, "postgres")
        self.bin = postgres_bin_dir()
        subprocess.run(
            self.prefix
            + [os.path.join(self.bin, "initdb"), "-D", self.dir, "-A", "trust", "-U", "postgres"],
            check=True,
            capture_output=True,
        )
        self.start()
        subprocess.run(
            ["psql", self.url("postgres"), "-qc", "CREATE DATABASE livingwell"], check=True
        )

    def url(self, database: str = "livingwell") -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{database}"

    def pg_ctl(self, *args: str) -> None:
        subprocess.run(
            self.prefix + [os.path.join(self.bin, "pg_ctl"), "-D", self.dir, "-l", self.log, *args],
            check=True,
            capture_output=True,
        )

    def start(self) -> None:
        self.pg_ctl(
            "-o", f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1", "-w", "start"
        )

    def crash(self) -> None:
        """Stops at once, as a crash would: no checkpoint, clients cut off."""
        self.pg_ctl("-m", "immediate", "-w", "stop")

    def stop(self) -> None:
        try:
            self.pg_ctl("-m", "fast", "-w", "stop")
        except subprocess.CalledProcessError:
            pass


def postgres_bin_dir() -> str:
    found = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True)
    if found.returncode == 0 and found.stdout.strip():
        return found.stdout.strip()
    return os.path.dirname(os.path.realpath(shutil.which("initdb") or "/usr/bin/initdb"))


def timed(port: int, path: str, token: str | None = None) -> tuple[int | None, float, str]:
    """One GET: its status (`None` when no answer), how long it took, and its Retry-After."""
    began = time.monotonic()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request(
            "GET", path, headers={"Authorization": f"Bearer {token}"} if token else {}
        )
        response = connection.getresponse()
        response.read()
        return response.status, time.monotonic() - began, response.getheader("Retry-After", "")
    except (OSError, http.client.HTTPException):
        return None, time.monotonic() - began, ""
    finally:
        connection.close()


def run_postgres_restart(binary: str, workdir: str, seed: int, outages: int) -> bool:
    """Postgres crashes and comes back under load; the server is never restarted."""
    cluster = ThrowawayCluster(workdir)
    data_dir = os.path.join(workdir, "pg-restart-data")
    os.makedirs(data_dir, exist_ok=True)
    server = Server(binary, cluster.url(), data_dir, free_port(), os.path.join(workdir, "pg-restart.log"))
    ok = True
    try:
        server.start(demo=True)
        ok = outage_rounds(server, cluster, seed, outages)
    finally:
        server.stop()
        cluster.stop()
    return ok


def outage_rounds(server: Server, cluster: ThrowawayCluster, seed: int, outages: int) -> bool:
    rng = random.Random(seed)
    outcomes = Outcomes()
    stop = threading.Event()
    alex = Client(server, "alex", outcomes, stop)
    jo = Client(server, "jo", outcomes, stop)
    person = alex.user["person_id"]
    status, listing = alex.call("GET", "/v1/conversations")
    conversation = next(c["id"] for c in listing["conversations"] if c["kind"] == "peer")
    failures: list[BaseException] = []

    def guarded(target, *args):
        def body():
            try:
                target(*args)
            except BaseException as error:
                failures.append(error)
                stop.set()

        return threading.Thread(target=body, daemon=True)

    writers = [
        guarded(write_messages, alex, conversation, "alex"),
        guarded(write_comments, Client(server, "alex", outcomes, stop), person),
        guarded(write_versions, Client(server, "priya", outcomes, stop), person, "enablement-plan"),
    ]
    for writer in writers:
        writer.start()
    problems: list[str] = []
    slowest_503 = 0.0
    recoveries = []
    for _ in range(outages):
        time.sleep(rng.uniform(0.5, 1.5))
        cluster.crash()
        time.sleep(1.0)
        # While it is down: the API says 503 with Retry-After, quickly; /readyz says not
        # ready; /healthz stays up.
        for path, token, wanted in (
            ("/v1/me", jo.token, 503),
            (f"/v1/people/{person}/crisis-plan", jo.token, 503),
            ("/readyz", None, 503),
            ("/healthz", None, 200),
        ):
            status, took, retry_after = timed(server.port, path, token)
            if status != wanted or took > 2.0 or (wanted == 503 and not retry_after):
                problems.append(
                    f"{path} while the database is down: {status} in {took:.1f} s, "
                    f"Retry-After {retry_after!r}"
                )
            if wanted == 503:
                slowest_503 = max(slowest_503, took)
        cluster.start()
        began = time.monotonic()
        while time.monotonic() - began < 10.0:
            status, _, _ = timed(server.port, "/v1/me", jo.token)
            if status == 200:
                break
            time.sleep(0.1)
        recovered = time.monotonic() - began
        recoveries.append(recovered)
        if recovered >= 10.0:
            problems.append("the server did not recover within 10 s of the database's return")
    time.sleep(SETTLE_S)
    stop.set()
    for writer in writers:
        writer.join(timeout=60)
    if failures:
        problems.append(f"a writer failed: {failures[0]!r}")
    # Live events resume without a restart: a message sent now reaches Jo's open stream.
    if not live_event_arrives(server, alex, jo, conversation):
        problems.append("no live event reached an open stream after the database came back")
    db = Database(cluster.url())
    counted = count_problems(db, outcomes, person, 0, kinds=("message", "comment", "version"))
    acknowledged = sum(len(v) for v in outcomes.acknowledged.values())
    recoveries.sort()
    print(
        f"postgres restarted: {len(recoveries)} outages under load; writes acknowledged "
        f"{acknowledged}; lost {counted['lost']}, duplicated {counted['duplicated']}, "
        f"half-written {counted['half_written']}; slowest 503 while down {slowest_503:.2f} s; "
        f"recovered after the database returned in p50 "
        f"{recoveries[len(recoveries) // 2]:.1f} s, max {recoveries[-1]:.1f} s (no server restart)"
    )
    for problem in problems:
        print(f"  {problem}", file=sys.stderr)
    return not problems and not any(counted.values()) and acknowledged > 0


def run_file_size_limit(binary: str, workdir: str) -> bool:
    """SQLite under a file size limit (`RLIMIT_FSIZE`): a write past it fails with `EFBIG`.

    The server is started as a shell would start it, `SIGXFSZ` at its default (which ends the
    process), so the server itself must handle the signal. Once it has signed people in, its WAL
    is emptied and every file it writes is capped (`prlimit`) at 64 KiB: the next pages of WAL
    fit, and soon after nothing does.
    Then: writes are answered 503 `storage_full` with `Retry-After` and leave nothing behind; an
    audited read whose entry cannot be stored is refused the same way (SPEC §4); `/healthz`
    stays 200. The cap is lifted without a restart: the refused write, retried with its id, is
    stored once; reads and writes go on; every acknowledged write is there once, the audit
    chain verifies and `PRAGMA integrity_check` is ok.
    """
    path = os.path.join(workdir, "file-size.db")
    url = f"sqlite://{path}"
    data_dir = os.path.join(workdir, "file-size-data")
    os.makedirs(data_dir, exist_ok=True)
    server = Server(binary, url, data_dir, free_port(), os.path.join(workdir, "file-size.log"))
    problems: list[str] = []
    outcomes = Outcomes()
    stop = threading.Event()
    try:
        server.start(demo=True)
        alex = Client(server, "alex", outcomes, stop)
        person = alex.user["person_id"]
        status, listing = alex.call("GET", "/v1/conversations")
        conversation = next(c["id"] for c in listing["conversations"] if c["kind"] == "peer")
        plan = f"/v1/people/{person}/enablement-plan"
        messages = f"/v1/conversations/{conversation}/messages"

        def ask(method: str, path: str, token: str | None = None, body=None):
            """One request; a server that gave no answer (it ended) is status 0."""
            try:
                return request(server.port, method, path, token, body)
            except Unavailable as error:
                return 0, str(error)

        def send(tag: str, client_id: str) -> tuple[int, object]:
            status, body = ask(
                "POST", messages, alex.token, {"client_id": client_id, "body": f"{PREFIX}{tag}"}
            )
            if 200 <= status < 300:
                outcomes.record("message", tag, answer_lost=False)
            return status, body

        def refused(what: str, status: int, body: object) -> None:
            """A refusal past the limit must be 503 `storage_full` with `Retry-After`."""
            code = body.get("code") if isinstance(body, dict) else None
            retry_after = body.get("_retry_after") if isinstance(body, dict) else None
            if not (status == 503 and code == "storage_full" and retry_after):
                problems.append(
                    f"{what} past the limit: {status} {code}, Retry-After {retry_after!r}"
                )

        # An empty WAL, and every file capped at 64 KiB: the database's next pages of WAL fit,
        # and soon after nothing does (a write at or past the limit fails, whatever the size of
        # the file it is written to).
        with sqlite3.connect(path) as db:
            busy, _, _ = db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        if busy:
            problems.append("the WAL could not be emptied before the limit was set")
        limit = 64 * 1024
        assert server.process is not None
        resource.prlimit(
            server.process.pid, resource.RLIMIT_FSIZE, (limit, resource.RLIM_INFINITY)
        )
        refused_write: tuple[str, str] | None = None
        for n in range(5000):
            tag, client_id = f"file-size-{n}", str(uuid.uuid4())
            status, body = send(tag, client_id)
            if not 200 <= status < 300:
                refused("a message", status, body)
                refused_write = (tag, client_id)
                break
        if refused_write is None:
            problems.append(f"5000 messages written under a {limit}-byte limit")
        if server.process.poll() is not None:
            problems.append(f"the server ended (exit status {server.process.returncode})")
        else:
            # A read is served while its audit entry fits the room left, and refused after.
            for _ in range(50):
                status, body = ask("GET", plan, alex.token)
                if status != 200:
                    refused("an audited read", status, body)
                    break
            else:
                problems.append("50 audited reads served with no room for their entries")
            status, _ = ask("GET", "/healthz")
            if status != 200:
                problems.append(f"/healthz past the limit: {status}")

        if refused_write is not None:
            left = Database(url).count(
                f"SELECT count(*) FROM messages WHERE body = '{PREFIX}{refused_write[0]}'"
            )
            if left:
                problems.append("the refused message was stored")
        # Room again, with no restart.
        back_after = None
        began = time.monotonic()
        if refused_write is not None and server.process.poll() is None:
            resource.prlimit(
                server.process.pid,
                resource.RLIMIT_FSIZE,
                (resource.RLIM_INFINITY, resource.RLIM_INFINITY),
            )
            while time.monotonic() - began < 10.0:
                status, _ = send(*refused_write)
                if 200 <= status < 300:
                    back_after = time.monotonic() - began
                    break
                time.sleep(0.1)
        if back_after is None:
            problems.append("the refused write was not taken within 10 s of the limit lifting")
        for n in range(20):
            status, body = send(f"file-size-after-{n}", str(uuid.uuid4()))
            if not 200 <= status < 300:
                problems.append(f"a message after the limit lifted: {status} {body}")
                break
        status, body = ask("GET", plan, alex.token)
        if status != 200:
            problems.append(f"an audited read after the limit lifted: {status} {body}")
    finally:
        server.stop()

    db = Database(url)
    counted = count_problems(db, outcomes, person, 0, kinds=("message",))
    verify = subprocess.run(
        [binary, "--database-url", url, "audit", "verify"], capture_output=True, text=True
    )
    integrity = db.rows("PRAGMA integrity_check")[0][0]
    acknowledged = len(outcomes.acknowledged.get("message", ()))
    print(
        f"file size limit: {acknowledged} messages acknowledged under and after a "
        f"{limit // 1024} KiB limit; lost {counted['lost']}, duplicated "
        f"{counted['duplicated']}, half-written {counted['half_written']}; refused write taken "
        f"{(back_after or 0) * 1000:.0f} ms after the limit lifted (no restart); audit verify "
        f"{'intact' if verify.returncode == 0 else 'BROKEN'}; integrity_check {integrity}"
    )
    for problem in problems:
        print(f"  {problem}", file=sys.stderr)
    return (
        not problems
        and not any(counted.values())
        and verify.returncode == 0
        and integrity == "ok"
    )


# What the phone (`tests/src/bin/phone.rs`) writes: `Crash-safety write crash-<run>-<j>`.
PHONE_PREFIX = "Crash-safety write "
# The longest a start of the phone lives before it is killed (as in tests/tests/engine_crash.rs).
PHONE_LIFETIME_S = 0.45
PHONE_MAX_WRITES = 10
PHONE_FINAL_DRAIN_S = 90.0


def phone_tag(tag: str) -> tuple[int, int]:
    run, j = tag.removeprefix("crash-").split("-")
    return int(run), int(j)


def run_phone_and_server(
    binary: str, phone: str, database_url: str, starts: int, seed: int, workdir: str, name: str
) -> bool:
    """Both ends killed: the phone's engine and the server, by turns and at the same moment.

    The phone binary queues messages and plan comments in its encrypted outbox and drains it;
    it is SIGKILLed at a random point of every start and started again on the same store. In a
    quarter of the starts the server is SIGKILLed too at a random moment and restarted while the
    phone carries on; in another quarter both are killed at the same instant. At the end the
    phone drains with the server up, and the server's database must hold every write the phone
    said it queued exactly once, nothing twice, messages in the order they were queued, and of
    each start's writes a prefix (a gap is a write lost without a word).
    """
    rng = random.Random(seed)
    data_dir = os.path.join(workdir, f"{name}-phone-data")
    os.makedirs(data_dir, exist_ok=True)
    server = Server(
        binary, database_url, data_dir, free_port(), os.path.join(workdir, f"{name}-phone.log")
    )
    server.start(demo=True)
    problems: list[str] = []
    tally = {"phone kills": 0, "server kills": 0, "both at once": 0, "killed mid-send": 0}
    acknowledged: set[tuple[int, int]] = set()
    planned: dict[int, int] = {}
    began = time.monotonic()
    try:
        alex = Client(server, "alex", Outcomes(), threading.Event())
        person = alex.user["person_id"]
        status, listing = alex.call("GET", "/v1/conversations")
        conversation = next(c["id"] for c in listing["conversations"] if c["kind"] == "peer")
        store = os.path.join(workdir, f"{name}-phone-store")
        secrets = os.path.join(workdir, f"{name}-phone-secrets")

        def start(run: int, writes: int) -> subprocess.Popen:
            return subprocess.Popen(
                [
                    phone,
                    "--store", store,
                    "--secrets", secrets,
                    "--server", f"http://127.0.0.1:{server.port}",
                    "--conversation", conversation,
                    "--person", person,
                    "--run", str(run),
                    "--writes", str(writes),
                    "--seed", str(rng.getrandbits(63)),
                ],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                text=True,
            )

        for run in range(starts):
            writes = rng.randint(1, PHONE_MAX_WRITES)
            planned[run] = writes
            lifetime = rng.uniform(0.0, PHONE_LIFETIME_S)
            process = start(run, writes)
            turn = rng.random()
            if turn < 0.5:
                time.sleep(lifetime)
                process.kill()
            else:
                at = lifetime * rng.random()
                time.sleep(at)
                server.kill()
                tally["server kills"] += 1
                if turn < 0.75:
                    process.kill()
                    tally["both at once"] += 1
                time.sleep(rng.uniform(0.0, 0.1))
                server.start()
                time.sleep(max(0.0, lifetime - at))
                process.kill()
            out, _ = process.communicate()
            lines = out.splitlines()
            if process.returncode not in (0, -signal.SIGKILL):
                problems.append(f"start {run} failed ({process.returncode}): {lines[-3:]}")
            if process.returncode == -signal.SIGKILL:
                tally["phone kills"] += 1
                if lines and lines[-1] == "sending":
                    tally["killed mid-send"] += 1
            for line in lines:
                if line.startswith("queued "):
                    acknowledged.add(phone_tag(line.removeprefix("queued ")))

        final = start(starts, 0)
        try:
            out, _ = final.communicate(timeout=PHONE_FINAL_DRAIN_S)
        except subprocess.TimeoutExpired:
            final.kill()
            out, _ = final.communicate()
        lines = out.splitlines()
        if final.returncode != 0 or not lines or lines[-1] != "empty":
            problems.append(f"the final start did not drain: {final.returncode} {lines[-3:]}")
    finally:
        server.stop()

    db = Database(database_url)
    cut = len(PHONE_PREFIX) + 1
    messages = [
        phone_tag(row[0])
        for row in db.rows(
            f"SELECT substr(body, {cut}) FROM messages WHERE body LIKE '{PHONE_PREFIX}%' "
            "ORDER BY seq"
        )
    ]
    comments = [
        phone_tag(row[0])
        for row in db.rows(
            f"SELECT substr(body, {cut}) FROM plan_comments WHERE body LIKE '{PHONE_PREFIX}%'"
        )
    ]
    counts: dict[tuple[int, int], int] = {}
    for tag in messages + comments:
        counts[tag] = counts.get(tag, 0) + 1
    twice = sorted(tag for tag, n in counts.items() if n > 1)
    lost = sorted(tag for tag in acknowledged if tag not in counts)
    if twice:
        problems.append(f"stored more than once: {twice[:10]}")
    if lost:
        problems.append(f"queued and lost: {lost[:10]}")
    if messages != sorted(messages):
        problems.append("messages stored out of the order they were queued")
    for run, writes in planned.items():
        sent = sorted(j for (r, j) in counts if r == run)
        if sent != list(range(len(sent))) or len(sent) > writes:
            problems.append(f"start {run} reached the server as {sent} of {writes}")
    if not acknowledged or not tally["both at once"]:
        problems.append(f"the run tested too little: {tally}")
    print(
        f"{name}, phone and server killed: {starts} starts in {time.monotonic() - began:.0f} s "
        f"({', '.join(f'{k} {v}' for k, v in tally.items())}); {len(acknowledged)} writes "
        f"queued, {len(messages)} messages and {len(comments)} comments stored; "
        f"lost {len(lost)}, duplicated {len(twice)}"
    )
    for problem in problems:
        print(f"  {problem}", file=sys.stderr)
    return not problems


def live_event_arrives(server: Server, sender: Client, reader: Client, conversation: str) -> bool:
    """Opens the reader's event stream, sends one message, and waits for its event."""
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        connection.request(
            "GET", "/v1/events", headers={"Authorization": f"Bearer {reader.token}",
                                         "Accept": "text/event-stream"}
        )
        response = connection.getresponse()
        if response.status != 200:
            return False
        tag = f"live-{uuid.uuid4()}"
        sender.write(
            "live",
            tag,
            "POST",
            f"/v1/conversations/{conversation}/messages",
            {"client_id": str(uuid.uuid4()), "body": tag},
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            line = response.fp.readline()
            if not line:
                return False
            if b"message_created" in line:
                return True
        return False
    except (OSError, http.client.HTTPException):
        return False
    finally:
        connection.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--binary", required=True, help="the built `livingwell` server")
    parser.add_argument("--kills", type=int, default=50, help="kills per database")
    parser.add_argument(
        "--phone", help="the built phone (`tests/src/bin/phone.rs`): kill it and the server"
    )
    parser.add_argument(
        "--phone-starts", type=int, default=100, help="starts of the phone per database"
    )
    parser.add_argument("--seed", type=int, default=int(time.time()))
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument(
        "--postgres-outages",
        type=int,
        default=3,
        help="times the harness's own Postgres cluster is crashed under load (0: skip)",
    )
    parser.add_argument(
        "--postgres",
        default=os.environ.get(
            "LIVINGWELL_TEST_POSTGRES", "postgres://postgres@127.0.0.1:5432/postgres"
        ),
    )
    args = parser.parse_args()
    print(f"seed {args.seed}")
    workdir = tempfile.mkdtemp(prefix="livingwell-faults-")
    ok = True
    try:
        if args.backend in ("sqlite", "both"):
            url = f"sqlite://{workdir}/faults.db"
            ok &= run(args.binary, url, args.kills, args.seed, workdir, "sqlite")
            ok &= run_file_size_limit(args.binary, workdir)
            if args.phone:
                url = f"sqlite://{workdir}/phone.db"
                ok &= run_phone_and_server(
                    args.binary, args.phone, url, args.phone_starts, args.seed, workdir, "sqlite"
                )
        if args.backend in ("postgres", "both"):
            databases: list[str] = []
            try:
                url, name = fresh_postgres(args.postgres, workdir)
                databases.append(name)
                ok &= run(args.binary, url, args.kills, args.seed, workdir, "postgres")
                if args.phone:
                    url, name = fresh_postgres(args.postgres, workdir)
                    databases.append(name)
                    ok &= run_phone_and_server(
                        args.binary, args.phone, url, args.phone_starts, args.seed, workdir,
                        "postgres",
                    )
            finally:
                for name in databases:
                    subprocess.run(
                        ["psql", args.postgres, "-qc", f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"],
                        check=False,
                    )
        if args.postgres_outages > 0:
            ok &= run_postgres_restart(args.binary, workdir, args.seed, args.postgres_outages)
    finally:
        if ok:
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            print(f"logs kept in {workdir}", file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
