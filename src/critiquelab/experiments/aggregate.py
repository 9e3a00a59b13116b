"""From cells to results.json: CIs per arm, the declared comparisons with p-values, Holm and
minimum detectable effects, validity gates, trivial baselines and floors, budget curves."""

from __future__ import annotations

import os
import platform
import subprocess
from collections import defaultdict
from pathlib import Path

from critiquelab.evaluation.stats import bootstrap_ci, holm, paired_difference
from critiquelab.experiments.spec import (
    FIT_UNIT,
    OBJECTIVE_FIT,
    CellResult,
    Experiment,
    Gate,
    RunContext,
    entry_key,
)
from critiquelab.io import atomic_write_json
from critiquelab.reporting.report import gate_number, margin_text

Cells = dict[tuple[str, int], CellResult]


def aggregate(exp: Experiment, ctx: RunContext, cells: Cells, trivial: dict,
              quarantined: list[dict] | None = None) -> dict:
    """Every number the report shows, written to results.json."""
    arms_run = ctx.arms or exp.arms
    bases = [ctx.base_of(s) for s in ctx.seeds]
    arms, per_seed, budget, curves, by_group, curve_pts = {}, {}, {}, {}, {}, {}
    for arm in arms_run:
        runs = [cells[arm, s] for s in ctx.seeds]
        arms[arm] = {m: {sp: bootstrap_ci([r.scores[m][sp] for r in runs], bases=bases)
                         for sp in runs[0].scores.get(m, {})}
                     for m in exp.metrics if m in runs[0].scores}
        per_seed[arm] = {m: {sp: [_mean(r.scores[m][sp]) for r in runs] for sp in by_sp}
                         for m, by_sp in arms[arm].items()}
        keys = sorted({k for r in runs for k in r.budget})
        budget[arm] = {k: sum(r.budget.get(k, 0) for r in runs) / len(runs) for k in keys}
        curves[arm] = {name: [r.curves.get(name, []) for r in runs]
                       for name in sorted({n for r in runs for n in r.curves})}
        by_group[arm] = _by_group(runs, exp.metrics[0], bases)
        if runs[0].checkpoints:
            curve_pts[arm] = budget_curve(runs, bases)
    validity = {a: gate_result(exp, a, cells, ctx, trivial) for a in arms_run
                if exp.arm(a).trained and exp.arm(a).gate}
    fit = Gate(OBJECTIVE_FIT, "entry")
    objective_fit = {a: gate_result(exp, a, cells, ctx, trivial, fit) for a in arms_run
                     if all(OBJECTIVE_FIT in cells[a, s].validation_items for s in ctx.seeds)}
    floors = [{"arm": a, "metric": m, "split": sp, "value": c["mean"],
               "trivial": trivial[m][sp]}
              for a in arms_run for m, by_sp in arms[a].items() for sp, c in by_sp.items()
              if c["mean"] is not None and sp in trivial.get(m, {})
              and c["mean"] <= trivial[m][sp]]
    results = {
        "experiment": exp.name, "title": exp.title, "question": exp.question,
        "preset": ctx.preset_name, "primary_metric": exp.metrics[0], "params": ctx.params,
        "seeds": ctx.seeds, "bases": ctx.bases, "matching": exp.matching, "commit": commit(),
        "n": {m: {sp: len(v) for sp, v in by_sp.items()}
              for m, by_sp in cells[arms_run[0], ctx.seeds[0]].scores.items()},
        "arms": arms, "per_seed": per_seed,
        "comparisons": comparisons(exp, ctx, cells, validity, floors, bases),
        "validity": validity, "objective_fit": objective_fit, "trivial": trivial,
        "floors": floors,
        "budget": budget, "budget_curve": curve_pts, "by_difficulty": by_group,
        "curves": curves,
        "extra": {arm: [cells[arm, s].extra for s in ctx.seeds] for arm in arms_run},
        "quarantined": quarantined or [], "versions": versions(),
    }
    results["conclusions"] = exp.conclusions(results)
    atomic_write_json(ctx.out_dir / "results.json", results)
    return results


