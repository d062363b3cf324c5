"""Regenerate docs/pipeline*.png: screenshots of the real `kedro viz`, one per pipeline.

    .venv/bin/python scripts/screenshot_pipelines.py

Needs Debian's Chromium (`apt-get install -y chromium`, used as /usr/bin/chromium or $CHROMIUM)
and the project's venv (kedro-viz, requests, websocket-client, Pillow; nothing else, no browser
download; no data needed). It starts `kedro viz run` on 127.0.0.1:4141 (which must be free),
drives headless Chromium through the DevTools protocol, writes docs/pipeline.png (the
__default__ pipeline, by layer) and docs/pipeline_<name>.png for each pipeline, then stops both
processes by their PID. Each viewport is sized so that kedro-viz's own fit-to-screen gives the
graph a set zoom (ZOOM), and the screenshot is cropped to the layer names and the graph.

kedro-viz keeps its UI state in localStorage under "KedroViz"; it is set before the app loads so
that no feature-hint tour shows and the sidebar, minimap and metadata panel are closed. The
"Kedro-Viz x is here!" update banner (shown because the version check cannot reach PyPI) is
dismissed with its own button and, like any overlay left, hidden by CSS.
"""

from __future__ import annotations

import base64
import io
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests
import websocket
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
VIZ_PORT = 4141
CDP_PORT = 9333
VIZ = f"http://127.0.0.1:{VIZ_PORT}"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
SCALE = 2  # deviceScaleFactor: every CSS pixel is 2x2 pixels in the PNG
# graph zoom to aim at (node labels are 14 px at 100 %); the overview's graph is tall, so smaller
ZOOM = {"__default__": 0.3}  # every single pipeline: DEFAULT_ZOOM
DEFAULT_ZOOM = 0.85
MAX_SIDE = 5000  # CSS px of the viewport, times SCALE in the picture
GAP = 40  # CSS px between the layer names and the graph
PAD = 16  # CSS px kept around the graph when cropping
UI_STATE = {  # what kedro-viz saves in localStorage["KedroViz"]
    "showFeatureHints": False,
    "featureHintStep": 0,
    "theme": "light",
    "textLabels": True,
    "orientation": "vertical",
    "expandAllPipelines": False,
    "layer": {"visible": True},
    "visible": {
        "code": False,
        "exportModal": False,
        "graph": True,
        "metadataModal": False,
        "miniMap": False,
        "settingsModal": False,
        "shareableUrlModal": False,
        "sidebar": False,
        "slicing": True,
        "traceback": False,
    },
}
HIDE_CSS = (
    ".feature-hints, .feature-hints__highlight, .update-reminder-unexpanded, .update-reminder,"
    " .pipeline-settings-modal, .pipeline-export-modal, .pipeline-metadata-modal, .modal,"
    " .banner, .pipeline-metadata, .pipeline-minimap-toolbar, .pipeline-minimap"
    " { display: none !important; }"
)


class Page:
    """The smallest Chrome DevTools Protocol client: one page, commands in order."""

    def __init__(self, ws_url: str):
        self.ws = websocket.create_connection(ws_url, timeout=60, suppress_origin=True)
        self.next_id = 0

    def send(self, method: str, **params):
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv())
            if msg.get("id") == self.next_id:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get("result", {})

    def js(self, expression: str):
        result = self.send(
            "Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True
        )
        return result.get("result", {}).get("value")


def answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=3).ok
    except requests.RequestException:
        return False


def wait_http(url: str, seconds: float, proc: subprocess.Popen) -> None:
    end = time.time() + seconds
    while time.time() < end and proc.poll() is None:
        if answers(url):
            return
        time.sleep(1)
    raise RuntimeError(f"{url} did not answer (process exit code {proc.poll()})")


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)  # own session: the group id is the pid
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


MEASURE = """(() => {
  const box = els => { const b = [1e9, 1e9, -1e9, -1e9];
    for (const e of els) { const r = e.getBoundingClientRect();
      b[0] = Math.min(b[0], r.left); b[1] = Math.min(b[1], r.top);
      b[2] = Math.max(b[2], r.right); b[3] = Math.max(b[3], r.bottom); }
    return b; };
  const nodes = document.querySelectorAll('.pipeline-node');
  return {nodes: box(nodes), layers: box(document.querySelectorAll('.pipeline-layer-name')),
          edges: box(document.querySelectorAll('.pipeline-edge')),
          count: nodes.length, zoom: nodes.length ? nodes[0].getCTM().a : 0};
})()"""


