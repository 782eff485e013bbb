#!/usr/bin/env python3
"""The page's headless test: serves examples/web/www (built by serve.sh
--build-only), opens it in headless Chromium (WebGPU on SwiftShader) through
chromedriver's WebDriver API, waits for the page to finish ?steps=N, and
checks from the page's own output (#result, body[data-state]) that both
losses fell. With --screenshot PATH it saves the page as PNG; with
--no-webgpu (Chromium started without the WebGPU flags: no adapter) it
checks the page's message where there is no WebGPU instead.
Standard library only."""

import argparse, base64, functools, http.server, json, os, socket, subprocess
import sys, tempfile, threading, time, urllib.request

WWW = os.path.join(os.path.dirname(os.path.abspath(__file__)), "www")
CHROME_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage", "--window-size=900,720",
]
WEBGPU_ARGS = ["--enable-unsafe-webgpu", "--use-webgpu-adapter=swiftshader"]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def call(base, method, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(base + path, data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=120) as r:
        return json.loads(r.read())["value"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--timeout", type=float, default=300)
    ap.add_argument("--screenshot")
    ap.add_argument("--no-webgpu", action="store_true")
    ap.add_argument("--chromedriver", default=os.environ.get("CHROMEDRIVER", "chromedriver"))
    ap.add_argument("--chromium", default=os.environ.get("CHROMIUM", "/usr/bin/chromium"))
    a = ap.parse_args()

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    handler = functools.partial(Quiet, directory=WWW)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    page = f"http://127.0.0.1:{server.server_address[1]}/index.html?steps={a.steps}"

    port = free_port()
    driver = subprocess.Popen([a.chromedriver, f"--port={port}"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    profile = tempfile.mkdtemp(prefix="fadam-web-")
    session = None
    try:
        for _ in range(100):
            try:
                if call(base, "GET", "/status")["ready"]:
                    break
            except OSError:
                pass
            time.sleep(0.1)
        args = CHROME_ARGS + ([] if a.no_webgpu else WEBGPU_ARGS)
        caps = {"capabilities": {"alwaysMatch": {"browserName": "chrome", "goog:chromeOptions": {
            "binary": a.chromium, "args": args + [f"--user-data-dir={profile}"]}}}}
        session = call(base, "POST", "/session", caps)["sessionId"]
        s = f"/session/{session}"
        call(base, "POST", s + "/url", {"url": page})
        probe = {"script": "return [document.body.dataset.state,"
                 " document.getElementById('status').textContent,"
                 " document.getElementById('result').textContent]", "args": []}
        deadline = time.time() + a.timeout
        while True:
            state, status, result = call(base, "POST", s + "/execute/sync", probe)
            if state not in ("loading", None) or time.time() > deadline:
                break
            time.sleep(0.5)
        if a.screenshot:
            png = base64.b64decode(call(base, "GET", s + "/screenshot"))
            with open(a.screenshot, "wb") as f:
                f.write(png)
        print(f"page state: {state}; status: {status}")
        if a.no_webgpu:
            assert state == "no-webgpu" and "has no WebGPU" in status, (state, status)
            print("OK: the page says the browser has no WebGPU")
            return
        assert state == "done", f"page did not finish: {state}: {status}"
        out = json.loads(result)
        print(json.dumps(out))
        assert out["steps"] == a.steps and out["adapter"], out
        for name in ("FAdam", "Adam"):
            run = out["runs"][name]
            assert run["last_loss"] < 0.5 * run["first_loss"], (name, run)
        print(f"OK: both losses fell on {out['adapter']}")
    finally:
        if session:
            try:
                call(base, "DELETE", f"/session/{session}")
            except OSError:
                pass
        driver.terminate()
        driver.wait(10)
        server.shutdown()


if __name__ == "__main__":
    sys.exit(main())
