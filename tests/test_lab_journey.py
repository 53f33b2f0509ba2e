"""A student's first minutes in JupyterLab: open chapter 2, run it, play with the explorer, meet a folded solution.

JupyterLab runs on loopback on a copy of the chapter (so nothing it saves reaches
the repository) with the fast budget; Debian's Chromium drives it (Playwright).
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

import nbtools
import site_browser as B

pytestmark = [pytest.mark.notebooks, pytest.mark.browser]

CHAPTER = nbtools.ROOT / "book" / "02_activations.ipynb"
STARTUP_TIMEOUT = 180  # seconds, on two busy cores
RUN_TIMEOUT = 120


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def lab(tmp_path, data_root):
    """JupyterLab on 127.0.0.1 serving a scratch folder that holds a copy of the chapter; yield its URL and token."""
    work = tmp_path / "course"
    work.mkdir()
    shutil.copy(CHAPTER, work / CHAPTER.name)
    port, token = _free_port(), secrets.token_hex(16)
    env = {k: v for k, v in os.environ.items() if k not in {"MPLBACKEND", "JUPYTER_CONFIG_DIR"}}
    env.update(
        COURSE_FAST="1", COURSE_DATA_DIR=str(data_root),
        JUPYTER_RUNTIME_DIR=str(tmp_path / "runtime"),
        JUPYTERLAB_SETTINGS_DIR=str(tmp_path / "settings"),
        JUPYTERLAB_WORKSPACES_DIR=str(tmp_path / "workspaces"),
    )
    log = open(tmp_path / "lab.log", "w")
    jupyter = Path(sys.executable).parent / "jupyter"
    server = subprocess.Popen(
        [str(jupyter), "lab", "--no-browser", "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}",
         "--ServerApp.port_retries=0", "--ServerApp.allow_root=True", f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={work}",
         "--LabApp.news_url=", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"],
        cwd=work, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while True:
            try:
                with urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=5):
                    break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"JupyterLab did not start:\n{(tmp_path / 'lab.log').read_text()[-3000:]}")
                time.sleep(1)
        yield base, token
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()


def test_student_runs_chapter_2_and_explores(lab, tmp_path):
    from playwright.sync_api import sync_playwright

    base, token = lab
    try:
        executable = B.chromium_executable()
    except B.SetupError as err:
        pytest.fail(str(err))
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, headless=True)
        page = browser.new_page(viewport=B.DESKTOP)
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(f"{base}/lab/tree/{CHAPTER.name}?token={token}", timeout=120_000)
        page.locator(".jp-Notebook .jp-Cell").first.wait_for(timeout=120_000)
        page.locator(".jp-StatusBar-Item", has_text=re.compile(r"\| Idle")).wait_for(timeout=120_000)  # kernel ready

        # Run -> Run All Cells, from the menu bar
        prompts = "() => [...document.querySelectorAll('.jp-CodeCell .jp-InputPrompt')].map(p => p.textContent.trim())"
        page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
        page.locator(".lm-Menu-item:not(.lm-mod-hidden) .lm-Menu-itemLabel", has_text=re.compile(r"^Run All Cells$")).click()
        page.wait_for_function(f"() => ({prompts})().some(p => p !== '[ ]:')", timeout=60_000)
        errors_shown = page.locator(".jp-OutputArea-output:is([data-mime-type*='stderr'], [data-mime-type*='error'])",
                                    has_text=re.compile("Traceback|Error"))
        deadline = time.monotonic() + RUN_TIMEOUT
        while not all(re.fullmatch(r"\[\d+\]:", text) for text in page.evaluate(prompts)):
            assert errors_shown.count() == 0, errors_shown.first.inner_text()[:2000]
            if time.monotonic() > deadline:
                page.screenshot(path=str(tmp_path / "lab.png"))
                pytest.fail(f"Run All did not finish in {RUN_TIMEOUT} s; prompts {page.evaluate(prompts)} "
                            f"(screenshot {tmp_path / 'lab.png'})")
            page.wait_for_timeout(1000)
        assert errors_shown.count() == 0, errors_shown.first.inner_text()[:2000]

        # the explorer: live controls (not the website's note) above its figure
        cell = page.locator(".jp-CodeCell", has=page.locator(".widget-dropdown")).first
        cell.scroll_into_view_if_needed()
        assert cell.locator(".course-explorer-note").count() == 0, "JupyterLab shows the website's note, not the controls"
        figure = cell.locator(".jp-OutputArea-output img").first  # JupyterLab replaces the <img> on each update
        before = figure.get_attribute("src")
        handle = cell.locator(".widget-hslider .noUi-handle-upper")  # the upper end of the z range
        readout = cell.locator(".widget-hslider .widget-readout").last
        range_before = readout.inner_text()
        for _ in range(3):  # a drag that starts while the output area is still settling can miss the handle
            handle.hover()  # scrolled into view and stable
            box = handle.bounding_box()
            page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
            page.mouse.down()
            page.mouse.move(box["x"] - 25, box["y"] + box["height"] / 2, steps=8)
            page.mouse.up()
            for _ in range(10):
                if readout.inner_text() != range_before:
                    break
                page.wait_for_timeout(300)
            if readout.inner_text() != range_before:
                break
        assert readout.inner_text() != range_before, "three drags of the upper handle did not move the slider"
        for _ in range(60):
            if figure.get_attribute("src") != before:
                break
            page.wait_for_timeout(500)
        else:
            pytest.fail(f"the figure did not change after the z range moved from {range_before} to {readout.inner_text()}")

        # a solution: folded until asked for, then its math typeset
        details = page.locator(".jp-MarkdownCell .jp-RenderedMarkdown details")
        assert details.count() >= 1, "no folded solution rendered in chapter 2"
        solution = details.first
        solution.scroll_into_view_if_needed()
        assert solution.get_attribute("open") is None
        assert solution.locator("summary").inner_text().strip().startswith("Solution")
        body = solution.locator(":scope > :not(summary)")
        assert body.count() and not body.first.is_visible(), "the solution shows while folded"
        solution.locator("summary").click()
        body.first.wait_for(state="visible")
        page.wait_for_function("(d) => d.querySelector('mjx-container') !== null", arg=solution.element_handle(),
                               timeout=30_000)  # its math is typeset
        assert ":class: dropdown" not in page.locator(".jp-Notebook").inner_text()
        assert not errors, errors[:3]
        browser.close()
