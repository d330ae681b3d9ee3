#!/usr/bin/env python3
"""Drive the Baton web dashboard in headless Chromium and check it end to end.

Usage:
    python3 scripts/lib/browser_check.py --base http://127.0.0.1:PORT --api-key KEY \\
        --tree TREE_ID --cancel-task TASK_ID --expect-completed N --out DIR \\
        [--chromium PATH] [--timeout 60]

What it does (Python 3 standard library only; the Chrome DevTools Protocol over a minimal
RFC 6455 WebSocket client implemented here):
  1. Launches Chromium headless (--chromium, else chromium / chromium-browser / google-chrome on
     PATH) with a throw-away profile, reads the DevTools port from DevToolsActivePort, and attaches
     to a page target.
  2. Records every uncaught exception or unhandled rejection (Runtime.exceptionThrown), every
     console.error (Runtime.consoleAPICalled) and every error log entry (Log.entryAdded; a failed
     /favicon.ico request, which the browser makes by itself, is ignored). Any of them fails the run.
  3. Signs in at /dashboard/login with the API key, waits for /dashboard with the tree's row
     ([data-tree-id=TREE_ID]); screenshot 01-trees.png.
  4. Opens /dashboard/trees/TREE_ID, waits until every task that is not inside a collapsed subtree
     has an element ([data-task-id][data-status]); screenshot 02-tree-start.png. The time from
     navigation to that point is timings_ms.tree_page_load.
  5. Clicks button[data-action=cancel][data-task-id=CANCEL_TASK] and waits for that task's element
     to show data-status="cancelled".
  6. Waits (live updates, no reload) until at least N task elements show data-status="completed";
     screenshot 03-tree-live.png.
  7. Opens /dashboard/executors, waits for an executor or agent row; screenshot 04-executors.png.
  8. Prints one JSON line to stdout:
       {"ok": bool, "screenshots": [...], "console_errors": [...], "timings_ms": {...}, ...}
     and exits 0 only when ok. Progress notes go to stderr.

Every wait shares one deadline (--timeout seconds, default 60). On a timeout it prints the step,
the page's URL and the start of its text to stderr, saves failure.png in --out, and exits 1.
Chromium is killed and its profile deleted whatever happens. The API key is never printed.
"""

import argparse
import base64
import hashlib
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

COLLAPSE_OVER = 50  # the dashboard starts a parent with more children than this collapsed
POLL_S = 0.1  # how often a wait re-checks the page
CALL_TIMEOUT_S = 15.0  # one DevTools call, independent of the overall deadline


def log(message):
    print(f"browser_check: {message}", file=sys.stderr, flush=True)


class StepTimeout(Exception):
    """A wait ran past the deadline."""

    def __init__(self, step, detail=""):
        super().__init__(f"timed out at step '{step}'" + (f": {detail}" if detail else ""))
        self.step = step


class CheckFailed(Exception):
    """The dashboard did something the check does not accept."""


# -------------------------------------------------------------------------------------------------
# Minimal WebSocket client (RFC 6455): client side, text frames, masking, ping/pong, fragments.
# -------------------------------------------------------------------------------------------------


class WebSocketClosed(Exception):
    pass


