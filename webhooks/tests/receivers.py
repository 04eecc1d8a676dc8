"""A real local HTTP receiver for webhook tests and the benchmark: records what it is sent, answers with a
chosen status after a chosen delay, and verifies nothing itself (tests verify with standardwebhooks)."""

import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Received:
    headers: dict
    body: bytes
    at: float  # time.monotonic() when the request arrived


@dataclass
class Receiver:
    server: ThreadingHTTPServer
    status: int = 200
    delay: float = 0.0
    answer: bytes = b'{"ok": true}'
    received: list = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    in_flight: int = 0
    max_in_flight: int = 0  # the most requests it was answering at once

    @property
    def url(self):
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}/hooks"

    def wait_for(self, count, seconds=20):
        deadline = time.monotonic() + seconds
        while len(self.received) < count:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{len(self.received)} of {count} deliveries arrived within {seconds} s")
            time.sleep(0.02)
        return self.received

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


def start_receiver(**options):
    receiver = None

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            with receiver.lock:
                receiver.received.append(Received(headers=dict(self.headers), body=body, at=time.monotonic()))
                receiver.in_flight += 1
                receiver.max_in_flight = max(receiver.max_in_flight, receiver.in_flight)
            time.sleep(receiver.delay)
            with receiver.lock:
                receiver.in_flight -= 1
            try:
                self.send_response(receiver.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(receiver.answer)))
                self.end_headers()
                self.wfile.write(receiver.answer)
            except OSError:
                pass  # the sender gave up waiting

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    receiver = Receiver(server=server, **options)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return receiver
