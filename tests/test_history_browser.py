"""`azbdiag history --format html` in a real headless browser (Debian's chromium): the page
has no external reference, its SVG chart is in the rendered DOM, and the screenshot (kept in
the test artefacts) shows the freeze and snapshot bars and the failed runs' bands."""

from __future__ import annotations

import os
import re

import browser
import extlog
import pytest
from typer.testing import CliRunner

from azbdiag.cli import app
from azbdiag.render import history_html

pytestmark = pytest.mark.integration
runner = CliRunner()
EXTERNAL = re.compile(r"(?i)(https?:|ftp:|//[a-z0-9]|\bsrc\s*=|\bhref\s*=|@import|url\(|<script"
                      r"|<link|<iframe|<object|<embed)")


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("history")
    extlog.write_scenario(str(tmp / "disk"))
    out = tmp / "history.html"
    res = runner.invoke(app, ["history", "--root", str(tmp / "disk"), "--format", "html",
                              "-o", str(out)])
    assert res.exit_code == 0, res.output
    return out


@pytest.fixture(scope="module")
def chromium():
    path = browser.chromium()
    if not path:
        pytest.skip("chromium is not installed (Debian: apt-get install chromium)")
    return path


def test_the_page_has_no_external_reference(page):
    html = page.read_text()
    assert not EXTERNAL.search(html), EXTERNAL.search(html).group(0)
    assert "default-src 'none'" in html                  # and its CSP forbids loading any


def test_the_external_reference_check_can_fail():
    for bad in ('<img src="x.png">', "<link rel=stylesheet href=a.css>", "url(http://a/b)",
                '<svg xmlns="http://www.w3.org/2000/svg">'):
        assert EXTERNAL.search(bad), bad


def test_the_chart_is_in_the_rendered_dom(page, chromium, tmp_path):
    dom = browser.dump_dom(chromium, str(page), str(tmp_path / "profile"))
    assert re.search(r'<svg id="chart"[^>]*role="img"', dom)
    assert len(re.findall(r'class="bar freeze"', dom)) == 7      # every run that measured one
    assert len(re.findall(r'class="bar snapshot"', dom)) == 5
    assert len(re.findall(r'class="failed-marker"', dom)) == 2   # the 121 and the 122
    assert len(re.findall(r'class="band-failed"', dom)) == 2
    assert len(re.findall(r'class="limit"', dom)) == 2
    assert dom.count('<tr class="run-') == 9


def test_the_screenshot_shows_the_chart(page, chromium, tmp_path):
    png = os.path.join(browser.artifacts_dir(), "history.png")
    if os.path.exists(png):
        os.unlink(png)
    browser.screenshot(chromium, str(page), png, str(tmp_path / "profile"), "1280,1000")
    width, height, _ = browser.read_png(png)
    assert (width, height) == (1280, 1000)
    counts = browser.colour_counts(png)
    assert len(counts) > 50, "the screenshot is (almost) blank"
    rgb = lambda h: tuple(int(h[i:i + 2], 16) for i in (1, 3, 5))  # noqa: E731
    assert browser.near(counts, rgb(history_html.FREEZE), 2) > 2000       # the freeze bars
    assert browser.near(counts, rgb(history_html.SNAPSHOT), 2) > 300      # the snapshot bars
    band = tuple(round(255 - 0.12 * (255 - c)) for c in rgb(history_html.FAILED))
    assert browser.near(counts, band, 2) > 10000                          # the failed runs
    assert browser.near(counts, rgb(history_html.FAILED), 2) > 50         # their crosses