class WebSocket:
    GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

    def __init__(self, url, timeout=10.0):
        parsed = urllib.parse.urlsplit(url)
        if parsed.scheme != "ws":
            raise ValueError(f"only ws:// URLs are supported, not {url}")
        host = parsed.hostname or "127.0.0.1"
        port = parsed.port or 80
        path = parsed.path or "/"
        if parsed.query:
            path += "?" + parsed.query
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = bytearray()
        self.closed = False
        self._fragments = None  # payload pieces of a fragmented message
        self._fragment_opcode = 0
        self._handshake(host, port, path, time.monotonic() + timeout)

    def _handshake(self, host, port, path, deadline):
        key = base64.b64encode(os.urandom(16)).decode()
        request = (
            f"GET {path} HTTP/1.1\r\n"
            f"Host: {host}:{port}\r\n"
            "Upgrade: websocket\r\n"
            "Connection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\n"
            "Sec-WebSocket-Version: 13\r\n"
            "\r\n"
        )
        self.sock.sendall(request.encode())
        while b"\r\n\r\n" not in self.buf:
            if len(self.buf) > 65536:
                raise ConnectionError("WebSocket handshake: response headers too long")
            self._fill(deadline)
        end = self.buf.index(b"\r\n\r\n")
        head = bytes(self.buf[:end]).decode("latin-1")
        del self.buf[: end + 4]  # anything after the headers is already frame data
        lines = head.split("\r\n")
        if len(lines[0].split(" ")) < 2 or lines[0].split(" ")[1] != "101":
            raise ConnectionError(f"WebSocket handshake refused: {lines[0]}")
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        expected = base64.b64encode(hashlib.sha1((key + self.GUID).encode()).digest()).decode()
        if headers.get("sec-websocket-accept") != expected:
            raise ConnectionError("WebSocket handshake: bad Sec-WebSocket-Accept")

    def _fill(self, deadline):
        """Reads more bytes into the buffer; TimeoutError when the deadline passes first."""
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("WebSocket read timed out")
        self.sock.settimeout(remaining)
        try:
            chunk = self.sock.recv(1 << 20)
        except socket.timeout:
            raise TimeoutError("WebSocket read timed out") from None
        if not chunk:
            self.closed = True
            raise WebSocketClosed("connection closed by peer")
        self.buf += chunk

    @staticmethod
    def _mask(payload, key):
        """XOR with the 4-byte key, done on big integers (fast for multi-megabyte payloads)."""
        n = len(payload)
        if n == 0:
            return b""
        repeated = (key * (n // 4 + 1))[:n]
        return (int.from_bytes(payload, "big") ^ int.from_bytes(repeated, "big")).to_bytes(n, "big")

    def _send_frame(self, opcode, payload):
        if self.closed:
            raise WebSocketClosed("connection is closed")
        header = bytearray([0x80 | opcode])  # FIN + opcode; we never fragment what we send
        n = len(payload)
        if n < 126:
            header.append(0x80 | n)  # the mask bit: every client frame is masked
        elif n < 1 << 16:
            header.append(0x80 | 126)
            header += struct.pack("!H", n)
        else:
            header.append(0x80 | 127)
            header += struct.pack("!Q", n)
        key = os.urandom(4)
        header += key
        self.sock.settimeout(CALL_TIMEOUT_S)
        self.sock.sendall(bytes(header) + self._mask(payload, key))

    def send_text(self, text):
        self._send_frame(0x1, text.encode("utf-8"))

    def _parse_frame(self):
        """One complete frame from the buffer as (fin, opcode, payload), or None if incomplete."""
        buf = self.buf
        if len(buf) < 2:
            return None
        fin = bool(buf[0] & 0x80)
        opcode = buf[0] & 0x0F
        masked = bool(buf[1] & 0x80)
        length = buf[1] & 0x7F
        pos = 2
        if length == 126:
            if len(buf) < 4:
                return None
            length = struct.unpack("!H", bytes(buf[2:4]))[0]
            pos = 4
        elif length == 127:
            if len(buf) < 10:
                return None
            length = struct.unpack("!Q", bytes(buf[2:10]))[0]
            pos = 10
        key = b""
        if masked:  # servers must not mask, but accept it
            if len(buf) < pos + 4:
                return None
            key = bytes(buf[pos : pos + 4])
            pos += 4
        if len(buf) < pos + length:
            return None
        payload = bytes(buf[pos : pos + length])
        del buf[: pos + length]
        if masked:
            payload = self._mask(payload, key)
        return fin, opcode, payload

    def recv_text(self, deadline):
        """The next whole text (or binary) message; answers pings, reassembles fragments."""
        while True:
            frame = self._parse_frame()
            if frame is None:
                self._fill(deadline)
                continue
            fin, opcode, payload = frame
            if opcode == 0x9:  # ping -> pong with the same payload
                self._send_frame(0xA, payload)
                continue
            if opcode == 0xA:  # pong
                continue
            if opcode == 0x8:  # close: answer it and stop
                try:
                    self._send_frame(0x8, payload[:2])
                except OSError:
                    pass
                self.closed = True
                raise WebSocketClosed("peer sent close")
            if opcode in (0x1, 0x2):
                if self._fragments is not None:
                    raise ConnectionError("WebSocket: new message inside a fragmented one")
                if fin:
                    return payload.decode("utf-8") if opcode == 0x1 else payload.decode("latin-1")
                self._fragments = [payload]
                self._fragment_opcode = opcode
                continue
            if opcode == 0x0:  # continuation
                if self._fragments is None:
                    raise ConnectionError("WebSocket: continuation frame without a start")
                self._fragments.append(payload)
                if fin:
                    data = b"".join(self._fragments)
                    self._fragments = None
                    return data.decode("utf-8") if self._fragment_opcode == 0x1 else data.decode("latin-1")
                continue
            raise ConnectionError(f"WebSocket: unknown opcode {opcode}")

    def close(self):
        if not self.closed:
            try:
                self._send_frame(0x8, struct.pack("!H", 1000))
            except OSError:
                pass
            self.closed = True
        try:
            self.sock.close()
        except OSError:
            pass


# -------------------------------------------------------------------------------------------------
# Chrome DevTools Protocol
# -------------------------------------------------------------------------------------------------


class CDPError(Exception):
    pass


class CDP:
    """Request/response over the WebSocket; events go to on_event while waiting."""

    def __init__(self, ws, on_event):
        self.ws = ws
        self.on_event = on_event
        self.next_id = 0

    def call(self, method, params=None, timeout=CALL_TIMEOUT_S):
        self.next_id += 1
        call_id = self.next_id
        self.ws.send_text(json.dumps({"id": call_id, "method": method, "params": params or {}}))
        deadline = time.monotonic() + timeout
        while True:
            try:
                message = json.loads(self.ws.recv_text(deadline))
            except TimeoutError:
                raise CDPError(f"{method}: no answer within {timeout:.0f} s") from None
            if message.get("id") == call_id:
                if "error" in message:
                    raise CDPError(f"{method}: {message['error'].get('message', message['error'])}")
                return message.get("result", {})
            if "method" in message:
                self.on_event(message["method"], message.get("params", {}))

    def pump(self, seconds):
        """Handles events for `seconds` (a sleep that keeps up with the browser)."""
        deadline = time.monotonic() + seconds
        while True:
            try:
                message = json.loads(self.ws.recv_text(deadline))
            except TimeoutError:
                return
            if "method" in message:
                self.on_event(message["method"], message.get("params", {}))


# -------------------------------------------------------------------------------------------------
# Chromium
# -------------------------------------------------------------------------------------------------


def find_chromium(explicit):
    if explicit:
        path = shutil.which(explicit) or (explicit if os.path.isfile(explicit) else None)
        if not path:
            raise CheckFailed(f"--chromium {explicit}: not found")
        return path
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    raise CheckFailed("no chromium, chromium-browser or google-chrome on PATH (apt-get install -y chromium)")


def http_json(url, method="GET", timeout=5.0):
    # No proxy: DevTools listens on loopback only.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    request = urllib.request.Request(url, method=method)
    with opener.open(request, timeout=timeout) as response:
        return json.loads(response.read().decode("utf-8"))


class Browser:
    def __init__(self, binary, deadline):
        self.profile = tempfile.mkdtemp(prefix="baton-browser-check-")
        self.stderr_path = os.path.join(self.profile, "chromium.log")
        self.stderr_file = open(self.stderr_path, "wb")
        args = [
            binary,
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--remote-debugging-port=0",
            "--remote-debugging-address=127.0.0.1",
            f"--user-data-dir={self.profile}",
            "--no-first-run",
            "--no-default-browser-check",
            "--disable-extensions",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-default-apps",
            "--disable-features=Translate,MediaRouter,OptimizationHints",
            "--no-proxy-server",
            "--password-store=basic",
            "--use-mock-keychain",
            "--mute-audio",
            "--hide-scrollbars",
            "--window-size=1440,1000",
            "about:blank",
        ]
        # Own process group: chromium's helpers (zygote, renderers, GPU) go down with it.
        self.proc = subprocess.Popen(
            args,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=self.stderr_file,
            start_new_session=True,
        )
        self.port = self._read_port(deadline)

    def _read_port(self, deadline):
        path = os.path.join(self.profile, "DevToolsActivePort")
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise CheckFailed(f"chromium exited with code {self.proc.returncode} at launch:\n{self.log_tail()}")
            try:
                with open(path, encoding="utf-8") as f:
                    first = f.readline().strip()
                if first.isdigit():
                    return int(first)
            except FileNotFoundError:
                pass
            time.sleep(0.05)
        raise StepTimeout("launch chromium", f"no DevToolsActivePort in {self.profile}\n{self.log_tail()}")

    def log_tail(self, limit=2000):
        try:
            self.stderr_file.flush()
            with open(self.stderr_path, "rb") as f:
                return f.read()[-limit:].decode("utf-8", "replace")
        except OSError:
            return ""

    def page_websocket_url(self, deadline):
        base = f"http://127.0.0.1:{self.port}"
        while True:
            try:
                targets = http_json(f"{base}/json")
                pages = [t for t in targets if t.get("type") == "page" and t.get("webSocketDebuggerUrl")]
                if pages:
                    return pages[0]["webSocketDebuggerUrl"]
                target = http_json(f"{base}/json/new?about:blank", method="PUT")
                if target.get("webSocketDebuggerUrl"):
                    return target["webSocketDebuggerUrl"]
            except (urllib.error.URLError, OSError, ValueError):
                pass
            if time.monotonic() >= deadline:
                raise StepTimeout("attach to page", f"no page target at {base}/json")
            time.sleep(0.1)

    def close(self):
        """Kills chromium's whole process group and removes the profile."""
        if self.proc.poll() is None:
            for sig, wait in ((signal.SIGTERM, 5), (signal.SIGKILL, 5)):
                try:
                    os.killpg(self.proc.pid, sig)
                except (ProcessLookupError, PermissionError):
                    break
                try:
                    self.proc.wait(timeout=wait)
                    break
                except subprocess.TimeoutExpired:
                    continue
        # Helpers may outlive the main process for a moment: make sure the group is gone.
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            self.stderr_file.close()
        except OSError:
            pass
        shutil.rmtree(self.profile, ignore_errors=True)


# -------------------------------------------------------------------------------------------------
# The check
# -------------------------------------------------------------------------------------------------


class Session:
    def __init__(self, cdp, out_dir, deadline):
        self.cdp = cdp
        self.out_dir = out_dir
        self.deadline = deadline
        self.screenshots = []
        self.errors = []

    # --- error collection ---

    def on_event(self, method, params):
        if method == "Runtime.exceptionThrown":
            d = params.get("exceptionDetails", {})
            exc = d.get("exception") or {}
            text = exc.get("description") or d.get("text") or "exception"
            where = d.get("url") or ""
            if where:
                text += f" ({where}:{d.get('lineNumber', 0) + 1}:{d.get('columnNumber', 0) + 1})"
            self._record("exception", text)
        elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            parts = []
            for arg in params.get("args", []):
                if "value" in arg:
                    parts.append(str(arg["value"]))
                else:
                    parts.append(arg.get("description") or arg.get("type", "?"))
            self._record("console.error", " ".join(parts))
        elif method == "Log.entryAdded":
            entry = params.get("entry", {})
            if entry.get("level") != "error":
                return
            url = entry.get("url") or ""
            text = entry.get("text", "")
            if urllib.parse.urlsplit(url).path.endswith("/favicon.ico"):
                return  # the browser's own favicon request (404, or 401 before sign-in) is not the dashboard's
            self._record(f"log.{entry.get('source', 'other')}", text + (f" ({url})" if url else ""))
        elif method == "Page.javascriptDialogOpening":
            # A dialog would block the page: note it and dismiss it.
            self._record("dialog", f"{params.get('type')}: {params.get('message')}")
            try:
                self.cdp.ws.send_text(json.dumps({"id": 10**9, "method": "Page.handleJavaScriptDialog", "params": {"accept": False}}))
            except OSError:
                pass

    def _record(self, kind, text):
        entry = f"{kind}: {text}"
        self.errors.append(entry)
        log(f"page error -> {entry}")

    # --- page helpers ---

    def evaluate(self, expression, await_promise=False, timeout=CALL_TIMEOUT_S):
        """The value of a JS expression in the page; raises CDPError on a JS exception."""
        result = self.cdp.call(
            "Runtime.evaluate",
            {"expression": expression, "returnByValue": True, "awaitPromise": await_promise, "userGesture": True},
            timeout=timeout,
        )
        if "exceptionDetails" in result:
            d = result["exceptionDetails"]
            raise CDPError((d.get("exception") or {}).get("description") or d.get("text", "exception"))
        return result.get("result", {}).get("value")

    def wait_for(self, step, expression, interval=POLL_S):
        """Evaluates `expression` until it is truthy; returns its value. Deadline: the overall one."""
        last_error = ""
        while True:
            try:
                value = self.evaluate(expression)
                if value:
                    return value
            except CDPError as error:
                # e.g. "Execution context was destroyed" while a navigation commits: try again.
                last_error = str(error)
            if time.monotonic() >= self.deadline:
                raise StepTimeout(step, last_error)
            self.cdp.pump(min(interval, max(0.0, self.deadline - time.monotonic())))

    def navigate(self, step, url):
        result = self.cdp.call("Page.navigate", {"url": url})
        if result.get("errorText"):
            raise CheckFailed(f"{step}: navigation to {url} failed: {result['errorText']}")

    def screenshot(self, name):
        # Chrome may drop a capture requested while a navigation commits: ask once more.
        try:
            data = self.cdp.call("Page.captureScreenshot", {"format": "png"}, timeout=15)["data"]
        except CDPError:
            data = self.cdp.call("Page.captureScreenshot", {"format": "png"}, timeout=15)["data"]
        path = os.path.join(self.out_dir, name)
        with open(path, "wb") as f:
            f.write(base64.b64decode(data))
        self.screenshots.append(path)
        log(f"screenshot {path}")
        return path

    def location_and_text(self):
        try:
            return self.evaluate(
                "({url: location.href, text: (document.body ? document.body.innerText : '').slice(0, 800)})",
                timeout=5,
            ) or {}
        except (CDPError, OSError, WebSocketClosed, TimeoutError):
            return {}


def js(value):
    """A Python value as a JS literal (JSON is valid JS)."""
    return json.dumps(value)


def run_steps(s, args, timings):
    base = args.base.rstrip("/")
    tree_sel = f"'[data-tree-id=\"' + CSS.escape({js(args.tree)}) + '\"]'"
    task_sel = f"'[data-task-id=\"' + CSS.escape({js(args.cancel_task)}) + '\"][data-status]'"
    button_sel = (
        f"'button[data-action=\"cancel\"][data-task-id=\"' + CSS.escape({js(args.cancel_task)}) + '\"]'"
    )

    # 3. Sign in.
    step = "sign in"
    log(step)
    s.navigate(step, f"{base}/dashboard/login")
    s.wait_for(step + ": login form", "!!document.querySelector('form input[name=\"api_key\"]')")
    # The key goes into the field through the expression only; it is never printed.
    s.evaluate(
        "(() => { const input = document.querySelector('input[name=\"api_key\"]');"
        f" input.value = {js(args.api_key)};"
        " const form = input.form;"
        " if (form.requestSubmit) form.requestSubmit(); else form.submit();"
        " return true; })()"
    )
    step = "tree list"
    s.wait_for(
        step + f": /dashboard with a row for tree {args.tree}",
        f"location.pathname === '/dashboard' && !!document.querySelector({tree_sel})",
    )
    s.screenshot("01-trees.png")

    # 4. Tree page: time until every visible (not collapsed away) task has its element.
    step = "tree page"
    log(step)
    s.navigate(step, f"{base}/dashboard/trees/{urllib.parse.quote(args.tree, safe='')}")
    # The dashboard sets data-render-state="ready" and data-rendered-tasks=K after its first
    # render; the moment all K rows exist (performance.now(), ms since navigation) is the load time.
    loaded = s.wait_for(
        step + ": task elements",
        "(() => { const b = document.body; if (!b || b.dataset.page !== 'tree') return null;"
        " const n = document.querySelectorAll('[data-task-id][data-status]').length;"
        " const want = Number(b.dataset.renderedTasks || 0);"
        " if (b.dataset.renderState === 'ready' && n > 0 && n >= want)"
        "   return {count: n, at: performance.now()};"
        " return null; })()",
        interval=0.025,
    )
    timings["tree_page_load"] = round(loaded["at"])
    # Check the page's count against the API: every task outside a collapsed subtree must be there.
    expected = s.evaluate(
        "(async () => {"
        f" const r = await fetch('/v1/trees/' + encodeURIComponent({js(args.tree)}) + '?flat=true',"
        "   {credentials: 'same-origin', headers: {Accept: 'application/json'}});"
        " if (!r.ok) return {error: 'HTTP ' + r.status};"
        " const tree = await r.json(); const tasks = tree.tasks || [];"
        " const ids = new Set(tasks.map(t => t.id)); const kids = new Map();"
        " for (const t of tasks) { const p = t.parent_id && ids.has(t.parent_id) ? t.parent_id : null;"
        "   if (!kids.has(p)) kids.set(p, []); kids.get(p).push(t.id); }"
        f" let visible = 0; const stack = [...(kids.get(null) || [])];"
        " while (stack.length) { const id = stack.pop(); visible++; const k = kids.get(id) || [];"
        f"   if (k.length <= {COLLAPSE_OVER}) stack.push(...k); }}"
        " return {visible, total: tasks.length}; })()",
        await_promise=True,
        timeout=60,
    )
    if not isinstance(expected, dict) or "visible" not in expected:
        raise CheckFailed(f"could not read /v1/trees/{args.tree} from the page: {expected}")
    log(f"tree page: {loaded['count']} task elements after {timings['tree_page_load']} ms; "
        f"API says {expected['visible']} visible of {expected['total']}")
    s.wait_for(
        step + f": {expected['visible']} visible task elements (as the API says)",
        f"document.querySelectorAll('[data-task-id][data-status]').length >= {int(expected['visible'])}",
    )
    s.screenshot("02-tree-start.png")

    # 5. Cancel one task from its row button.
    step = "cancel task"
    log(f"{step} {args.cancel_task}")
    # The task may sit inside a collapsed subtree: after a moment, ask the page to reveal it
    # (the dashboard selects and expands to the task named in #task=<id>).
    reveal_at = time.monotonic() + 3
    while True:
        if s.evaluate(f"!!document.querySelector({button_sel})"):
            break
        if reveal_at and time.monotonic() >= reveal_at:
            s.evaluate(f"location.hash = 'task=' + encodeURIComponent({js(args.cancel_task)}); true")
            reveal_at = None
        if time.monotonic() >= s.deadline:
            raise StepTimeout(step + ": cancel button for the task")
        s.cdp.pump(POLL_S)
    s.evaluate(f"document.querySelector({button_sel}).click(); true")
    s.wait_for(
        step + ": data-status=cancelled",
        f"(document.querySelector({task_sel}) || {{dataset: {{}}}}).dataset.status === 'cancelled'",
    )

    # 6. Live updates: completions arrive without a reload.
    step = "live updates"
    log(f"{step}: waiting for {args.expect_completed} completed tasks")
    s.wait_for(
        step + f": {args.expect_completed} elements with data-status=completed",
        f"document.querySelectorAll('[data-task-id][data-status=\"completed\"]').length >= {int(args.expect_completed)}",
    )
    s.screenshot("03-tree-live.png")

    # 7. Executors page.
    step = "executors page"
    log(step)
    s.navigate(step, f"{base}/dashboard/executors")
    s.wait_for(
        step + ": a table row",
        "location.pathname === '/dashboard/executors' &&"
        " !!document.querySelector('tbody tr[data-executor], tbody tr[data-agent-id]')",
    )
    s.screenshot("04-executors.png")


def main(argv=None):
    parser = argparse.ArgumentParser(description="Headless-browser check of the Baton dashboard.")
    parser.add_argument("--base", required=True, help="gateway base URL, e.g. http://127.0.0.1:8080")
    parser.add_argument("--api-key", required=True, help="API key to sign in with (never printed)")
    parser.add_argument("--tree", required=True, help="tree id to open")
    parser.add_argument("--cancel-task", required=True, help="task id to cancel from its row")
    parser.add_argument("--expect-completed", type=int, required=True, help="completed task elements to wait for")
    parser.add_argument("--out", required=True, help="directory for screenshots")
    parser.add_argument("--chromium", help="chromium binary (default: chromium, chromium-browser, google-chrome)")
    parser.add_argument("--timeout", type=float, default=60.0, help="overall deadline in seconds (default 60)")
    args = parser.parse_args(argv)

    os.makedirs(args.out, exist_ok=True)
    started = time.monotonic()
    deadline = started + args.timeout
    summary = {"ok": False, "screenshots": [], "console_errors": [], "timings_ms": {}}
    timings = summary["timings_ms"]
    browser = None
    session = None
    ws = None

    # A hard stop a little after the deadline, in case a call hangs where no deadline reaches,
    # and SIGTERM/SIGINT: both end up in the finally below, which kills chromium.
    def hard_stop(signum, _frame):
        raise StepTimeout("overall", f"signal {signum}") if signum == signal.SIGALRM else SystemExit(128 + signum)

    signal.signal(signal.SIGALRM, hard_stop)
    signal.signal(signal.SIGTERM, hard_stop)
    signal.alarm(int(args.timeout) + 60)

    try:
        binary = find_chromium(args.chromium)
        log(f"launching {binary}")
        browser = Browser(binary, min(deadline, time.monotonic() + 30))
        ws = WebSocket(browser.page_websocket_url(deadline))
        cdp = CDP(ws, lambda method, params: session.on_event(method, params))
        session = Session(cdp, args.out, deadline)
        for domain in ("Runtime.enable", "Page.enable", "Log.enable"):
            cdp.call(domain)
        cdp.call("Emulation.setDeviceMetricsOverride",
                 {"width": 1440, "height": 1000, "deviceScaleFactor": 1, "mobile": False})
        run_steps(session, args, timings)
        cdp.pump(0.3)  # errors logged right after the last step still count
        summary["ok"] = not session.errors
        if session.errors:
            summary["error"] = f"{len(session.errors)} console error(s) or exception(s) on the pages"
    except StepTimeout as error:
        summary["error"] = str(error)
        summary["failed_step"] = error.step
        log(f"TIMEOUT at step '{error.step}' after {time.monotonic() - started:.1f} s")
        if session is not None:
            state = session.location_and_text()
            log(f"page URL: {state.get('url', '?')}")
            log("page text: " + (state.get("text") or "").replace("\n", " | ")[:800])
            try:
                session.screenshot("failure.png")
            except Exception as shot_error:  # noqa: BLE001 - a failed screenshot must not hide the timeout
                log(f"could not save failure.png: {shot_error}")
    except Exception as error:  # noqa: BLE001 - any failure still gets a summary and cleanup
        summary["error"] = f"{type(error).__name__}: {error}"
        log(summary["error"])
        if session is not None:
            state = session.location_and_text()
            if state:
                log(f"page URL: {state.get('url', '?')}")
                log("page text: " + (state.get("text") or "").replace("\n", " | ")[:800])
            try:
                session.screenshot("failure.png")
            except Exception:  # noqa: BLE001
                pass
    finally:
        signal.alarm(0)
        if ws is not None:
            ws.close()
        if browser is not None:
            browser.close()
        if session is not None:
            summary["screenshots"] = session.screenshots
            summary["console_errors"] = session.errors
        print(json.dumps(summary), flush=True)
    return 0 if summary["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
