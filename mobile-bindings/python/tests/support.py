"""What the Python journeys share: a real server started by the test, and the platform parts an
app provides (secure storage in files, for tests only)."""

import json
import os
import re
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request

import livingwell_mobile as lw

PASSWORD = "livingwell-demo"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """The real server binary (`LIVINGWELL_SERVER_BIN`), on a fresh SQLite file with the demo
    people, on a free port. `stop` shuts it down (no signal for the phone); `start` brings it
    back on the same database and address."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="livingwell-server-")
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.process = None
        # Kept for a failing test's account (the request log names no person and no body).
        self.log_path = os.path.join(self.dir, "server.log")
        self.start()

    def start(self):
        binary = os.environ["LIVINGWELL_SERVER_BIN"]
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [
                    binary, "serve", "--demo",
                    "--bind", f"127.0.0.1:{self.port}",
                    "--database-url", f"sqlite://{self.dir}/livingwell.db",
                    "--data-dir", self.dir,
                    # The crash loop sends hundreds of messages a minute from one phone.
                    "--message-rate-limit", "0",
                ],
                stdout=subprocess.DEVNULL,
                stderr=log,
            )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(self.base_url + "/healthz", timeout=1):
                    return
            except (urllib.error.URLError, ConnectionError, OSError):
                if self.process.poll() is not None:
                    raise RuntimeError("the server exited while starting")
                time.sleep(0.1)
        raise RuntimeError("the server did not start within 30 s")

    def log_tail(self, lines=60):
        """The last lines the server logged, across its restarts."""
        with open(self.log_path, "rb") as log:
            text = b"".join(log.readlines()[-lines:]).decode(errors="replace")
        return re.sub(r"\x1b\[[0-9;]*m", "", text)  # the log's colours

    def stop(self):
        """No signal for the phone: the server shuts down (requests in flight finish)."""
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=30)
            self.process = None

    def request(self, method, path, token=None, body=None):
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.base_url + path, data=data, method=method)
        request.add_header("content-type", "application/json")
        if token:
            request.add_header("authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(request, timeout=10) as answer:
                text = answer.read().decode()
                return answer.status, (json.loads(text) if text else None)
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read().decode() or "null")

    def login(self, username):
        status, body = self.request(
            "POST", "/v1/auth/login", body={"username": username, "password": PASSWORD}
        )
        assert status == 200, (status, body)
        return body["access_token"]


class FileStorage(lw.SecureStorage):
    """Secrets in files: for tests only — a phone keeps them in the Keychain or Keystore."""

    def __init__(self, directory):
        self.directory = directory
        os.makedirs(directory, exist_ok=True)

    def _path(self, name):
        return os.path.join(self.directory, name)

    def get(self, name):
        try:
            with open(self._path(name), "rb") as f:
                return f.read()
        except FileNotFoundError:
            return None

    def set(self, name, value):
        path = self._path(name)
        with open(path + ".new", "wb") as f:
            f.write(bytes(value))
            f.flush()
            os.fsync(f.fileno())
        os.replace(path + ".new", path)

    def delete(self, name):
        try:
            os.remove(self._path(name))
        except FileNotFoundError:
            pass
