"""A local Lambda Runtime API for benchmarks: start a function process (a Rust `bootstrap`
or `python bootstrap.py`), time spawn → its first GET /invocation/next (cold start),
hand it events, time each answer, and read its peak RSS (VmHWM) from /proc.

One function process per RuntimeApi; standard library only."""

import json
import queue
import subprocess
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PREFIX = "/2018-06-01/runtime"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):  # quiet
        pass

    def _reply(self, status, body=b"", headers=None):
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        api = self.server.api
        if self.path != PREFIX + "/invocation/next":
            return self._reply(404)
        if api.first_poll is None:
            api.first_poll = time.perf_counter()
        api.polled.set()
        event = api.events.get()
        request_id = str(uuid.uuid4())
        api.sent_at = time.perf_counter()
        deadline = int(time.time() * 1000) + 300_000
        self._reply(
            200,
            event,
            {
                "Content-Type": "application/json",
                "Lambda-Runtime-Aws-Request-Id": request_id,
                "Lambda-Runtime-Deadline-Ms": str(deadline),
                "Lambda-Runtime-Invoked-Function-Arn": "arn:aws:lambda:us-east-1:123456789012:function:bench",
                "Lambda-Runtime-Trace-Id": "Root=1-00000000-000000000000000000000000",
            },
        )

    def do_POST(self):
        api = self.server.api
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length) if length else b""
        self._reply(202, b'{"status":"OK"}', {"Content-Type": "application/json"})
        if self.path.endswith("/response"):
            api.answers.put(("response", time.perf_counter() - api.sent_at, body))
        elif self.path.endswith("/error"):
            api.answers.put(("error", time.perf_counter() - api.sent_at, body))
        elif self.path.endswith("/init/error"):
            api.answers.put(("init-error", 0.0, body))


class RuntimeApi:
    """A Runtime API endpoint serving one function process."""

    def __init__(self):
        self.events = queue.Queue()
        self.answers = queue.Queue()
        self.polled = threading.Event()
        self.first_poll = None
        self.sent_at = 0.0
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.server.daemon_threads = True
        # A stopped function drops its pending poll; that is not an error worth a traceback.
        self.server.handle_error = lambda request, address: None
        self.server.api = self
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.process = None
        self.spawned_at = 0.0

    @property
    def address(self):
        return "127.0.0.1:%d" % self.server.server_address[1]

    def start(self, command, env, log):
        """Spawn the function; returns spawn → first poll in seconds."""
        full_env = dict(env)
        full_env["AWS_LAMBDA_RUNTIME_API"] = self.address
        self.spawned_at = time.perf_counter()
        self.process = subprocess.Popen(command, env=full_env, stdout=log, stderr=log)
        if not self.polled.wait(30):
            raise RuntimeError(f"{command} did not poll the Runtime API within 30 s (see its log)")
        return self.first_poll - self.spawned_at

    def invoke(self, event, timeout=300):
        """Hand one event; returns (kind, seconds from hand-over to answer, body)."""
        if isinstance(event, (dict, list)):
            event = json.dumps(event).encode()
        self.events.put(event)
        try:
            return self.answers.get(timeout=timeout)
        except queue.Empty:
            raise RuntimeError(f"no answer within {timeout} s") from None

    def peak_rss_mib(self):
        with open(f"/proc/{self.process.pid}/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
        return float("nan")

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
        self.server.shutdown()
        self.server.server_close()
