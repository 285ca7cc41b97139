"""A phone process with queued writes, SIGKILLed at random points many times: nothing it said
was queued is lost, and nothing reaches the server twice."""

import os
import random
import re
import subprocess
import sys
import tempfile
import time
import unittest

from support import Server

HERE = os.path.dirname(os.path.abspath(__file__))
KILLS = int(os.environ.get("LIVINGWELL_PY_CRASH_KILLS", "100"))


def phone(*args, timeout=60):
    return subprocess.run(
        [sys.executable, os.path.join(HERE, "phone.py"), *args],
        capture_output=True, text=True, timeout=timeout, check=True,
    ).stdout


class CrashLoop(unittest.TestCase):
    def test_a_phone_killed_at_random_points_loses_and_duplicates_nothing(self):
        seed = int(os.environ.get("LIVINGWELL_PY_CRASH_SEED", random.randrange(1 << 32)))
        print(f"python crash loop: seed {seed}, {KILLS} kills", file=sys.stderr)
        rng = random.Random(seed)
        server = Server()
        self.addCleanup(server.stop)
        device = tempfile.mkdtemp(prefix="livingwell-phone-")
        conversation, _ = phone("sign-in", server.base_url, device).split()[1:]

        acknowledged = []
        # What each run and the drain printed beyond their tags: a failure's account.
        story = []
        for run in range(KILLS):
            if run % 25 == 12:
                server.stop()  # a tunnel: kills land while offline too
            if run % 25 == 18:
                server.start()
            child = subprocess.Popen(
                [sys.executable, os.path.join(HERE, "phone.py"), "queue",
                 server.base_url, device, conversation, str(run), "12"],
                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
            )
            time.sleep(rng.uniform(0.05, 0.9))
            child.kill()
            out, _ = child.communicate()
            acknowledged += re.findall(r"^queued (\S+)$", out, re.MULTILINE)
            story += [f"run {run}: {line}" for line in out.splitlines() if not line.startswith("queued")]
        if server.process is None:
            server.start()
        drain = phone("drain", server.base_url, device, timeout=120)
        story += [f"drain: {line}" for line in drain.splitlines()]
        # (Exactly: a drain that gave up says "still queued".)
        self.assertEqual(drain.splitlines()[-1:], ["drained"],
                         f"seed {seed}: the outbox did not drain\n" + "\n".join(story[-80:]))
        self.assertIsNone(server.process.poll(), "the server the phone spoke to is still ours")

        token = server.login("jo")
        held, cursor = [], None
        while True:
            path = f"/v1/conversations/{conversation}/messages?limit=200"
            if cursor:
                path += f"&cursor={cursor}"
            status, page = server.request("GET", path, token)
            self.assertEqual(status, 200, page)
            held += [m["content"].get("body", "") for m in page["messages"]]
            cursor = page.get("next_cursor")
            if not cursor:
                break
        tags = [body for body in held if body.startswith("crash-")]
        print(f"{len(acknowledged)} acknowledged, {len(tags)} on the server", file=sys.stderr)
        self.assertGreater(len(acknowledged), KILLS, "the loop queued enough to count")
        self.assertEqual(len(tags), len(set(tags)), "nothing twice")
        missing = set(acknowledged) - set(tags)
        if missing:
            account = "\n".join(story[-80:])
            self.fail(f"seed {seed}: acknowledged but lost: {sorted(missing)[:5]} "
                      f"({len(missing)} in all)\n{account}\n-- server log:\n{server.log_tail()}")
        # Each run's messages arrive in the order written.
        for run in range(KILLS):
            mine = [t for t in tags if t.startswith(f"crash-{run}-")]
            self.assertEqual(mine, sorted(mine), f"seed {seed}: run {run} out of order")


if __name__ == "__main__":
    unittest.main()
