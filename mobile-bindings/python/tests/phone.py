"""A phone over the bindings, for the crash loop: signs in, or queues messages and sends them.
Prints `queued <tag>` only once `send_message` has returned, when the write is durable."""

import asyncio
import os
import sys

import livingwell_mobile as lw
from support import PASSWORD, FileStorage


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
                    asyncio.run(client.send_queued())
                except lw.ClientError:
                    pass
    elif mode == "drain":
        for _ in range(20):
            asyncio.run(client.network_is_back())
            if not client.outbox():
                print("drained", flush=True)
                return
        print("not drained", flush=True)


if __name__ == "__main__":
    main()
