"""A staff system's journey, driven through a client generated from the served OpenAPI document
by openapi-python-client, with no hand edits: what a case-management system would write on its
first day with the API.

An admin registers the system; it finds the token endpoint in the server's metadata, signs in
with client credentials, finds a person on a team's caseload, reads their Enablement Plan,
revalidates it (304), stores a new version on the ETag it read and is refused on a stale one,
adds someone to the caseload and books an appointment, and is told by name the scope it lacks.
The person then sees the system's reads, and whom it acted for, in their access log.

Run by scripts/openapi-check: `python3 journey.py BASE_URL` with the generated package (`client`)
importable. Exits non-zero, saying which step, on the first thing that is not as it should be.
"""

import datetime
import sys
import uuid
from http import HTTPStatus

from client import AuthenticatedClient, Client
from client.api.appointments import create_appointment
from client.api.auth import client_token, login
from client.api.clients import create_client
from client.api.meta import authorization_server_metadata
from client.api.people import access_log, create_person
from client.api.plans import get_enablement_plan, put_enablement_plan
from client.api.teams import caseload, list_teams
from client.models import (
    AppointmentKind,
    ClientTokenRequest,
    CreateAppointmentRequest,
    CreateClientRequest,
    CreatePersonRequest,
    EnablementPlanView,
    ErrorBody,
    LocationType0,
    LocationType0Type,
    LoginRequest,
    PutEnablementPlanRequest,
    StaffScope,
)

DEMO_PASSWORD = "livingwell-demo"
ACTING_FOR = "Priya Natarajan (care coordinator)"


def check(condition, step):
    if not condition:
        raise SystemExit(f"staff-system journey: {step}")
    print(f"   ok: {step}")


def signed_in(base, username):
    answer = login.sync(
        client=Client(base_url=base),
        body=LoginRequest(username=username, password=DEMO_PASSWORD),
    )
    check(answer is not None and not isinstance(answer, ErrorBody), f"{username} signs in")
    return AuthenticatedClient(base_url=base, token=answer.access_token)


def main(base):
    admin = signed_in(base, "admin")
    registered = create_client.sync(
        client=admin,
        body=CreateClientRequest(
            name="Rio case management",
            scopes=[
                StaffScope.PEOPLEREAD,
                StaffScope.PEOPLEWRITE,
                StaffScope.PLANSREAD,
                StaffScope.PLANSWRITE,
                StaffScope.APPOINTMENTSREAD,
                StaffScope.APPOINTMENTSWRITE,
            ],
        ),
    )
    check(not isinstance(registered, ErrorBody), "an admin registers the system")
    client_id = registered.client.client_id
    secret = registered.client_secret

    # An OAuth library's way in: the metadata names the token endpoint.
    metadata = authorization_server_metadata.sync(client=Client(base_url=base))
    check(
        metadata.token_endpoint.endswith("/oauth/token"),
        "the server's metadata names its token endpoint",
    )
    token_path = "/" + metadata.token_endpoint.split("/", 3)[3]
    check(token_path == "/oauth/token", "the token endpoint is this server's")
    issued = client_token.sync(
        client=Client(base_url=base, httpx_args={"auth": (client_id, secret)}),
        body=ClientTokenRequest(grant_type="client_credentials"),
    )
    check(not isinstance(issued, ErrorBody), "the system gets a token with its secret")
    system = AuthenticatedClient(
        base_url=base,
        token=issued.access_token,
        headers={"X-On-Behalf-Of": ACTING_FOR},
    )

    teams = list_teams.sync(client=system)
    west = next(team for team in teams if team.name.startswith("West"))
    listed = caseload.sync(id=west.id, client=system)
    check(not isinstance(listed, ErrorBody), "it reads the West hub's caseload")
    alex = next(p for p in listed.people if p.display_name.startswith("Alex"))

    opened = get_enablement_plan.sync_detailed(id=alex.id, client=system)
    check(
        opened.status_code == HTTPStatus.OK and isinstance(opened.parsed, EnablementPlanView),
        "it reads Alex's Enablement Plan",
    )
    check(
        "ratelimit" in opened.headers and "ratelimit-policy" in opened.headers,
        "every answer says how much of its request budget is left",
    )
    etag = opened.headers["etag"]
    again = get_enablement_plan.sync_detailed(id=alex.id, client=system, if_none_match=etag)
    check(again.status_code == HTTPStatus.NOT_MODIFIED, "an unchanged plan is 304 Not Modified")

    plan = opened.parsed.plan
    plan.review_on = datetime.date(2027, 3, 1)
    stored = put_enablement_plan.sync_detailed(
        id=alex.id,
        client=system,
        body=PutEnablementPlanRequest(plan=plan),
        if_match=etag,
        idempotency_key=str(uuid.uuid4()),
    )
    check(
        stored.status_code == HTTPStatus.OK
        and stored.parsed.version == opened.parsed.version + 1,
        "it stores a new version on the ETag it read",
    )
    stale = put_enablement_plan.sync_detailed(
        id=alex.id,
        client=system,
        body=PutEnablementPlanRequest(plan=plan),
        if_match=etag,
    )
    check(
        stale.status_code == HTTPStatus.CONFLICT
        and isinstance(stale.parsed, ErrorBody)
        and stale.parsed.current_version == stored.parsed.version,
        "a write on the old ETag is refused with the current version",
    )

    added = create_person.sync(
        client=system,
        body=CreatePersonRequest(display_name="Casey Example", team_id=west.id),
    )
    check(not isinstance(added, ErrorBody), "it adds someone to the West hub's caseload")
    starts = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    starts += datetime.timedelta(days=7)
    booked = create_appointment.sync(
        id=alex.id,
        client=system,
        body=CreateAppointmentRequest(
            kind=AppointmentKind.REVIEW,
            starts_at=starts,
            ends_at=starts + datetime.timedelta(hours=1),
            location=LocationType0(type_=LocationType0Type.HUB, team_id=west.id),
        ),
    )
    check(not isinstance(booked, ErrorBody), "it books Alex's review")

    refused = access_log.sync_detailed(id=alex.id, client=system)
    check(
        refused.status_code == HTTPStatus.FORBIDDEN
        and refused.parsed.code == "insufficient_scope"
        and refused.parsed.required_scope == StaffScope.AUDITREAD,
        "without audit:read it is told the scope it lacks",
    )

    alex_app = signed_in(base, "alex")
    log = access_log.sync(id=alex.id, client=alex_app)
    by_system = [e for e in log.entries if e.actor_id == f"client:{client_id}"]
    check(
        by_system and all(e.on_behalf_of == ACTING_FOR for e in by_system),
        "Alex sees the system's reads and whom it acted for",
    )


if __name__ == "__main__":
    main(sys.argv[1])
