"""A real browser for the tests: Debian's Chromium driven by Playwright, offline.

The website loads MathJax from a CDN. Nothing outside this machine can be reached, so
every CDN request is answered from a local copy of the same npm package
(``tests/browser/package.json``, pinned by its lock file and installed with
``npm ci`` on first use): the browser then sees what an online reader sees.
Any other request to the outside is refused and recorded.

``python tests/site_browser.py screenshot SITE PAGE WIDTH OUT.png`` saves a
full-page screenshot of ``SITE/PAGE.html`` (for looking at a page by eye).
"""

from __future__ import annotations

import contextlib
import functools
import http.server
import json
import mimetypes
import re
import shutil
import subprocess
import sys
import threading
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]
ASSETS = ROOT / "tests" / "browser"
NODE_MODULES = ASSETS / "node_modules"

DESKTOP = {"width": 1366, "height": 900}
PHONE = {"width": 390, "height": 844}

# A CDN URL that names an npm package, its version and a file in it
CDN_NPM = re.compile(r"^https://cdn\.jsdelivr\.net/npm/(?P<package>(?:@[^/@]+/)?[^/@]+)@(?P<version>[^/]+)/(?P<path>[^?#]+)")


class SetupError(RuntimeError):
    """The browser or the local copies of the CDN scripts are missing, with the command that installs them."""


def install_assets() -> Path:
    """``npm ci`` the pinned CDN packages into tests/browser/node_modules unless they are up to date."""
    lock = ASSETS / "package-lock.json"
    stamp = NODE_MODULES / ".package-lock.json"  # written by npm ci
    if stamp.is_file() and stamp.stat().st_mtime >= lock.stat().st_mtime:
        return NODE_MODULES
    npm = shutil.which("npm")
    if npm is None:
        raise SetupError("npm is needed to install the local copies of the website's CDN scripts "
                         "(Debian: apt-get install npm; .ci/run does it)")
    result = subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--ignore-scripts", "--prefix", str(ASSETS)],
                            capture_output=True, text=True, timeout=900)
    if result.returncode != 0:
        raise SetupError(f"npm ci in {ASSETS} failed:\n{result.stdout[-2000:]}{result.stderr[-3000:]}")
    return NODE_MODULES


def chromium_executable() -> str:
    """Debian's Chromium (Playwright's own browser download does not work offline)."""
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    raise SetupError("Chromium is needed for the browser tests (Debian: apt-get install chromium; .ci/run does it)")


def local_copy(url: str) -> Path | None:
    """The file of the installed npm package that a CDN URL names, or None for a URL no rule covers."""
    m = CDN_NPM.match(url)
    if not m:
        return None
    folder = NODE_MODULES / m["package"]
    if not (folder / "package.json").is_file():
        raise SetupError(f"the website loads {m['package']} from a CDN: add it to tests/browser/package.json "
                         "(npm install --prefix tests/browser PACKAGE@VERSION)")
    installed = json.loads((folder / "package.json").read_text())["version"]
    wanted = m["version"]
    if not (installed == wanted or installed.startswith(wanted.rstrip(".x") + ".")):
        raise SetupError(f"the website asks for {m['package']}@{wanted} but tests/browser/package.json pins "
                         f"{installed}: update the pin and its lock file (npm install --prefix tests/browser)")
    file = folder / m["path"]
    return file if file.is_file() else None


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


@contextlib.contextmanager
def serve(directory: Path):
    """Serve ``directory`` over HTTP on a free loopback port; yield its base URL."""
    handler = functools.partial(_QuietHandler, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


class Offline:
    """Answer CDN requests from the npm copies; refuse (and remember) every other outside request."""

    def __init__(self) -> None:
        self.refused: list[str] = []
        self.served: dict[str, int] = {}  # CDN URL -> bytes

    def handle(self, route) -> None:
        url = route.request.url
        try:
            file = local_copy(url)
        except (SetupError, OSError) as err:
            self.refused.append(f"{url} ({err})")
            route.abort()
            return
        if file is None:
            self.refused.append(url)
            route.abort()
            return
        body = file.read_bytes()
        self.served[url] = len(body)
        content_type = mimetypes.guess_type(file.name)[0] or "application/octet-stream"
        route.fulfill(status=200, body=body, headers={"Content-Type": content_type, "Access-Control-Allow-Origin": "*"})

    def attach(self, context) -> None:
        context.route(re.compile(r"^(?!https?://(127\.0\.0\.1|localhost)[:/]).+"), self.handle)


def launch(playwright):
    """Headless Debian Chromium."""
    return playwright.chromium.launch(executable_path=chromium_executable(), headless=True)


def is_local(url: str) -> bool:
    return urlsplit(url).hostname in {"127.0.0.1", "localhost"}


def _screenshot(site: str, page_name: str, width: int, out: str) -> None:
    from playwright.sync_api import sync_playwright

    install_assets()
    with serve(Path(site)) as base, sync_playwright() as p:
        browser = launch(p)
        context = browser.new_context(viewport={"width": width, "height": 900 if width > 600 else 844})
        Offline().attach(context)
        page = context.new_page()
        page.goto(base + page_name + ".html", wait_until="load")
        page.evaluate("async () => { if (window.MathJax?.startup?.promise) await MathJax.startup.promise; }")
        page.wait_for_timeout(1000)
        page.screenshot(path=out, full_page=True)
        browser.close()


if __name__ == "__main__":
    if len(sys.argv) == 6 and sys.argv[1] == "screenshot":
        _screenshot(sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5])
    else:
        print(__doc__)
        sys.exit(2)
