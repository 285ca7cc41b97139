"""Validates everything the FHIR facade serves for the demo people with fhir.resources (R4B).

Run by scripts/fhir-check against a real server: fetches the CapabilityStatement, then for every
demo person (every team's caseload) every search the statement lists, following every `next`
link (small pages, so paging is exercised), and each resource read again by its id. Each
resource is validated with the fhir.resources model of its type, which checks structure:
elements, cardinalities, datatypes, code and date formats. It does not check UK Core profile
conformance (no profile validator runs here). FHIR JSON's own rules that the models let pass are
checked here too: no nulls, no empty strings, arrays or objects.

Fails loudly (non-zero exit, naming resource and error) when any resource does not validate, or
when a resource type the statement lists returns nothing for the demo: each type must be
exercised by the demo data.

Usage: fhir_check.py BASE_URL TOKEN
"""

import importlib
import json
import sys
import urllib.error
import urllib.parse
import urllib.request

FHIR_JSON = "application/fhir+json"
PAGE = 2


def get(url, token=None):
    request = urllib.request.Request(url, headers={"Accept": FHIR_JSON})
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request) as response:
            return response.status, response.headers.get("Content-Type", ""), json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, error.headers.get("Content-Type", ""), json.load(error)


def model(resource_type):
    module = importlib.import_module(f"fhir.resources.R4B.{resource_type.lower()}")
    return getattr(module, resource_type)


def json_rule_faults(value, path="$"):
    """FHIR JSON forbids null and empty values; the models accept some of them."""
    if value is None:
        return [f"{path} is null"]
    if isinstance(value, str) and value.strip() == "":
        return [f"{path} is an empty string"]
    if isinstance(value, (list, dict)) and not value:
        return [f"{path} is empty"]
    faults = []
    if isinstance(value, list):
        for i, item in enumerate(value):
            faults += json_rule_faults(item, f"{path}[{i}]")
    elif isinstance(value, dict):
        for key, item in value.items():
            faults += json_rule_faults(item, f"{path}.{key}")
    return faults


class Check:
    def __init__(self):
        self.failures = []
        self.validated = 0

    def validate(self, resource, where):
        kind = resource.get("resourceType", "?")
        faults = json_rule_faults(resource)
        try:
            model(kind).model_validate(resource)
        except Exception as error:  # a validation error, or a type fhir.resources lacks
            faults.append(f"fhir.resources {kind}: {error}")
        for fault in faults:
            self.failures.append(f"{where} ({kind}): {fault}")
        self.validated += 1


def people(base, token):
    status, _, teams = get(f"{base}/v1/teams", token)
    assert status == 200, f"GET /v1/teams: {status} {teams}"
    found = []
    for team in teams:
        url = f"{base}/v1/teams/{team['id']}/caseload"
        while url:
            status, _, page = get(url, token)
            assert status == 200, f"caseload: {status} {page}"
            found += [person["id"] for person in page["people"]]
            cursor = page.get("next_cursor")
            url = f"{base}/v1/teams/{team['id']}/caseload?cursor={cursor}" if cursor else None
    return found


def main(base, token):
    check = Check()
    status, media_type, statement = get(f"{base}/fhir/r4/metadata")
    assert status == 200 and media_type.startswith(FHIR_JSON), (status, media_type)
    check.validate(statement, "metadata")
    kinds = [resource["type"] for resource in statement["rest"][0]["resource"]]
    demo_people = people(base, token)
    assert demo_people, "the demo has no people"

    counts = {kind: 0 for kind in kinds}
    for person in demo_people:
        for kind in kinds:
            query = urllib.parse.urlencode({"patient": f"Patient/{person}", "_count": PAGE})
            url = f"{base}/fhir/r4/{kind}?{query}"
            pages = 0
            while url:
                status, media_type, bundle = get(url, token)
                where = f"GET {url}"
                if status != 200 or not media_type.startswith(FHIR_JSON):
                    check.failures.append(f"{where}: {status} {media_type} {bundle}")
                    break
                check.validate(bundle, where)
                pages += 1
                for entry in bundle.get("entry", []):
                    resource = entry["resource"]
                    counts[kind] += 1
                    check.validate(resource, f"{where} entry {resource.get('id')}")
                    status, _, by_id = get(entry["fullUrl"], token)
                    if status != 200:
                        check.failures.append(f"GET {entry['fullUrl']}: {status} {by_id}")
                        continue
                    check.validate(by_id, f"GET {entry['fullUrl']}")
                    if by_id != resource:
                        check.failures.append(f"GET {entry['fullUrl']}: differs from the search's")
                url = next(
                    (link["url"] for link in bundle["link"] if link["relation"] == "next"), None
                )
                if pages > 500:
                    check.failures.append(f"{kind} for {person}: paging does not end")
                    break

    # Refusals are resources too.
    status, _, outcome = get(f"{base}/fhir/r4/Communication?patient={demo_people[0]}", token)
    if status != 404:
        check.failures.append(f"Communication: {status}, not 404")
    check.validate(outcome, "an unknown type's OperationOutcome")
    status, _, outcome = get(f"{base}/fhir/r4/Patient/{demo_people[0]}")
    if status != 401:
        check.failures.append(f"no token: {status}, not 401")
    check.validate(outcome, "a refusal's OperationOutcome")

    for kind, count in counts.items():
        if count == 0:
            check.failures.append(f"{kind}: the demo data gives none to check")
    summary = ", ".join(f"{kind} {count}" for kind, count in counts.items())
    print(f"   {len(demo_people)} demo people; searched and read: {summary}")
    if check.failures:
        print(f"{len(check.failures)} problem(s):", file=sys.stderr)
        for failure in check.failures:
            print(f"  - {failure}", file=sys.stderr)
        return 1
    print(f"   {check.validated} resources valid (fhir.resources R4B models)")
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    sys.exit(main(sys.argv[1].rstrip("/"), sys.argv[2]))
