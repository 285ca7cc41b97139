"""A phone over the bindings, for the crash loop: signs in, or queues messages and sends them.
Prints `queued <tag>` only once `send_message` has returned, when the write is durable."""

import asyncio
import os
import sys

import livingwell_mobile as lw
from support import PASSWORD, FileStorage


def report(what, sent):
    """One line per drain, for the crash loop's account of a failure."""
    print(f"{what} sent={sent.sent} postponed={sent.postponed} waiting={sent.waiting} "
          f"session_over={sent.session_over}", flush=True)


def main():
    mode, base_url, phone = sys.argv[1], sys.argv[2], sys.argv[3]
    client = lw.Client(os.path.join(phone, "store"), base_url, FileStorage(os.path.join(phone, "secrets")))
    if mode == "sign-in":
        alex = asyncio.run(client.sign_in("alex", PASSWORD))
        asyncio.run(client.sync())
        peer = next(c for c in client.conversations() if c.kind == "peer")
        print(f"conversation {peer.id} {alex.person_id}", flush=True)
    elif mode == "queue":
        conversation, run, count = sys.argv[4], sys.argv[5], int(sys.argv[6])
        for i in range(count):
            tag = f"crash-{run}-{i:03}"
            client.send_message(conversation, tag)
            print(f"queued {tag}", flush=True)
            if i % 3 == 2:
                try:
                    report("sent", asyncio.run(client.send_queued()))
                except lw.ClientError as error:
                    print(f"send failed {type(error).__name__}", flush=True)
    elif mode == "drain":
        for _ in range(20):
            report("drain", asyncio.run(client.network_is_back()))
            if not client.outbox():
                print("drained", flush=True)
                return
        left = client.outbox()
        print(f"still queued {len(left)}; the first: {left[0].state!r}, "
              f"{left[0].attempts} attempts", flush=True)


if __name__ == "__main__":
    main()
