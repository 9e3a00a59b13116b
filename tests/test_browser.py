"""Reports rendered in a real browser (headless Chromium): every image loads, the tables are
there. CI installs Chromium (.ci/run); elsewhere the test runs wherever one is found."""

from __future__ import annotations

import html
import json
import os
import random
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from critiquelab.experiments.runner import make_context, run_experiment
from critiquelab.experiments.spec import CellResult, Experiment

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "chrome")
BROWSER = next((b for b in map(shutil.which, BROWSERS) if b), None)
# Skipped only off CI: on CI (.ci/run installs Chromium) a missing browser fails the test.
pytestmark = pytest.mark.skipif(BROWSER is None and not os.environ.get("CI"),
                                reason=f"no Chromium on PATH (looked for {', '.join(BROWSERS)})")

# Runs on the load event, before Chromium dumps the DOM: what loaded, and what is there.
PROBE = """<script>window.addEventListener("load", () => {
  const imgs = [...document.images];
  document.body.setAttribute("data-probe", JSON.stringify({
    images: imgs.length,
    broken: imgs.filter(i => !(i.complete && i.naturalWidth > 0))
      .map(i => i.alt || i.src.slice(0, 40)),
    tables: document.querySelectorAll("table").length,
    rows: document.querySelectorAll("table tr").length}));
});</script>"""


def render(page: Path, tmp_path: Path) -> dict:
    """The probe's findings for `page` as Chromium rendered it."""
    probed = page.with_name(f"probed-{page.name}")
    probed.write_text(page.read_text(encoding="utf-8").replace("</body>", PROBE + "</body>"),
                      encoding="utf-8")
    assert BROWSER, f"CI needs Chromium on PATH (looked for {', '.join(BROWSERS)})"
    r = subprocess.run([BROWSER, "--headless", "--no-sandbox", "--disable-gpu",
                        f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=5000",
                        "--dump-dom", probed.as_uri()], capture_output=True, text=True,
                       timeout=120)
    found = re.search(r'data-probe="([^"]*)"', r.stdout)
    assert found, f"no probe result; chromium said: {r.stderr[-500:]}"
    return json.loads(html.unescape(found.group(1)))


class Toy(Experiment):
    """Two arms, two metrics, a loss curve: every part of a report, no training."""

    name, title, question = "toy", "Toy", "Does the report render?"
    arms, metrics, splits, baseline = ("a", "b"), ("acc", "fmt"), ("id", "ood"), "a"
    presets = {"smoke": {}}

    def setup(self, ctx):
        return None

    def run_cell(self, ctx, state, arm, seed):
        rng = random.Random(f"{arm}{seed}")
        scores = {m: {sp: [float(rng.random() < 0.5) for _ in range(30)] for sp in self.splits}
                  for m in self.metrics}
        return CellResult(scores, {"steps": 4.0, "tokens": 100.0},
                          {sp: [i % 3 + 1 for i in range(30)] for sp in self.splits},
                          {"train_loss": [[1, 2.0], [2, 1.5], [3, 1.2]]})


def test_run_report_renders_with_every_image_and_table(tmp_path):
    exp = Toy()
    run_experiment(exp, make_context(exp, "smoke", 2, tmp_path / "run", tmp_path / "cache",
                                     progress=False))
    probe = render(tmp_path / "run" / "report.html", tmp_path)
    assert probe["images"] >= 3 and probe["broken"] == []
    assert probe["tables"] >= 2 and probe["rows"] > probe["tables"]


def test_claims_report_renders_with_every_image_and_table(tmp_path):
    from critiquelab.claims import CLAIMS, Run, assess
    from critiquelab.claims.render import write_claims

    def results(claim) -> dict:
        comps = [{"arm": c.arm, "baseline": c.baseline, "metric": c.metric, "split": c.split,
                  "mean": 0.05, "ci95": [0.01, 0.09], "p": 0.01, "p_holm": 0.02, "mde": 0.05,
                  "verdict": "ok", "reason": None} for c in claim.checks]
        arms = {a for c in claim.checks for a in (c.arm, c.baseline)}
        return {"comparisons": comps, "seeds": [0, 1, 2], "commit": None, "bases": 1,
                "validity": {a: {"metric": "solve_accuracy", "value": 0.4, "reference": 0.3,
                                 "passed": True} for a in arms},
                "trivial": {}, "floors": []}

    runs = {c.experiment: [Run(c.experiment, "tiny-s", "default", results(c))] for c in CLAIMS}
    page = write_claims(assess(runs, "default", ["tiny-s"]), tmp_path / "claims")
    probe = render(page, tmp_path)
    assert probe["images"] >= 1 and probe["broken"] == []
    assert probe["tables"] >= 1 and probe["rows"] > len(CLAIMS)
