"""The report of a small digits run, opened in a real browser (headless Chromium).

Chromium loads ``report.html`` from disk, as a user would, and the test checks that every image
of the page loaded (a copy of the page with a small script appended reports each ``<img>``'s
``naturalWidth`` after the load event; the report itself has no script) and that a screenshot
of the page is not blank. A planted broken image shows the check can fail.

Skips only when Chromium is absent and ``HELDOUT_REQUIRE_BROWSER`` is unset; ``.ci/run``
installs Chromium and sets it, so CI never skips silently. Set ``HELDOUT_SCREENSHOT_DIR`` to
keep the screenshot.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from heldout_core import plugins
from heldout_core.cli import main

from conftest import requires_sklearn, requires_tf

REQUIRE = "HELDOUT_REQUIRE_BROWSER"
NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
WINDOW = (1280, 6400)  # tall enough for the whole page of a digits report
CHECK = """<script>
window.addEventListener("load", function () {
  var broken = [], images = document.images;
  for (var i = 0; i < images.length; i++) {
    if (!images[i].complete || images[i].naturalWidth === 0) broken.push(images[i].getAttribute("src"));
  }
  var out = document.createElement("pre");
  out.id = "image-check";
  out.textContent = JSON.stringify({total: images.length, broken: broken});
  document.body.appendChild(out);
});
</script>
"""

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def chromium() -> str:
    found = next((path for path in map(shutil.which, NAMES) if path), None)
    if found is None:
        if os.environ.get(REQUIRE):
            pytest.fail(f"{REQUIRE} is set but no Chromium was found ({', '.join(NAMES)}); apt-get install -y chromium")
        pytest.skip(f"needs Chromium (apt-get install -y chromium); set {REQUIRE}=1 to make its absence a failure")
    return found


def run_chromium(chromium: str, profile: Path, *args: str) -> subprocess.CompletedProcess:
    """Headless Chromium on local files only: no sandbox (CI runs as root), no GPU, nothing
    fetched in the background, a fresh profile."""
    command = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
               "--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars",
               f"--user-data-dir={profile}", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=180, check=False)


def image_check(chromium: str, report: Path, tmp_path: Path) -> dict:
    """``{"total": n, "broken": [src...]}`` for the page at ``report``, from a copy of its folder
    whose page reports its images after the load event."""
    folder = tmp_path / "check"
    shutil.copytree(report.parent, folder)
    page = folder / report.name
    page.write_text(page.read_text().replace("</body>", CHECK + "</body>"))
    done = run_chromium(chromium, tmp_path / "profile-check", "--virtual-time-budget=20000", "--dump-dom",
                        page.as_uri())
    found = re.search(r'<pre id="image-check">(.*?)</pre>', done.stdout)
    assert found, f"Chromium printed no image check (exit {done.returncode}): {done.stderr[-2000:]}"
    return json.loads(found.group(1).replace("&quot;", '"'))


@pytest.fixture(scope="module")
def digits_report(tmp_path_factory) -> Path:
    """``heldout report`` of 16 digits runs with flipped labels (about 10 s of training)."""
    root = tmp_path_factory.mktemp("digits")
    plugins.reset_registry()
    try:
        assert main(["train", "digits", "--out", str(root / "runs"), "--runs", "16", "--epochs", "20",
                     "-o", "label_noise=0.05", "-o", "jit=false"]) == 0
        assert main(["report", str(root / "runs" / "digits"), "--out", str(root / "report")]) == 0
    finally:
        plugins.reset_registry()
    return root / "report" / "report.html"


@requires_tf
@requires_sklearn
def test_digits_report_loads_every_image_and_is_not_blank(chromium, digits_report, tmp_path):
    text = digits_report.read_text()
    assert "<script" not in text
    n_images = text.count("<img ")
    assert n_images == 7  # with labels and 16 runs, every figure is there
    assert "Images:" not in text  # digits has pictures

    check = image_check(chromium, digits_report, tmp_path)
    assert check == {"total": n_images, "broken": []}

    shot = tmp_path / "report.png"
    done = run_chromium(chromium, tmp_path / "profile-shot", f"--window-size={WINDOW[0]},{WINDOW[1]}",
                        f"--screenshot={shot}", digits_report.as_uri())
    assert shot.is_file(), f"no screenshot (exit {done.returncode}): {done.stderr[-2000:]}"
    if os.environ.get("HELDOUT_SCREENSHOT_DIR"):
        shutil.copy(shot, Path(os.environ["HELDOUT_SCREENSHOT_DIR"]) / "report-screenshot.png")
    from matplotlib.image import imread

    pixels = imread(shot)[..., :3]
    assert pixels.shape[:2] == (WINDOW[1], WINDOW[0])
    ink = (pixels < 0.85).any(axis=-1)  # anything clearly darker than the white page
    assert ink.mean() > 0.05, f"the screenshot is almost blank ({ink.mean():.1%} ink)"
    # ink in every band of the page's first 5,000 pixels, not just a title: figures all the way down
    bands = ink[:5000].reshape(10, -1, WINDOW[0]).mean(axis=(1, 2))
    assert (bands > 0.01).all(), f"blank bands in the screenshot: {np.round(bands, 3)}"
    assert len(np.unique((pixels[::7, ::7] * 255).astype(np.uint8).reshape(-1, 3), axis=0)) > 100


def test_the_image_check_finds_a_broken_image(chromium, tmp_path):
    report = tmp_path / "page" / "report.html"
    report.parent.mkdir()
    from matplotlib.figure import Figure

    figure = Figure(figsize=(2, 2))
    figure.add_subplot().plot([0, 1])
    figure.savefig(report.parent / "present.png")
    report.write_text('<!DOCTYPE html><html><body><img src="present.png" alt="a line">'
                      '<img src="absent.png" alt="nothing"></body></html>')
    assert image_check(chromium, report, tmp_path) == {"total": 2, "broken": ["absent.png"]}
