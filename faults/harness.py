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

DEMO_PASSWORD = "livingwell-demo"
READY_WITHIN_S = 30.0
# Every request gives up after this long; a kill makes the connection fail at once anyway.
REQUEST_TIMEOUT_S = 10.0


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
        log = open(self.log_path, "ab")
        self.process = subprocess.Popen(args, stdout=log, stderr=log)
        log.close()
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

    def write(self, kind: str, tag: str, method: str, path: str, body, headers=None) -> int:
        """Sends one write until it is answered for good; records what the answer says."""
        while True:
            status, answer = self.call(method, path, body, headers)
            if 200 <= status < 300:
                self.outcomes.record(kind, tag, answer_lost=False)
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


def write_plan_versions(client: Client, person: str) -> None:
    n = 0
    path = f"/v1/people/{person}/enablement-plan"
    while not client.stop.is_set():
        n += 1
        tag = f"version-{n}"
        status, current = client.call("GET", path)
        if status != 200 or not isinstance(current, dict):
            raise Unexpected(f"plan read: {status}")
        plan = current["plan"]
        plan.setdefault("about_me", {})["preferred_name"] = tag
        key = str(uuid.uuid4())
        status = client.write(
            "version",
            tag,
            "PUT",
            path,
            {"plan": plan},
            {"Idempotency-Key": key, "If-Match": current["_etag"]},
        )
        if status == 409:
            continue  # applied with its answer lost (recorded), or the base moved: read again
        if status not in (200, 201):
            raise Unexpected(f"version {tag}: {status}")


