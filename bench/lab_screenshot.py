"""Open the lab's HTML report in a real browser (headless Chromium) and check that every figure renders.

    python bench/lab_screenshot.py lab-report/report.html [--screenshot shot.png] [--expect N]

Chromium comes from the distribution (``apt-get install -y chromium``). The
script

1. takes a screenshot of the report (``--screenshot``, 1200×4000 pixels);
2. opens a copy of the report with a small inline script that, once the page
   has loaded, writes on ``<body>`` how many ``<img>`` elements there are and
   how many of them decoded (``complete`` and ``naturalWidth > 0``), and dumps
   the DOM (``--dump-dom``);
3. compares the number of loaded images with the number of experiments in
   the report's summary table (or ``--expect``).

It prints one line per check and exits 0 when every image loaded, 1 otherwise
(2 when Chromium is missing).
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile

PROBE = """<script>
window.addEventListener('load', function () {
  var imgs = Array.prototype.slice.call(document.images);
  var ok = imgs.filter(function (i) { return i.complete && i.naturalWidth > 0; });
  document.body.setAttribute('data-images', String(imgs.length));
  document.body.setAttribute('data-loaded', String(ok.length));
  document.body.setAttribute('data-sizes',
    ok.map(function (i) { return i.naturalWidth + 'x' + i.naturalHeight; }).join(' '));
});
</script>"""

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars"]


def find_chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


def run(browser, args, profile, timeout=180):
    cmd = [browser, *FLAGS, f"--user-data-dir={profile}", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("report", help="the lab's report.html")
    ap.add_argument("--screenshot", default=None, help="where to write the PNG screenshot (default: next to the report)")
    ap.add_argument("--expect", type=int, default=None, help="expected number of figures (default: rows of the summary)")
    args = ap.parse_args(argv)
    report = os.path.abspath(args.report)
    if not os.path.isfile(report):
        print(f"lab_screenshot: no such report {report}", file=sys.stderr)
        return 2
    browser = find_chromium()
    if browser is None:
        print("lab_screenshot: Chromium is not installed (apt-get install -y chromium)", file=sys.stderr)
        return 2
    html = open(report, encoding="utf-8").read()
    expected = args.expect if args.expect is not None else len(re.findall(r'<td><a href="#[^"]+">', html))
    shot = os.path.abspath(args.screenshot or os.path.join(os.path.dirname(report), "report_screenshot.png"))
    version = subprocess.run([browser, "--version"], capture_output=True, text=True).stdout.strip()
    with tempfile.TemporaryDirectory() as tmp:
        r = run(browser, [f"--screenshot={shot}", "--window-size=1200,4000", "--virtual-time-budget=10000",
                          "file://" + report], os.path.join(tmp, "profile1"))
        shot_ok = os.path.isfile(shot) and os.path.getsize(shot) > 0
        probe = os.path.join(tmp, "probe.html")
        with open(probe, "w", encoding="utf-8") as f:
            f.write(html.replace("</body>", PROBE + "</body>"))
        r = run(browser, ["--dump-dom", "--virtual-time-budget=10000", "file://" + probe], os.path.join(tmp, "profile2"))
    body = re.search(r"<body[^>]*>", r.stdout)
    attrs = dict(re.findall(r'data-(images|loaded|sizes)="([^"]*)"', body.group(0))) if body else {}
    images, loaded = int(attrs.get("images", -1)), int(attrs.get("loaded", -1))
    print(f"browser: {version}")
    print(f"report: {report}")
    print(f"screenshot: {shot} ({'written' if shot_ok else 'MISSING'})")
    print(f"experiments in the summary table: {expected}")
    print(f"<img> elements: {images}; loaded and decoded in the browser: {loaded}")
    if attrs.get("sizes"):
        print(f"natural sizes: {attrs['sizes']}")
    ok = shot_ok and images == loaded == expected and expected > 0
    print("OK: every figure renders" if ok else "FAILED: some figures did not render (or the counts differ)")
    if not body:
        print(r.stderr[-2000:], file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