def render(page: Page, pipeline: str, width: int, height: int) -> dict:
    """Open the pipeline in a width x height viewport, fitted by kedro-viz, with no overlay."""
    page.send(
        "Emulation.setDeviceMetricsOverride",
        width=width,
        height=height,
        deviceScaleFactor=SCALE,
        mobile=False,
    )
    page.send("Page.navigate", url=f"{VIZ}/?pid={pipeline}")
    last = None
    for _ in range(120):  # until the graph is drawn and has stopped moving (zoom transition)
        time.sleep(0.5)
        m = page.js(MEASURE) if page.js("document.readyState") == "complete" else None
        if m and m["count"] and m == last:
            break
        last = m
    else:
        raise TimeoutError(f"no graph for {pipeline}")
    page.js("""(() => {
      for (const b of document.querySelectorAll('.update-reminder-unexpanded button'))
        if (b.textContent.trim() === 'Dismiss') b.click(); })()""")
    page.js(f"""(() => {{ const s = document.createElement('style');
                s.textContent = {json.dumps(HIDE_CSS)}; document.head.appendChild(s); }})()""")
    time.sleep(0.5)
    return page.js(MEASURE)


def shoot(page: Page, pipeline: str, out: Path) -> None:
    width, height = 1200, 1200
    m = render(page, pipeline, width, height)
    chart_left = m["layers"][0] - 20  # kedro-viz puts the layer names 20 px right of the chart edge
    for _ in range(6):  # size the viewport so that the fitted graph gets the wanted zoom and
        f = ZOOM.get(pipeline, DEFAULT_ZOOM) / m["zoom"]  # sits GAP px right of the layer names
        if abs(f - 1) < 0.05:  # a large graph needs more than one resize to get there
            break
        graph_h = m["nodes"][3] - m["nodes"][1]
        graph_w = m["nodes"][2] - m["nodes"][0]
        height = round(height * f) if graph_h * f > 200 else height
        width = max(400, round(2 * (m["layers"][2] + GAP) + graph_w * f - chart_left))
        # Chromium cannot capture much more than 16k device pixels a side
        height, width = min(height, MAX_SIDE), min(width, MAX_SIDE)
        m = render(page, pipeline, width, height)
    boxes = [m["nodes"], m["layers"], m["edges"]]
    box = [
        min(b[0] for b in boxes) - PAD,
        min(b[1] for b in boxes) - PAD,
        max(b[2] for b in boxes) + PAD,
        max(b[3] for b in boxes) + PAD,
    ]
    box = [max(0, box[0]), max(0, box[1]), min(width, box[2]), min(height, box[3])]
    shot = page.send("Page.captureScreenshot", format="png")
    img = Image.open(io.BytesIO(base64.b64decode(shot["data"]))).convert("RGB")
    img = img.crop(tuple(round(v * SCALE) for v in box))
    img = img.quantize(colors=64, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    img.save(out, optimize=True)
    print(
        f"{out.relative_to(ROOT)}: {img.width}x{img.height} px, zoom {m['zoom']:.2f}, "
        f"{out.stat().st_size // 1024} KB"
    )


def main() -> int:
    if answers(f"{VIZ}/api/main"):
        sys.exit(f"port {VIZ_PORT} is taken: stop the kedro viz running there first")
    env = dict(os.environ, KEDRO_DISABLE_TELEMETRY="true")
    kedro = str(Path(sys.executable).with_name("kedro"))
    viz = subprocess.Popen(
        [kedro, "viz", "run", "--host", "127.0.0.1", "--port", str(VIZ_PORT), "--no-browser"],
        cwd=ROOT,
        env=env,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    profile = tempfile.TemporaryDirectory(prefix="viz-chromium-")
    chrome = None
    try:
        wait_http(f"{VIZ}/api/main", 300, viz)
        chrome = subprocess.Popen(
            [
                CHROMIUM,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--hide-scrollbars",
                f"--user-data-dir={profile.name}",
                f"--remote-debugging-port={CDP_PORT}",
                "about:blank",
            ],
            start_new_session=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_http(f"http://127.0.0.1:{CDP_PORT}/json/version", 60, chrome)
        target = next(
            t
            for t in requests.get(f"http://127.0.0.1:{CDP_PORT}/json/list").json()
            if t["type"] == "page"
        )
        page = Page(target["webSocketDebuggerUrl"])
        page.send("Page.enable")
        page.send(
            "Page.addScriptToEvaluateOnNewDocument",
            source=(
                f"localStorage.setItem('KedroViz', {json.dumps(json.dumps(UI_STATE))});"
                "localStorage.setItem('KedroViz-feedback-seen', '{\"slicing-pipeline\": false}');"
            ),
        )
        DOCS.mkdir(exist_ok=True)
        shoot(page, "__default__", DOCS / "pipeline.png")
        names = [p["id"] for p in requests.get(f"{VIZ}/api/main", timeout=30).json()["pipelines"]]
        for name in (n for n in names if n != "__default__"):  # every registered pipeline
            shoot(page, name, DOCS / f"pipeline_{name}.png")
        page.ws.close()
    finally:
        if chrome is not None:
            stop(chrome)
        stop(viz)
        profile.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
