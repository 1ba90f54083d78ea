"""The benchmark's model server, in its own process: ``python -m bench._server [options]``.

It runs :class:`tests/openai_server.OpenAIServer` (the test suite's local OpenAI-compatible
server) with the replies every scenario needs, so that its CPU is never counted as the
client's. It prints one JSON line (``{"url": ..., "sink": ...}``) and then answers commands
read from stdin, one per line, each with one JSON line:

* ``stats``: requests to ``/v1/chat/completions`` by status, and the server's CPU seconds;
* ``quit``: stop.

``sink`` is a second HTTP server that answers 200 ``{}`` to anything: ``langsmith.aevaluate``
traces its target runs even with ``upload_results=False``, and the trace uploads need somewhere
to go that is not the internet.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from openai_server import CHAT_PATH, OpenAIServer, Reply

__all__ = ["COT_QA_REPLY", "CRITERIA_REPLY", "TARGET_REPLY", "configure", "main"]

#: Words of each judge's system prompt, and the replies that parse as a verdict.
COT_QA_SYSTEM = "careful teacher grading"
CRITERIA_SYSTEM = "impartial expert judge"
COT_QA_REPLY = "The answer and the reference both name Paris.\nGRADE: CORRECT"
CRITERIA_REPLY = "The output names a city.\n[[PASS]]"
TARGET_REPLY = "Paris"


def configure(srv: OpenAIServer) -> None:
    """Script the replies: a target answer, and a parseable verdict for each judge."""
    srv.reply(None, Reply(TARGET_REPLY))
    srv.reply(COT_QA_SYSTEM, Reply(COT_QA_REPLY))
    srv.reply(CRITERIA_SYSTEM, Reply(CRITERIA_REPLY))


class _Sink(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        body = b"{}"
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PATCH = do_PUT = _answer


def main(argv: list[str] | None = None) -> None:
    """Serve until ``quit`` (or stdin closes)."""
    parser = argparse.ArgumentParser(prog="python -m bench._server")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds per reply")
    parser.add_argument("--rps", type=float, help="requests per second allowed")
    parser.add_argument("--rate-model", choices=("window", "bucket"), default="window")
    args = parser.parse_args(argv)
    srv = OpenAIServer().start()
    srv.latency = args.latency
    configure(srv)
    if args.rps:
        srv.rate_limit(rps=args.rps, model=args.rate_model)
    ThreadingHTTPServer.daemon_threads = True
    sink = ThreadingHTTPServer(("127.0.0.1", 0), _Sink)
    sink.daemon_threads = True
    threading.Thread(target=sink.serve_forever, daemon=True).start()
    print(json.dumps({"url": srv.url, "sink": f"http://127.0.0.1:{sink.server_port}"}),
          flush=True)
    for line in sys.stdin:
        command = line.strip()
        if command == "stats":
            by_status: dict[str, int] = {}
            for r in srv.requests:
                if r.path == CHAT_PATH:
                    by_status[str(r.status)] = by_status.get(str(r.status), 0) + 1
            print(json.dumps({"chat": sum(by_status.values()), "by_status": by_status,
                              "cpu_s": time.process_time()}), flush=True)
        elif command == "quit":
            break
    sink.shutdown()
    srv.stop()


if __name__ == "__main__":
    main()