class Database:
    """Reads the store the server wrote, in its own dialect."""

    def __init__(self, url: str):
        self.url = url
        self.sqlite = url.startswith("sqlite:")

    def rows(self, sqlite_sql: str, postgres_sql: str) -> list[tuple]:
        if self.sqlite:
            path = self.url.removeprefix("sqlite://").split("?")[0]
            with sqlite3.connect(path) as db:
                return db.execute(sqlite_sql).fetchall()
        out = subprocess.run(
            ["psql", self.url, "-At", "-F", "\t", "-c", postgres_sql],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        return [tuple(line.split("\t")) for line in out.splitlines() if line]

    def tags(self, sqlite_sql: str, postgres_sql: str) -> list[str]:
        return [row[0] for row in self.rows(sqlite_sql, postgres_sql)]


def count_problems(db: Database, outcomes: Outcomes) -> dict[str, int]:
    problems = {"lost": 0, "duplicated": 0, "unsent_stored": 0, "half_written": 0}

    def compare(kind: str, stored: list[str]) -> None:
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
            elif tag not in sent:
                # A write in flight when the harness stopped may have been stored unanswered;
                # it is counted only if its tag was never sent at all (impossible by design).
                pass

    prefix = "fault harness "
    compare(
        "message",
        db.tags(
            f"SELECT substr(body, {len(prefix) + 1}) FROM messages WHERE body LIKE '{prefix}%'",
            f"SELECT substr(body, {len(prefix) + 1}) FROM messages WHERE body LIKE '{prefix}%'",
        ),
    )
    compare(
        "comment",
        db.tags(
            f"SELECT substr(body, {len(prefix) + 1}) FROM plan_comments WHERE body LIKE '{prefix}%'",
            f"SELECT substr(body, {len(prefix) + 1}) FROM plan_comments WHERE body LIKE '{prefix}%'",
        ),
    )
    compare(
        "version",
        db.tags(
            "SELECT json_extract(body, '$.about_me.preferred_name') FROM plan_versions "
            "WHERE kind = 'enablement_plan' "
            "AND json_extract(body, '$.about_me.preferred_name') LIKE 'version-%'",
            "SELECT body->'about_me'->>'preferred_name' FROM plan_versions "
            "WHERE kind = 'enablement_plan' "
            "AND body->'about_me'->>'preferred_name' LIKE 'version-%'",
        ),
    )
    # Half-written: a message without the event that announces it.
    problems["half_written"] += int(
        db.rows(
            f"SELECT count(*) FROM messages m WHERE m.body LIKE '{prefix}%' AND NOT EXISTS "
            "(SELECT 1 FROM events e WHERE e.kind = 'message_created' AND "
            "json_extract(e.data, '$.message_id') = lower(substr(hex(m.id),1,8) || '-' || "
            "substr(hex(m.id),9,4) || '-' || substr(hex(m.id),13,4) || '-' || "
            "substr(hex(m.id),17,4) || '-' || substr(hex(m.id),21)))",
            f"SELECT count(*) FROM messages m WHERE m.body LIKE '{prefix}%' AND NOT EXISTS "
            "(SELECT 1 FROM events e WHERE e.kind = 'message_created' AND "
            "e.data->>'message_id' = m.id::text)",
        )[0][0]
    )
    # Half-written: more of the harness's plan versions and comments stored than allowed plan
    # writes and comments audited (a retry is audited again, so the audit may count more).
    audit_sql = (
        "SELECT count(*) FROM audit_log WHERE resource = 'enablement_plan' "
        "AND action IN ('write', 'comment') AND outcome = 'allowed'"
    )
    audited = int(db.rows(audit_sql, audit_sql)[0][0])
    stored_sql = (
        "SELECT (SELECT count(*) FROM plan_versions WHERE kind = 'enablement_plan' AND {name} "
        f"LIKE 'version-%') + (SELECT count(*) FROM plan_comments WHERE body LIKE '{prefix}%')"
    )
    stored_writes = int(
        db.rows(
            stored_sql.format(name="json_extract(body, '$.about_me.preferred_name')"),
            stored_sql.format(name="body->'about_me'->>'preferred_name'"),
        )[0][0]
    )
    if stored_writes > audited:
        problems["half_written"] += stored_writes - audited
        print(f"  {stored_writes} plan writes stored, {audited} audited", file=sys.stderr)
    return problems


def run(binary: str, database_url: str, kills: int, seed: int, workdir: str, name: str) -> bool:
    rng = random.Random(seed)
    data_dir = os.path.join(workdir, f"{name}-data")
    os.makedirs(data_dir, exist_ok=True)
    server = Server(binary, database_url, data_dir, free_port(), os.path.join(workdir, f"{name}.log"))
    server.start(demo=True)
    outcomes = Outcomes()
    stop = threading.Event()
    alex = Client(server, "alex", outcomes, stop)
    jo = Client(server, "jo", outcomes, stop)
    priya = Client(server, "priya", outcomes, stop)
    person = alex.user["person_id"]
    status, listing = alex.call("GET", "/v1/conversations")
    conversation = next(c["id"] for c in listing["conversations"] if c["kind"] == "peer")

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
        guarded(write_messages, jo, conversation, "jo"),
        guarded(write_comments, alex, person),
        guarded(write_plan_versions, priya, person),
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
    stop.set()
    for writer in writers:
        writer.join(timeout=60)
    server.stop()
    elapsed = time.monotonic() - began
    if failures:
        print(f"{name}: a writer failed: {failures[0]!r}", file=sys.stderr)
        return False

    db = Database(database_url)
    problems = count_problems(db, outcomes)
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
    if not intact:
        print(verify.stdout + verify.stderr, file=sys.stderr)
    return (
        problems["lost"] == 0
        and problems["duplicated"] == 0
        and problems["half_written"] == 0
        and intact
        and integrity in ("ok", "n/a")
        and acknowledged > 0
    )


def fresh_postgres(base_url: str, workdir: str) -> tuple[str, str]:
    name = f"faults_{uuid.uuid4().hex[:12]}"
    subprocess.run(["psql", base_url, "-qc", f"CREATE DATABASE {name}"], check=True)
    url = base_url.rsplit("/", 1)[0] + f"/{name}"
    return url, name


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--binary", required=True, help="the built `livingwell` server")
    parser.add_argument("--kills", type=int, default=50, help="kills per database")
    parser.add_argument("--seed", type=int, default=int(time.time()))
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
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
        if args.backend in ("postgres", "both"):
            url, name = fresh_postgres(args.postgres, workdir)
            try:
                ok &= run(args.binary, url, args.kills, args.seed, workdir, "postgres")
            finally:
                subprocess.run(
                    ["psql", args.postgres, "-qc", f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"],
                    check=False,
                )
    finally:
        if ok:
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            print(f"logs kept in {workdir}", file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
