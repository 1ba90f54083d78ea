"""The report and the live viewer in a real browser: Playwright driving Debian's chromium.

One browser for the whole session. Screenshots go to the test's tmp path (and, when
``JUDGEKIT_TEST_ARTIFACTS`` names a folder, there too, for CI to keep).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from viewer_data import HOSTILE, case, make_store

from judgekit.viewer import render_runs
from judgekit.viewer.server import ViewerServer

pytestmark = pytest.mark.slow

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if CHROMIUM is None:
        pytest.skip("chromium is not installed (apt-get install chromium; .ci/run does it)")
    sync_api = pytest.importorskip("playwright.sync_api",
                                   reason="playwright is not installed (pip install -e .[dev])")
    with sync_api.sync_playwright() as pw:
        # As root (CI, containers) chromium's sandbox cannot start.
        args = ["--no-sandbox"] if hasattr(os, "geteuid") and os.geteuid() == 0 else []
        b = pw.chromium.launch(executable_path=CHROMIUM, args=args)
        yield b
        b.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    p = context.new_page()
    p.dialogs = []  # type: ignore[attr-defined]
    p.errors = []  # type: ignore[attr-defined]
    p.on("dialog", lambda d: (p.dialogs.append(d.message), d.dismiss()))
    p.on("pageerror", lambda e: p.errors.append(str(e)))
    yield p
    context.close()


def screenshot(page: Any, tmp_path: Path, name: str) -> Path:
    out = tmp_path / name
    page.screenshot(path=str(out), full_page=False)
    keep = os.environ.get("JUDGEKIT_TEST_ARTIFACTS")
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        shutil.copy(out, Path(keep) / name)
    return out


def test_report_from_disk(page: Any, tmp_path: Path) -> None:
    store, run_id = make_store(tmp_path / "judgekit.db")
    with store:
        report = tmp_path / "report.html"
        report.write_text(render_runs(store, [store.get_run(run_id)]), encoding="utf-8")
    asked: list[str] = []
    page.on("request", lambda r: asked.append(r.url))
    page.route("**/*", lambda route: route.abort()
               if not route.request.url.startswith("file:") else route.continue_())
    page.goto(report.as_uri())
    # The comparison table: a row per variant, goals marked.
    rows = page.locator("#comparison tr.variant")
    assert rows.count() == 3
    assert rows.nth(1).locator("td").first.inner_text() == "large"
    assert page.locator("#comparison .goal.missed").count() >= 1
    # The plot: three points, two on the frontier, the line through them, both goal lines.
    assert page.locator("#plot circle.point").count() == 3
    frontier = page.locator("#plot circle.frontier-point")
    assert [frontier.nth(i).get_attribute("data-variant") for i in range(2)] == ["small", "large"]
    assert len(page.locator("#plot polyline.frontier").get_attribute("points").split()) == 2
    assert page.locator("#plot .goal-accuracy").count() == 1
    assert page.locator("#plot .goal-cost").count() == 1
    # Filters and search.
    cases = page.locator("#cases tr.case:visible")
    assert cases.count() == 12
    page.click("#filters button[data-filter=failed]")
    assert cases.count() == 3  # small q2, mid q2, mid q4
    page.click("#filters button[data-filter=unscored]")
    assert cases.count() == 1
    page.click("#filters button[data-filter=changed]")
    assert page.locator("#shown").inner_text() == f"{cases.count()} of 12"
    page.click("#filters button[data-filter=all]")
    page.fill("#search", "onerror")  # matches the hostile output, found in the drawer's text
    assert cases.count() == 1
    # The drawer: the case's outputs, the judge's reasoning and its calls, all as text.
    cases.first.click()
    drawer = page.locator("#drawer")
    assert drawer.is_visible()
    assert drawer.locator("pre.outputs").inner_text() == HOSTILE
    assert "is wrong." in drawer.locator("pre.comment").inner_text()
    assert drawer.locator(".call").count() == 2
    assert "cache hit" in drawer.locator(".call").nth(1).inner_text()
    assert drawer.locator("script, img, a, textarea").count() == 0
    screenshot(page, tmp_path, "report.png")
    assert page.dialogs == [] and page.errors == []  # no alert fired, the script ran clean
    assert asked == [report.as_uri()]  # self-contained: nothing else was fetched
    drawer.locator("button.close").click()
    assert not drawer.is_visible()


def test_live_viewer_updates_while_a_run_writes(page: Any, tmp_path: Path) -> None:
    store, run_id = make_store(tmp_path / "judgekit.db")
    with store:
        live = store.create_run("test_live", "suite.py", {}, "0.1.0")
        exp = store.create_experiment(live, 0, {"model": "live"}, "live", "qa", "v1", 4, 1, [],
                                      None)
        store.write_case(exp, case("q1", "answer 1", True))
        srv = ViewerServer(store.path, port=0)
        srv.start()
        try:
            page.goto(srv.url)
            assert page.locator("#runs tr.run").count() == 2
            page.click(f"a[href='/run/{live}']")
            page.wait_for_selector("#cases")
            assert page.locator("#cases tr.case").count() == 1
            page.fill("#search", "answer")
            store.write_case(exp, case("q2", "answer 2 <script>alert(9)</script>", False))
            # The page polls /api/state and redraws: the new case appears, search kept.
            # (No wait_for_function: the page's policy forbids evaluating strings, rightly.)
            page.locator("#cases tr.case").nth(1).wait_for(timeout=10_000)
            assert page.locator("#cases tr.case").count() == 2
            assert page.input_value("#search") == "answer"
            assert page.locator("#comparison tr.variant td").nth(1).inner_text() == "50%"
            page.locator("#cases tr.case").nth(1).click()
            assert "<script>alert(9)</script>" in page.locator("#drawer pre.outputs").inner_text()
            # Several runs compared from the run list.
            page.goto(srv.url)
            page.check(f"input[value='{run_id}']")
            page.check(f"input[value='{live}']")
            page.click("button[type=submit]")
            assert page.locator("#comparison tr.variant").count() == 4
            screenshot(page, tmp_path, "viewer.png")
            assert page.dialogs == [] and page.errors == []
        finally:
            srv.stop()
