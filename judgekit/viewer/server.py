"""``judgekit view``: a small HTTP server over the store, on 127.0.0.1 by default.

The standard library's ThreadingHTTPServer is enough for one local user and adds no
dependency. It answers only its own routes, rendered from the store: ``/`` (the run list),
``/run/ID``, ``/compare?run=A&run=B``, ``/api/state?runs=A,B`` (what pages poll to update
while a run is writing); every other path is a 404, so no file on disk is ever served.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from judgekit.errors import StoreError
from judgekit.store import Store
from judgekit.viewer.page_data import store_version
from judgekit.viewer.render import render_index, render_runs

__all__ = ["ViewerServer"]


class _Handler(BaseHTTPRequestHandler):
    server: ViewerServer

    def log_message(self, format: str, *args: Any) -> None:
        pass  # quiet: the terminal shows the URL, not every poll

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        query = parse_qs(url.query)
        try:
            # One connection per request: sqlite3 handles are not shared across threads, and
            # a fresh read sees what the running eval committed since. existing(): a store
            # deleted meanwhile is a 404, not a new empty file.
            with Store.existing(self.server.store_path) as store:
                if url.path == "/":
                    self._send(200, render_index(store))
                elif url.path.startswith("/run/") and url.path.count("/") == 2:
                    run = store.get_run(unquote(url.path[len("/run/"):]))
                    self._send(200, render_runs(store, [run], live=True))
                elif url.path == "/compare" and query.get("run"):
                    runs = [store.get_run(r) for r in query["run"]]
                    self._send(200, render_runs(store, runs, live=True))
                elif url.path == "/api/state" and query.get("runs"):
                    ids = [store.get_run(r).id for r in query["runs"][0].split(",")]
                    self._send(200, json.dumps({"version": store_version(store, ids)}),
                               "application/json")
                else:
                    self._send(404, "not found", "text/plain")
        except StoreError as exc:
            self._send(404, str(exc), "text/plain")

    def _send(self, code: int, body: str, kind: str = "text/html") -> None:
        data = body.encode("utf-8")
        self.send_response(code)
        self.send_header("Content-Type", f"{kind}; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.end_headers()
        self.wfile.write(data)


class ViewerServer(ThreadingHTTPServer):
    """The viewer's HTTP server over the store at ``store_path``.

    Example:
        >>> srv = ViewerServer(".judgekit/judgekit.db", port=0)  # doctest: +SKIP
        >>> srv.start(); print(srv.url); srv.stop()  # doctest: +SKIP
    """

    daemon_threads = True

    def __init__(self, store_path: str | Path, *, host: str = "127.0.0.1",
                 port: int = 8765) -> None:
        self.store_path = Path(store_path)
        super().__init__((host, port), _Handler)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT/``."""
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}/"

    def start(self) -> None:
        """Serve in a background thread (tests; the CLI calls ``serve_forever``)."""
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self.shutdown()
        self.server_close()
        if self._thread is not None:
            self._thread.join()
