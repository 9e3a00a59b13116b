"""claims.json from experiments' results: every claim measured at every model size run."""

from __future__ import annotations

from dataclasses import dataclass

from critiquelab.claims.catalog import CLAIMS, Claim
from critiquelab.claims.verdict import RULE, WITHHELD, combine, judge_check


@dataclass
class Run:
    """One experiment run at one size: its results, or why there are none."""

    experiment: str
    size: str
    preset: str
    results: dict | None = None
    missing: str | None = None  # why results is None


def measure(claim: Claim, run: Run) -> dict:
    """The claim's checks and verdict on one run."""
    out = {"size": run.size, "preset": run.preset}
    if run.results is None:
        reason = run.missing or f"{run.experiment} not run"
        checks = [{"arm": t.arm, "baseline": t.baseline, "metric": t.metric, "split": t.split,
                  "direction": t.direction, "published": t.published, "mean": None,
                  "ci95": None, "verdict": WITHHELD, "reason": reason} for t in claim.checks]
        return {**out, "seeds": None, "bases": None, "commit": None, "checks": checks,
                "verdict": WITHHELD, "reason": reason}
    res = run.results
    checks = [judge_check(res, t) for t in claim.checks]
    verdict, reason = combine(checks)
    return {**out, "seeds": len(res.get("seeds", [])), "bases": res.get("bases"),
            "commit": res.get("commit"), "checks": checks, "verdict": verdict, "reason": reason}


def assess_claim(claim: Claim, runs: list[Run]) -> dict:
    """A claim with one measurement per size; the headline is the largest size (the last)."""
    measurements = [measure(claim, r) for r in runs]
    head = measurements[-1]
    primary = head["checks"][0]
    return {"id": claim.id, "title": claim.title, "source": claim.source,
            "published": claim.published, "experiment": claim.experiment,
            "size": head["size"], "verdict": head["verdict"], "reason": head["reason"],
            "measured": {"mean": primary["mean"], "ci95": primary["ci95"],
                         "check": f"{primary['arm']} - {primary['baseline']}, "
                                 f"{primary['metric']} on {primary['split']}"},
            "measurements": measurements}


def assess(runs: dict[str, list[Run]], preset: str, sizes: list[str] | None = None) -> dict:
    """claims.json: every claim against the runs of its experiment, one per size asked for
    (sizes empty: each experiment at its preset's own model)."""
    claims = [assess_claim(c, runs.get(c.experiment) or [Run(c.experiment, "-", preset)])
              for c in CLAIMS]
    commits = sorted({m["commit"] for c in claims for m in c["measurements"] if m["commit"]})
    return {"preset": preset, "sizes": sizes or [], "commits": commits, "rule": RULE,
            "claims": claims}
