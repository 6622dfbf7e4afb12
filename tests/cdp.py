"""A minimal Chrome DevTools Protocol client over ``--remote-debugging-pipe`` (no dependency beyond
the standard library), for tests/test_docs.py: open a page in headless Chromium, wait for its load
event, evaluate JavaScript in it, and collect its console errors, uncaught exceptions and failed
loads."""
import json
import os
import queue
import subprocess
import tempfile
import threading
import time
from typing import List, Optional

# The flags a headless Chromium needs on a machine without a network, a display or a session bus.
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-default-apps", "--disable-extensions", "--mute-audio", "--hide-scrollbars",
         "--window-size=1280,900", "--allow-file-access-from-files"]


class Browser:
    """``with Browser(path) as b: page = b.open(url)``."""

    def __init__(self, chromium: str, timeout: float = 60.0):
        self.timeout = timeout
        self._profile = tempfile.TemporaryDirectory(prefix="cdp-profile-")
        to_chrome_r, self._to_chrome = os.pipe()
        self._from_chrome, from_chrome_w = os.pipe()

        def wire():  # the child reads commands on fd 3 and writes replies on fd 4
            os.dup2(to_chrome_r, 3)
            os.dup2(from_chrome_w, 4)

        self.proc = subprocess.Popen(
            [chromium, *FLAGS, "--remote-debugging-pipe", f"--user-data-dir={self._profile.name}", "about:blank"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            preexec_fn=wire, pass_fds=(3, 4), close_fds=True)
        os.close(to_chrome_r)
        os.close(from_chrome_w)
        self._next_id = 0
        self._replies: "queue.Queue[dict]" = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self):
        buf = b""
        while True:
            chunk = os.read(self._from_chrome, 1 << 16)
            if not chunk:
                self._replies.put({"closed": True})
                return
            buf += chunk
            while b"\0" in buf:
                msg, buf = buf.split(b"\0", 1)
                self._replies.put(json.loads(msg))

    def send(self, method: str, params: Optional[dict] = None, session: Optional[str] = None,
             events: Optional[List[dict]] = None) -> dict:
        """Send a command and wait for its reply; events that arrive meanwhile go to ``events``."""
        self._next_id += 1
        msg = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(self._to_chrome, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + self.timeout
        while True:
            reply = self._replies.get(timeout=max(deadline - time.monotonic(), 0.01))
            if reply.get("closed"):
                raise RuntimeError("chromium closed the pipe")
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            if events is not None and "method" in reply:
                events.append(reply)

    def wait_event(self, name: str, events: List[dict]) -> dict:
        for e in events:
            if e["method"] == name:
                return e
        deadline = time.monotonic() + self.timeout
        while True:
            reply = self._replies.get(timeout=max(deadline - time.monotonic(), 0.01))
            if reply.get("closed"):
                raise RuntimeError("chromium closed the pipe")
            if "method" in reply:
                events.append(reply)
                if reply["method"] == name:
                    return reply

    def drain(self, events: List[dict], seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            try:
                reply = self._replies.get(timeout=max(end - time.monotonic(), 0.01))
            except queue.Empty:
                return
            if "method" in reply:
                events.append(reply)

    def open(self, url: str, screenshot: Optional[str] = None) -> dict:
        """Load ``url``; return its title, its images (``src``, ``complete``, ``naturalWidth``),
        its main heading and the errors: console errors, uncaught exceptions, failed loads."""
        events: List[dict] = []
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Page", "Runtime", "Log", "Network"):
            self.send(f"{domain}.enable", session=session, events=events)
        self.send("Page.navigate", {"url": url}, session=session, events=events)
        self.wait_event("Page.loadEventFired", events)
        self.drain(events, 1.0)  # late errors (deferred scripts, lazy images)
        state = self.send("Runtime.evaluate", {"returnByValue": True, "awaitPromise": True, "expression": """
            (async () => {
              const imgs = Array.from(document.images);
              imgs.forEach(i => { i.loading = "eager"; });
              await Promise.all(imgs.map(i => i.complete ? null : new Promise(r => { i.onload = i.onerror = r; })));
              return {title: document.title,
                      h1: (document.querySelector("h1") || {}).textContent || "",
                      images: imgs.map(i => ({src: i.src, complete: i.complete, naturalWidth: i.naturalWidth}))};
            })()"""}, session=session, events=events)["result"]["value"]
        if screenshot:
            import base64
            shot = self.send("Page.captureScreenshot", {"format": "png"}, session=session, events=events)
            with open(screenshot, "wb") as f:
                f.write(base64.b64decode(shot["data"]))
        errors = []
        for e in events:
            p = e.get("params", {})
            if e["method"] == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
                errors.append("console: " + " ".join(str(a.get("value", a.get("description", ""))) for a in p["args"]))
            elif e["method"] == "Runtime.exceptionThrown":
                errors.append("exception: " + p["exceptionDetails"].get("text", "") + " "
                              + str(p["exceptionDetails"].get("exception", {}).get("description", "")))
            elif e["method"] == "Log.entryAdded" and p["entry"]["level"] == "error":
                errors.append(f"log ({p['entry'].get('source')}): {p['entry']['text']} {p['entry'].get('url', '')}")
            elif e["method"] == "Network.loadingFailed" and not p.get("canceled"):
                errors.append(f"load failed: {p.get('errorText')} ({p.get('type')})")
        self.send("Target.closeTarget", {"targetId": target})
        state["errors"] = errors
        return state

    def close(self):
        try:
            self.send("Browser.close")
        except Exception:
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self._to_chrome)
        os.close(self._from_chrome)
        self._profile.cleanup()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
