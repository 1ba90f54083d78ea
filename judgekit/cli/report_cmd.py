"""``judgekit report RUN [RUN ...] --html FILE`` and ``judgekit view``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from judgekit._files import atomic_text
from judgekit.errors import ConfigError
from judgekit.store import Store, default_store_path

__all__ = ["report", "view"]


def report(args: argparse.Namespace) -> int:
    """Write one self-contained HTML page comparing the given runs."""
    from judgekit.viewer.render import render_runs

    with Store.existing(args.store) as store:
        runs = [store.get_run(ref) for ref in args.runs]
        html = render_runs(store, runs)
    target = Path(args.html)
    if not target.parent.is_dir():
        raise ConfigError(f"--html {args.html}: folder {target.parent} does not exist")
    with atomic_text(target) as f:
        f.write(html)
    print(f"wrote {target} ({len(html.encode()) // 1024} KiB)")
    return 0


def view(args: argparse.Namespace) -> int:
    """Serve the store's runs on 127.0.0.1 until interrupted."""
    from judgekit.viewer.server import ViewerServer

    path = Path(args.store) if args.store else default_store_path()
    Store.existing(path).close()  # a missing store is a usage error now, not a 404 later
    try:
        server = ViewerServer(path, port=args.port)
    except OSError as exc:
        raise ConfigError(f"--port {args.port}: cannot listen on 127.0.0.1 ({exc.strerror}); "
                          "pick another port or --port 0 for a free one") from None
    print(f"judgekit viewer on {server.url} (store {path}); Ctrl-C stops it", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        print("stopped", file=sys.stderr)
    finally:
        server.server_close()
    return 0