def comparisons(exp: Experiment, ctx: RunContext, cells: Cells, validity: dict,
                floors: list[dict], bases: list[int]) -> list[dict]:
    """The experiment's declared comparisons, paired, Holm-adjusted across the report; one
    involving an arm that failed its gate is withheld, one at a floor is flagged."""
    arms_run = set(ctx.arms or exp.arms)
    floored = {(f["arm"], f["metric"], f["split"]) for f in floors}
    out = []
    for comp in exp.comparisons():
        if not {comp.arm, comp.baseline} <= arms_run:
            continue
        first = cells[comp.arm, ctx.seeds[0]].scores
        for m in comp.metrics or tuple(m for m in exp.metrics if m in first):
            for sp in first.get(m, {}):
                if sp not in cells[comp.baseline, ctx.seeds[0]].scores.get(m, {}):
                    continue
                a = [cells[comp.arm, s].scores[m][sp] for s in ctx.seeds]
                b = [cells[comp.baseline, s].scores[m][sp] for s in ctx.seeds]
                failed = [x for x in (comp.arm, comp.baseline)
                          if x in validity and validity[x]["passed"] is False]
                reason = "; ".join(f"{x} failed its validity gate ({gate_text(validity[x])})"
                                   for x in failed) or None
                out.append({"arm": comp.arm, "baseline": comp.baseline, "metric": m,
                            "split": sp, **paired_difference(a, b, bases=bases),
                            "verdict": "withheld" if failed else "ok", "reason": reason,
                            "floor": any((x, m, sp) in floored
                                         for x in (comp.arm, comp.baseline))})
    for c, adj in zip(out, holm([c["p"] for c in out]), strict=True):
        c["p_holm"] = adj
    return out


# Seed means of equal scores can differ in the last bits (0.29000000000000004 vs 0.29); an
# arm passes its gate only by more than this.
GATE_TOLERANCE = 1e-9


def gate_result(exp: Experiment, arm: str, cells: Cells, ctx: RunContext,
                trivial: dict, gate: Gate | None = None) -> dict:
    """Whether a trained arm beat its gate's reference (or `gate`'s) on validation, seeds
    averaged: where the cells hold per-item validation scores, the 95% CI of the paired
    difference must lie above 0, so a margin within the items' noise does not pass
    (optimistic still where validation also picked the checkpoint); otherwise (curve gates,
    older cells) the mean must be higher."""
    gate = gate or exp.arm(arm).gate
    runs = [cells[arm, s] for s in ctx.seeds]
    ref_runs, ref_key = None, gate.metric
    if gate.reference == "start":
        value = _mean([_quarter(r.curves.get(gate.metric, []), last=True) for r in runs])
        reference = _mean([_quarter(r.curves.get(gate.metric, []), last=False) for r in runs])
    else:
        value = _mean([r.validation.get(gate.metric, 0.0) for r in runs])
        if gate.reference == "trivial":
            reference = trivial.get(gate.metric, {}).get("validation")
        elif gate.reference == "entry":
            ref_runs, ref_key = runs, entry_key(gate.metric)
        else:
            ref = gate.reference.removeprefix("arm:")
            ref_runs = [cells[ref, s] for s in ctx.seeds] if (ref, ctx.seeds[0]) in cells \
                else None
        if gate.reference != "trivial":
            reference = None if ref_runs is None or any(ref_key not in r.validation
                                                        for r in ref_runs) \
                else _mean([r.validation[ref_key] for r in ref_runs])
    out = {"metric": gate.metric, "value": value, "reference": reference,
           "passed": None if reference is None else value > reference + GATE_TOLERANCE,
           "against": gate.reference, **({"unit": FIT_UNIT} if gate.metric == OBJECTIVE_FIT
                                         else {})}
    if reference is None or gate.reference == "start":
        return out
    items = [r.validation_items.get(gate.metric) for r in runs]
    lacking = [f"{arm} seed {s}" for s, x in zip(ctx.seeds, items, strict=True) if not x]
    if ref_runs is None:
        ref_items = [[reference] * len(x or ()) for x in items]
    else:
        ref_items = [r.validation_items.get(ref_key) for r in ref_runs]
        lacking += [f"{gate.reference.removeprefix('arm:')} seed {s}"
                    for s, x in zip(ctx.seeds, ref_items, strict=True) if not x]
    if lacking or len({len(x) for x in (*items, *ref_items)}) != 1:
        out["means_only"] = ("no per-item validation scores in " + ", ".join(lacking)
                             if lacking else "per-item validation scores of unequal length")
        return out
    diff = paired_difference(items, ref_items, bases=[ctx.base_of(s) for s in ctx.seeds])
    out["difference"] = {"mean": diff["mean"], "ci95": diff["ci95"]}
    out["passed"] = diff["ci95"][0] > GATE_TOLERANCE
    return out


