"""The report page and the viewer server without a browser: escaping, the comparison, the
'changed' marks, a run still writing, the CLI's errors and the server's routes."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from html import unescape
from pathlib import Path

import pytest
from viewer_data import add_experiment, case, make_store

from judgekit.store import Store
from judgekit.viewer import render_runs
from judgekit.viewer.page_data import page_data
from judgekit.viewer.server import ViewerServer


@pytest.fixture
def run(tmp_path: Path) -> Iterator[tuple[Store, str]]:
    store, run_id = make_store(tmp_path / "judgekit.db")
    with store:
        yield store, run_id


def test_every_model_string_is_escaped(run: tuple[Store, str]) -> None:
    store, run_id = run
    html = render_runs(store, [store.get_run(run_id)])
    assert "<script>alert" not in html and "<img src=x" not in html
    assert 'href="javascript:' not in html and "</textarea>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "{{ 7*7 }}" in html  # template syntax in data stays text, never evaluated
    # One script only, and the policy names it by hash: no other inline script could run.
    assert len(re.findall(r"<script\b", html)) == 1
    policy = unescape(re.search(r'Content-Security-Policy" content="([^"]+)"', html)[1])
    assert re.search(r"script-src 'sha256-[A-Za-z0-9+/=]+';", policy)
    assert "connect-src 'none'" in policy and "http://" not in html.replace(
        "http-equiv", "")  # nothing fetched from anywhere: works from disk, offline


def test_comparison_goals_plot_and_changed(run: tuple[Store, str]) -> None:
    store, run_id = run
    d = page_data(store, [store.get_run(run_id)])
    by = {v.label: v for v in d.variants}
    assert by["small"].cells["cot_qa"] == "50% (1 ?)"  # 1 of 2 ok verdicts, 1 unscored
    assert by["small"].cells["errors"] == "1"
    assert by["large"].cells["cost/1k"] == "$10.00"  # the judge's cache hits cost nothing
    assert [g for g in by["large"].goals] == [("✓ accuracy", True),
                                              ("✗ cost $10.00 > $5.00", False)]
    assert [(p.label, p.on_frontier) for p in d.plot.points] == [
        ("small", True), ("large", True), ("mid", False)]
    flags = {(c.experiment, c.example_id): c.flags for c in d.cases}
    assert flags[("small", "q2")] == ["failed", "changed"]
    assert flags[("small", "q3")] == ["unscored"]  # unscored is neither pass nor fail
    assert flags[("small", "q4")] == ["error", "changed"]
    assert "changed" not in flags[("large", "q1")]  # passed everywhere


def test_a_run_still_writing_is_summarised_on_the_fly(run: tuple[Store, str]) -> None:
    store, _ = run
    run_id = store.create_run("test_live", "suite.py", {}, "0.1.0")
    add_experiment(store, run_id, 0, "live", [case("q1", "answer 1", True)], finish=False)
    d = page_data(store, [store.get_run(run_id)])
    (v,) = d.variants
    assert v.cells["cot_qa"] == "100%" and v.goals[0] == ("✓ accuracy", True)


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "judgekit.cli.main", *args],
                          capture_output=True, text=True, timeout=60)


def test_cli_report_writes_the_page_and_rejects_bad_input(run: tuple[Store, str],
                                                          tmp_path: Path) -> None:
    store, run_id = run
    out = tmp_path / "report.html"
    done = cli("report", run_id, "--html", str(out), "--store", str(store.path))
    assert done.returncode == 0, done.stderr
    assert 'data-variant="large"' in out.read_text()
    for args, message in ((("nope",), "no run 'nope'"),
                          ((run_id, "--html", str(tmp_path / "no" / "r.html")), "does not exist")):
        bad = cli("report", *args, *(() if "--html" in args else ("--html", str(out))),
                  "--store", str(store.path))
        assert bad.returncode == 2 and message in bad.stderr
        assert "Traceback" not in bad.stderr and len(bad.stderr.strip().splitlines()) == 1
    missing = cli("view", "--store", str(tmp_path / "none.db"))
    assert missing.returncode == 2 and "no store at" in missing.stderr
    assert not (tmp_path / "none.db").exists()


def fetch(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_server_serves_only_its_routes_on_loopback(run: tuple[Store, str]) -> None:
    store, run_id = run
    srv = ViewerServer(store.path, port=0)
    srv.start()
    try:
        assert srv.server_address[0] == "127.0.0.1"
        code, html = fetch(srv.url)
        assert code == 200 and f'href="/run/{run_id}"' in html
        assert fetch(f"{srv.url}run/{run_id}")[0] == 200
        assert fetch(f"{srv.url}compare?run={run_id}&run={run_id[:4]}")[0] == 200
        for path in ("../etc/passwd", "%2e%2e/%2e%2e/etc/passwd", "run/../../etc/passwd",
                     "page.js", "templates/run.html.j2", "judgekit.db", "run/nope",
                     "api/state"):
            assert fetch(srv.url + path)[0] == 404, path
        code, body = fetch(f"{srv.url}api/state?runs={run_id}")
        before = json.loads(body)["version"]
        live = store.create_run("test_live", "suite.py", {}, "0.1.0")
        add_experiment(store, live, 0, "live", [case("q1", "a", True)], finish=False)
        assert json.loads(fetch(f"{srv.url}api/state?runs={live}")[1])["version"] != before
    finally:
        srv.stop()


def test_cli_view_serves_on_loopback_and_a_taken_port_is_exit_2(run: tuple[Store, str]) -> None:
    store, run_id = run
    proc = subprocess.Popen([sys.executable, "-m", "judgekit.cli.main", "view", "--port", "0",
                             "--store", str(store.path)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        url = re.search(r"http://127\.0\.0\.1:\d+/", line)
        assert url, line
        code, html = fetch(url[0])
        assert code == 200 and run_id in html
        port = url[0].rsplit(":", 1)[1].rstrip("/")
        taken = cli("view", "--port", port, "--store", str(store.path))
        assert taken.returncode == 2 and f"--port {port}: cannot listen" in taken.stderr
        assert len(taken.stderr.strip().splitlines()) == 1
    finally:
        proc.terminate()
        proc.wait(timeout=10)
