"""Open an HTML file in a real headless Chromium and report what went wrong.

Talks the Chrome DevTools Protocol over ``--remote-debugging-pipe`` (NUL-separated JSON on
file descriptors 3 and 4 of the browser), so it needs no Python package beyond the standard
library.
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TIMEOUT = 30.0
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--window-size=1280,1600",
    "--remote-debugging-pipe",
]
# Moves the pipe ends to fds 3 (commands in) and 4 (messages out), then becomes the browser.
_TRAMPOLINE = (
    "import os, sys; os.dup2(int(sys.argv[1]), 3); os.dup2(int(sys.argv[2]), 4); "
    "os.execv(sys.argv[3], sys.argv[3:])"
)
# Elements wider than the page or than their box: the page scrolls sideways, or a table or
# figure is cut and scrolls inside its frame. Returns short descriptions of the offenders.
_OVERFLOW = """(() => {
  const out = [];
  const page = document.documentElement;
  if (page.scrollWidth > window.innerWidth) out.push(`page ${page.scrollWidth}px wide`);
  for (const el of document.querySelectorAll('.table-wrap, figure, pre, main')) {
    if (el.closest('details:not([open])')) continue;
    if (el.scrollWidth > el.clientWidth + 1) {
      const what = (el.querySelector('caption, figcaption') || el).textContent.trim().slice(0, 60);
      out.push(`${el.className || el.tagName.toLowerCase()} ${el.scrollWidth}px in ${el.clientWidth}px: ${what}`);
    }
  }
  return out;
})()"""
# Where the selector's element starts, in px from the top of the page (or -1 when absent).
_TOP = (
    "(() => {{ const el = document.querySelector({selector!r}); "
    "return el ? el.getBoundingClientRect().top + window.scrollY : -1; }})()"
)
_BROKEN_IMAGES = (
    "Array.from(document.images).filter(i => !i.complete || i.naturalWidth === 0)"
    ".map(i => (i.alt || i.src.slice(0, 40)))"
)


def chromium() -> str | None:
    """The Chromium executable: ``/usr/bin/chromium`` or ``chromium`` on PATH (else None)."""
    if os.access("/usr/bin/chromium", os.X_OK):
        return "/usr/bin/chromium"
    return shutil.which("chromium") or shutil.which("chromium-browser")


class _Timeout(Exception):
    pass


class _Browser:
    """A headless Chromium with one page, driven over the DevTools pipe."""

    def __init__(self, executable: str, deadline: float):
        self.deadline = deadline
        self.profile = tempfile.mkdtemp(prefix="xaibench-chromium-")
        cmd_r, self.cmd_w = os.pipe()
        self.out_r, out_w = os.pipe()
        # above 10 so that moving them to 3 and 4 in the child cannot clobber either
        high = [fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10) for fd in (cmd_r, out_w)]
        os.close(cmd_r)
        os.close(out_w)
        args = [executable, *FLAGS, f"--user-data-dir={self.profile}", "about:blank"]
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-c", _TRAMPOLINE, str(high[0]), str(high[1]), *args],
                pass_fds=high,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
        finally:
            for fd in high:
                os.close(fd)
        self.selector = selectors.DefaultSelector()
        self.selector.register(self.out_r, selectors.EVENT_READ)
        self.buffer, self.next_id, self.events, self.session = b"", 0, [], None

    def _read_message(self) -> dict:
        while b"\0" not in self.buffer:
            left = self.deadline - time.monotonic()
            if left <= 0 or not self.selector.select(timeout=left):
                raise _Timeout
            chunk = os.read(self.out_r, 1 << 20)
            if not chunk:
                raise RuntimeError(f"chromium exited (code {self.proc.poll()})")
            self.buffer += chunk
        raw, self.buffer = self.buffer.split(b"\0", 1)
        return json.loads(raw)

    def send(self, method: str, params: dict | None = None) -> dict:
        """Send one command and return its result (events that arrive meanwhile are kept)."""
        self.next_id += 1
        message = {"id": self.next_id, "method": method, "params": params or {}}
        if self.session and not method.startswith(("Target.", "Browser.")):
            message["sessionId"] = self.session
        os.write(self.cmd_w, json.dumps(message).encode() + b"\0")
        while True:
            reply = self._read_message()
            if reply.get("id") == self.next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error'].get('message')}")
                return reply.get("result", {})
            self.events.append(reply)

    def wait_for(self, method: str) -> dict:
        """Wait for the page event ``method`` (including one already received)."""
        for event in self.events:
            if event.get("method") == method:
                return event
        while True:
            event = self._read_message()
            self.events.append(event)
            if event.get("method") == method:
                return event

    def close(self) -> None:
        """End the browser (politely, then by force) and everything it started."""
        try:
            if self.proc.poll() is None:
                os.write(self.cmd_w, b'{"id": 0, "method": "Browser.close"}\0')
                self.proc.wait(timeout=5)
        except (OSError, subprocess.TimeoutExpired):
            pass
        # the browser's helper processes share its session (process group): end what is left
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait()
        self.selector.close()
        os.close(self.cmd_w)
        os.close(self.out_r)
        shutil.rmtree(self.profile, ignore_errors=True)


def _console_problems(events: list[dict]) -> list[str]:
    problems = []
    for event in events:
        method, params = event.get("method"), event.get("params", {})
        if method == "Runtime.exceptionThrown":
            details = params.get("exceptionDetails", {})
            text = details.get("exception", {}).get("description") or details.get("text")
            problems.append(f"JavaScript exception: {text}")
        elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            args = params.get("args", [])
            text = " ".join(str(a.get("value", a.get("description", ""))) for a in args)
            problems.append(f"console error: {text}")
        elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
            entry = params["entry"]
            problems.append(f"console error ({entry.get('source')}): {entry.get('text')}")
    return problems


def _inspect(
    browser: _Browser, url: str, first_screen: str | None = None, screen: int = 800
) -> tuple[list[str], bytes | None]:
    target = browser.send("Target.createTarget", {"url": "about:blank"})["targetId"]
    attached = browser.send("Target.attachToTarget", {"targetId": target, "flatten": True})
    browser.session = attached["sessionId"]
    for domain in ("Page", "Runtime", "Log"):
        browser.send(f"{domain}.enable")
    nav = browser.send("Page.navigate", {"url": url})
    if nav.get("errorText"):
        return [f"page failed to load: {nav['errorText']} ({url})"], None
    browser.wait_for("Page.loadEventFired")
    problems = []
    broken = browser.send("Runtime.evaluate", {"expression": _BROKEN_IMAGES, "returnByValue": True})
    names = broken.get("result", {}).get("value") or []
    if names:
        problems.append(f"{len(names)} image(s) did not decode: {names}")
    wide = browser.send("Runtime.evaluate", {"expression": _OVERFLOW, "returnByValue": True})
    problems += [f"overflow: {w}" for w in wide.get("result", {}).get("value") or []]
    if first_screen:
        expression = _TOP.format(selector=first_screen)
        top = browser.send("Runtime.evaluate", {"expression": expression, "returnByValue": True})
        y = top.get("result", {}).get("value", -1)
        if y < 0 or y > screen:
            problems.append(
                f"{first_screen} is not in the first screen (starts at {y:.0f} px of {screen})"
            )
    # a round trip after the checks so that late console messages have arrived
    browser.send("Runtime.evaluate", {"expression": "document.readyState"})
    problems += _console_problems(browser.events)
    shot = None
    if problems:
        data = browser.send("Page.captureScreenshot", {"format": "png"})["data"]
        shot = base64.b64decode(data)
    return problems, shot


def check_in_browser(
    html_path: str | Path,
    screenshot_path: str | Path,
    *,
    timeout: float = TIMEOUT,
    first_screen: str | None = None,
) -> list[str]:
    """Open ``html_path`` in headless Chromium (1280 px wide); return the problems found (empty:
    all good).

    Problems: the page did not load, an ``<img>`` did not decode (``naturalWidth == 0``), the
    page or a table, figure or code block is wider than its box (sideways scrolling, cut
    content; collapsed sections are not checked), the element of CSS selector ``first_screen``
    does not start within the first 800 px, a console error, a JavaScript exception, or no
    answer within ``timeout`` seconds. When there are problems a screenshot is saved to
    ``screenshot_path``. The browser is always ended.
    """
    executable = chromium()
    if executable is None:
        return ["chromium is not installed (apt-get install chromium)"]
    path = Path(html_path).resolve()
    if not path.is_file():
        return [f"page failed to load: no file {path}"]
    browser = _Browser(executable, time.monotonic() + timeout)
    try:
        problems, shot = _inspect(browser, path.as_uri(), first_screen)
    except _Timeout:
        return [f"timed out after {timeout:g} s: chromium did not load and check {path}"]
    except (RuntimeError, OSError) as err:
        return [f"chromium failed: {err}"]
    finally:
        browser.close()
    if shot is not None:
        Path(screenshot_path).parent.mkdir(parents=True, exist_ok=True)
        Path(screenshot_path).write_bytes(shot)
    return problems


def evaluate_in_browser(html_path: str | Path, expression: str, *, timeout: float = TIMEOUT):
    """The value of the JavaScript ``expression`` on the loaded page ``html_path`` (headless
    Chromium, 1280 px wide), e.g. ``"document.documentElement.scrollHeight"`` for the height
    it renders to. Raises RuntimeError when the browser cannot load the page or answer."""
    executable = chromium()
    if executable is None:
        raise RuntimeError("chromium is not installed (apt-get install chromium)")
    browser = _Browser(executable, time.monotonic() + timeout)
    try:
        target = browser.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        attached = browser.send("Target.attachToTarget", {"targetId": target, "flatten": True})
        browser.session = attached["sessionId"]
        browser.send("Page.enable")
        browser.send("Page.navigate", {"url": Path(html_path).resolve().as_uri()})
        browser.wait_for("Page.loadEventFired")
        result = browser.send("Runtime.evaluate", {"expression": expression, "returnByValue": True})
        return result.get("result", {}).get("value")
    except _Timeout as err:
        raise RuntimeError(f"timed out after {timeout:g} s on {html_path}") from err
    finally:
        browser.close()