def _quarter(curve: list[list[float]], last: bool) -> float:
    """Mean y of the first or last quarter of a curve's points."""
    ys = [p[1] for p in curve]
    if not ys:
        return 0.0
    k = max(1, len(ys) // 4)
    return _mean(ys[-k:] if last else ys[:k])


def budget_curve(runs: list[CellResult], bases: list[int]) -> dict:
    """metric -> split -> [{"steps", "mean", "ci95"}] over the checkpoints every seed has."""
    n = min(len(r.checkpoints) for r in runs)
    out: dict = {}
    for i in range(n):
        steps = runs[0].checkpoints[i]["steps"]
        for m, by_sp in runs[0].checkpoints[i]["scores"].items():
            for sp in by_sp:
                ci = bootstrap_ci([r.checkpoints[i]["scores"][m][sp] for r in runs],
                                  bases=bases)
                out.setdefault(m, {}).setdefault(sp, []).append(
                    {"steps": steps, "mean": ci["mean"], "ci95": ci["ci95"]})
    return out


def _by_group(runs: list[CellResult], metric: str, bases: list[int]) -> dict:
    """The primary metric per split and group (difficulty), with CIs over seeds and items."""
    out: dict = {}
    for sp, groups in runs[0].groups.items():
        idx: dict[int, list[int]] = defaultdict(list)
        for i, g in enumerate(groups):
            idx[g].append(i)
        out[sp] = {}
        for g, items in sorted(idx.items()):
            per_seed = [[r.scores.get(metric, {}).get(sp, [])[i] for i in items] for r in runs
                        if r.scores.get(metric, {}).get(sp)]
            if per_seed:
                out[sp][str(g)] = bootstrap_ci(per_seed, bases=bases)
    return out


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def gate_value(gate: dict, x: float | None) -> str:
    """A value on a gate's scale: a share in percent, a fit in 4 decimals (its unit left to the
    caller)."""
    return gate_number(gate, x) + ("%" if x is not None and not gate.get("unit") else "")


def gate_text(gate: dict) -> str:
    """'metric 31.0% vs 29.0%, margin +2.0 [-1.5, +5.4]': what a gate compared, in a line (a fit
    in its unit)."""
    unit = gate.get("unit")
    text = (f"{gate.get('metric')} {gate_value(gate, gate.get('value'))} vs "
            f"{gate_value(gate, gate.get('reference'))}" + (f" {unit}" if unit else ""))
    return text + (f", margin {margin_text(gate)}" if gate.get("difference") else "")


def commit() -> str | None:
    """The git commit of the code that ran (None outside a git checkout)."""
    try:
        r = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent,
                           capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return r.stdout.strip() or None if r.returncode == 0 else None


def versions() -> dict:
    """Library versions and the machine, for the record."""
    from importlib.metadata import PackageNotFoundError, version

    from critiquelab.models.precision import describe_precision

    out = {"python": platform.python_version(), "machine": platform.machine(),
           "cpus": os.cpu_count(), "precision": describe_precision()}
    for pkg in ("critiquelab", "torch", "transformers", "trl", "peft", "numpy"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = None
    return out
