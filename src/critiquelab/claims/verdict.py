"""The verdict rule, in one place: what a measured comparison says about a claim."""

from __future__ import annotations

from critiquelab.claims.catalog import EQUIVALENT, GREATER, Check
from critiquelab.experiments.aggregate import gate_text

SUPPORTS, CONTRADICTS, INCONCLUSIVE, WITHHELD = ("supports", "contradicts", "inconclusive",
                                                 "withheld")
VERDICTS = (SUPPORTS, CONTRADICTS, INCONCLUSIVE, WITHHELD)
RESULTS_FIELDS = ("comparisons", "validity", "trivial")  # what a verdict needs from results.json
COMPARISON_FIELDS = ("mean", "ci95", "p_holm", "mde")

RULE = ("supports: the 95% CI excludes zero in the claim's direction (for an 'about as well' "
        "claim: the whole CI lies within the equivalence margin); contradicts: the CI excludes "
        "zero in the other direction (for 'about as well': the whole CI lies outside the "
        "margin); inconclusive: neither, with the MDE stated; withheld: a validity gate failed, "
        "either side sits at the trivial floor, or a needed number is missing, with the reason. "
        "supports and contradicts also need every gate passed and no floor. A claim with "
        "several checks is withheld if one is, contradicted if one contradicts, supported if all "
        "support, else inconclusive.")


def pts(x: float) -> str:
    """A fraction as signed percentage points."""
    return f"{100 * x:+.1f}"


def sign_verdict(direction: str, lo: float, hi: float, margin: float) -> str:
    """supports / contradicts / inconclusive from the CI alone."""
    if direction == EQUIVALENT:
        if -margin <= lo and hi <= margin:
            return SUPPORTS
        return CONTRADICTS if lo > margin or hi < -margin else INCONCLUSIVE
    if lo > 0:
        return SUPPORTS if direction == GREATER else CONTRADICTS
    if hi < 0:
        return CONTRADICTS if direction == GREATER else SUPPORTS
    return INCONCLUSIVE


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.1f}%"


def find_comparison(results: dict, check: Check) -> dict | None:
    """The comparison of results.json that the check names, or None."""
    for c in results.get("comparisons", []):
        if (c.get("arm"), c.get("baseline"), c.get("metric"), c.get("split")) == (
                check.arm, check.baseline, check.metric, check.split):
            return c
    return None


def _floor_reason(results: dict, check: Check) -> str:
    hits = [f for f in results.get("floors", []) if f.get("arm") in (check.arm, check.baseline)
            and f.get("metric") == check.metric and f.get("split") == check.split]
    detail = "; ".join(f"{f['arm']} {100 * f['value']:.1f} <= trivial {100 * f['trivial']:.1f}"
                       for f in hits)
    return f"at the floor on {check.split} {check.metric}" + (f" ({detail})" if detail else "")


def judge_check(results: dict, check: Check) -> dict:
    """One check's measurement, gates and verdict with its reason."""
    out = {"arm": check.arm, "baseline": check.baseline, "metric": check.metric,
           "split": check.split, "direction": check.direction, "published": check.published,
           "margin": check.margin if check.direction == EQUIVALENT else None,
           "mean": None, "ci95": None, "p_holm": None, "mde": None, "floor": False,
           "gates": {}}

    def withheld(reason: str) -> dict:
        return {**out, "verdict": WITHHELD, "reason": reason}

    missing = [f for f in RESULTS_FIELDS if f not in results]
    if missing:
        return withheld(f"field {missing[0]} not reported")
    comp = find_comparison(results, check)
    if comp is None:
        return withheld(f"comparison {check.label} not reported")
    missing = [f for f in COMPARISON_FIELDS if comp.get(f) is None]
    if missing:
        return withheld(f"field {missing[0]} not reported")
    lo, hi = comp["ci95"]
    out.update(mean=comp["mean"], ci95=[lo, hi], p_holm=comp["p_holm"], mde=comp["mde"],
               floor=bool(comp.get("floor")))
    out["gates"] = {a: results["validity"].get(a) for a in (check.arm, check.baseline)}
    for arm, g in out["gates"].items():  # an arm without a gate (untrained) is absent
        if g is not None and g.get("passed") is not True:
            what = "failed" if g.get("passed") is False else "could not be checked against"
            return withheld(f"{arm} {what} its validity gate ({gate_text(g)})")
    if comp.get("verdict") == WITHHELD:
        return withheld(comp.get("reason") or "withheld by the runner")
    if out["floor"]:
        return withheld(_floor_reason(results, check))
    verdict = sign_verdict(check.direction, lo, hi, check.margin)
    ci = f"{pts(comp['mean'])} [{pts(lo)}, {pts(hi)}] points"
    if check.direction == EQUIVALENT:
        where = {SUPPORTS: "within", CONTRADICTS: "wholly outside",
                 INCONCLUSIVE: "not wholly within"}[verdict]
        reason = f"{ci}: the CI lies {where} the +-{100 * check.margin:.0f}-point margin"
    else:
        reason = {SUPPORTS: f"{ci}: the CI excludes zero in the claimed direction",
                  CONTRADICTS: f"{ci}: the CI excludes zero against the claimed direction",
                  INCONCLUSIVE: f"{ci}: the CI includes zero"}[verdict]
    if verdict == INCONCLUSIVE:
        reason += f"; MDE {100 * comp['mde']:.1f} points"
    return {**out, "verdict": verdict, "reason": reason}


def combine(checks: list[dict]) -> tuple[str, str]:
    """A claim's verdict and reason from its checks' verdicts."""
    for v in (WITHHELD, CONTRADICTS):
        hit = next((t for t in checks if t["verdict"] == v), None)
        if hit:
            return v, _name(hit) + hit["reason"]
    if all(t["verdict"] == SUPPORTS for t in checks):
        return SUPPORTS, "; ".join(_name(t) + t["reason"] for t in checks)
    hit = next(t for t in checks if t["verdict"] == INCONCLUSIVE)
    return INCONCLUSIVE, _name(hit) + hit["reason"]


def _name(t: dict) -> str:
    return f"{t['arm']} - {t['baseline']} ({t['metric']}, {t['split']}): "
