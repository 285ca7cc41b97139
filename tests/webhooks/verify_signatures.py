"""Verifies webhook deliveries with the Standard Webhooks reference library.

Reads from stdin `{"secret": "whsec_...", "deliveries": [{"id", "timestamp", "signature",
"body"}]}`; exits 0 and prints the parsed bodies as JSON when every delivery verifies, and
checks that a changed body or a wrong secret does not. Exits 2 naming the delivery that fails,
3 when the library is missing (install it with `python3 -m pip install standardwebhooks==1.1.0`).
"""

import json
import sys

try:
    from standardwebhooks.webhooks import Webhook, WebhookVerificationError
except ImportError:
    print("standardwebhooks is not installed", file=sys.stderr)
    sys.exit(3)


def headers(delivery):
    return {
        "webhook-id": delivery["id"],
        "webhook-timestamp": delivery["timestamp"],
        "webhook-signature": delivery["signature"],
    }


def main():
    spec = json.load(sys.stdin)
    webhook = Webhook(spec["secret"])
    stranger = Webhook("whsec_" + "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo0NTY3ODk=")
    bodies = []
    for delivery in spec["deliveries"]:
        try:
            bodies.append(webhook.verify(delivery["body"], headers(delivery)))
        except WebhookVerificationError as error:
            print(f"delivery {delivery['id']} does not verify: {error}", file=sys.stderr)
            sys.exit(2)
        for wrong, body in ((webhook, delivery["body"] + " "), (stranger, delivery["body"])):
            try:
                wrong.verify(body, headers(delivery))
            except WebhookVerificationError:
                continue
            print(f"delivery {delivery['id']} verified when it must not", file=sys.stderr)
            sys.exit(2)
    json.dump(bodies, sys.stdout)


main()
