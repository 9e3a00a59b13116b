"""self-train: self-improvement with and without a critic in the loop (CLAIMS.md C5).

Every arm starts from the cached chain-world base of cft-vs-sft and runs the same loop
(training/self_improve.py): sample N solutions per training problem, keep the verified ones
that show their work, retrain from the base on a fixed token budget. `vanilla` keeps only the
model's own correct samples; `critique-in-loop` also critiques every wrong sample with a
step-level critic and keeps the actor's verified rewrites, which continue the lines the
critique confirmed. Two controls make, in every iteration, as many second-round generations as
critique-in-loop made in that iteration of the same seed: `vanilla-same-budget` spends them on
fresh samples of its wrong samples' problems, `random-prefix` on continuing its wrong samples
from prefixes of the critic's prefix lengths dealt out at random (the critic's localisation
removed). Each iteration records what the kept data covers (hard_share, coverage, the difficulty
histogram), how many generations it cost, and how the model then solves (greedy accuracy,
unbiased pass@k, answer entropy, distinct correct structures).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from filelock import FileLock

from critiquelab.critics.base import Critic, ExactCritic, NoisyCritic
from critiquelab.data.refine import REFINE_FORMATS
from critiquelab.evaluation.diversity import hard_band, kept_summary, sample_scores
from critiquelab.evaluation.stats import bootstrap_ci, t_ci
from critiquelab.experiments import register_experiment
from critiquelab.experiments.chain_common import EVAL, PRESETS, ChainState, chain_setup, evaluate
from critiquelab.experiments.spec import (
    Arm,
    CellResult,
    Comparison,
    Experiment,
    Gate,
    RunContext,
    entry_key,
)
from critiquelab.io import atomic_write_json
from critiquelab.models import load_model
from critiquelab.models.generate import generate
from critiquelab.reporting.iterations import iteration_curves, kept_histograms
from critiquelab.training import TrainConfig
from critiquelab.training.self_improve import Iteration, LoopConfig, self_improve
from critiquelab.worlds import Problem

KS = (1, 4, 16)
SAMPLED = tuple(f"pass_at_{k}" for k in KS) + ("answer_entropy",)
# Each arm's second round on its wrong samples (training/self_improve.py `harvest`).
SECOND_ROUND = {"vanilla": "none", "critique-in-loop": "refine",
                "vanilla-same-budget": "resample", "random-prefix": "restart"}
# Each arm must solve more validation problems after its last iteration than its base did,
# by a paired 95% CI over the items: the gate reads validation only, never a test split.
GATE = Gate("solve_accuracy", "entry")
REFERENCE = "critique-in-loop"
MATCHED = ("vanilla-same-budget", "random-prefix")  # as many generations as REFERENCE

SMOKE = {
    **PRESETS["smoke"],
    "self_train": {"n_problems": 16, "iterations": 2, "samples": 4, "temperature": 0.8,
                   "min_steps": 2, "eval_problems": 4, "eval_samples": 16, "critic_noise": 0.0,
                   "from_base": True, "token_budget": 6000, "learning_rate": 3e-4},
}
DEFAULT = {  # training tokens per iteration: about two passes over what 64 x 4 samples keep
    **PRESETS["default"],
    "max_new_tokens": 160,  # leaves room for the longest gold solution of any evaluation split
    # pass@k on 100; lr 1e-4 from validation: at cft-vs-sft's 3e-4 every arm fell below its base
    "self_train": {**SMOKE["self_train"], "n_problems": 64, "iterations": 3,
                   "eval_problems": 100, "token_budget": 40_000, "learning_rate": 1e-4},
}


@dataclass
class SelfTrainState:
    chain: ChainState
    problems: list[Problem]  # the self-training pool (the head of the train split)
    evals: dict[str, list[Problem]]  # sampled-metric problems (the head of each eval split)
    hard: tuple[int, ...]
    base_metrics: dict  # iteration 0: the base model, shared by every arm and seed


@register_experiment
class SelfTrain(Experiment):
    name = "self-train"
    title = "Self-training with a critic in the loop: tail narrowing and exploration"
    question = ("When a model trains on its own verified solutions, does its training data "
                "drift away from hard problems, and does critiquing and refining its wrong "
                "solutions keep them in, beyond what as many more samples or restarts from "
                "prefixes of the same length do?")
    arm_table = tuple(Arm(a, a, "solve", "self-improve", GATE) for a in SECOND_ROUND)
    matching = "tokens"  # per iteration, as self_improve trains
    presets = {"smoke": SMOKE, "default": DEFAULT}
    metrics = ("solve_accuracy", *SAMPLED, "coverage")
    splits = (*EVAL, "train", "train-hard")
    baseline = "vanilla"

    def setup(self, ctx: RunContext) -> SelfTrainState:
        chain = chain_setup(ctx)
        st = ctx.params["self_train"]
        problems = chain.splits["train"][:st["n_problems"]]
        evals = {sp: chain.splits[sp][:st["eval_problems"]] for sp in EVAL}
        state = SelfTrainState(chain, problems, evals,
                               hard_band(ctx.params["id_difficulties"]), {})
        path = ctx.work_dir() / "base_metrics.json"
        cached = _read(path)
        if "validation_items" in cached:  # missing, damaged, or written by older code: redo
            state.base_metrics = cached
        else:
            model, tok = load_model(str(chain.base_dir))
            state.base_metrics = measure(state, ctx.params, model, tok, seed=0)
            atomic_write_json(path, state.base_metrics)
        return state

    def comparisons(self) -> tuple[Comparison, ...]:
        """critique-in-loop against vanilla, the same generation budget, and the blind prefix."""
        return tuple(Comparison(REFERENCE, b) for b in (self.baseline, *MATCHED))

    def run_cell(self, ctx: RunContext, state: SelfTrainState, arm: str,
                 seed: int) -> CellResult:
        extra = None
        if arm in MATCHED:  # critique-in-loop's second-round generations, iteration by iteration
            extra = [it.harvest["second_round"] for it in self.loop(ctx, state, REFERENCE, seed)]
        return cell_result(state, self.loop(ctx, state, arm, seed, extra))

    def loop(self, ctx: RunContext, state: SelfTrainState, arm: str, seed: int,
             extra: list[int] | None = None) -> list[Iteration]:
        """Run (or load) one arm's iterations. Under a lock on its work directory: a control's
        cell runs critique-in-loop's loop of its seed too, and cells may run in parallel."""
        p, st = ctx.params, ctx.params["self_train"]
        cfg = LoopConfig(iterations=st["iterations"], samples=st["samples"],
                         temperature=st["temperature"], max_new_tokens=p["max_new_tokens"],
                         min_steps=st["min_steps"], token_budget=st["token_budget"],
                         train=TrainConfig(learning_rate=st["learning_rate"], epochs=1,
                                           batch_size=p["finetune"]["batch_size"]),
                         from_base=st["from_base"], second_round=SECOND_ROUND[arm])
        chain = state.chain
        critic = (self.critic(state, st["critic_noise"], seed)
                  if cfg.second_round in ("refine", "restart") else None)
        work = ctx.work_dir(f"{arm}__seed{seed}")
        with FileLock(work / "lock"):  # other processes wait
            _forget_unvalidated(work)
            return self_improve(
                chain.world, chain.base_dir, state.problems, chain.fmt, cfg, work, seed, critic,
                REFINE_FORMATS[chain.fmt.name],
                evaluate=lambda model, tok, k: measure(state, p, model, tok, seed * 1000 + k),
                progress=ctx.progress, extra=extra)

    @staticmethod
    def critic(state: SelfTrainState, noise: float, seed: int) -> Critic:
        world = state.chain.world
        return NoisyCritic(world, noise, seed) if noise > 0 else ExactCritic(world)

    def conclusions(self, results: dict) -> list[str]:
        arms = tuple(a for a in self.arms if a in results["extra"])
        first = results["extra"][arms[0]][0]
        out = [f"Hard problems are difficulty {', '.join(map(str, first['hard']))} (the top "
               f"third of the training difficulties); they are "
               f"{100 * first['pool_hard_share']:.1f}% of the self-training pool."]
        out += [narrowing_sentence(arm, results["extra"][arm]) for arm in arms]
        out += [paired_sentence(results, key, comp.arm, comp.baseline)
                for comp in self.comparisons() if {comp.arm, comp.baseline} <= set(arms)
                for key in ("hard_share", "hard_solution_share")]
        out.append(structures_sentence(results, arms))
        out.append(budget_sentence(results["budget"], arms))
        out.append(generations_sentence(results["extra"], arms))
        if {REFERENCE, "random-prefix"} <= set(arms):
            out.append(prefix_sentence(results["extra"], (REFERENCE, "random-prefix")))
        return out

    def extra_plots(self, results: dict, out_dir: Path) -> list[tuple[str, str]]:
        arms = tuple(a for a in self.arms if a in results["extra"])
        made = [kept_histograms(results, arms, out_dir),
                iteration_curves(results, arms, KS, out_dir)]
        return [m for m in made if m]


def measure(state: SelfTrainState, params: dict, model, tok, seed: int) -> dict:
    """Greedy solve scores on validation (the gate) and the full test splits with their
    generations (for audit), and sampled metrics on the test splits' heads."""
    st = params["self_train"]
    ev = evaluate(state.chain, model, tok, params, critique=False)
    scores, groups = ev.scores, ev.groups
    for sp in EVAL:
        problems = state.evals[sp]
        prompts = [state.chain.fmt.solve_prompt(q.text) for q in problems]
        outs = generate(model, tok, prompts, params["max_new_tokens"], n=st["eval_samples"],
                        temperature=st["temperature"], seed=seed)
        for m, vals in sample_scores(state.chain.world, problems, outs, KS).items():
            scores.setdefault(m, {})[sp] = vals
    return {"scores": scores, "groups": groups, "validation": ev.validation,
            "validation_items": ev.validation_items, "generations": ev.generations}


def cell_result(state: SelfTrainState, iterations: list[Iteration]) -> CellResult:
    """Final-iteration scores and validation values beside the base's (the gate's entry),
    per-iteration series as curves, and the kept-data summaries."""
    last = iterations[-1].metrics
    scores = {m: last["scores"][m] for m in ("solve_accuracy", *SAMPLED)}
    kept_last = _kept_counts(iterations[-1])
    scores["coverage"] = {
        "train": [float(kept_last.get(q.id, 0) > 0) for q in state.problems],
        "train-hard": [float(kept_last.get(q.id, 0) > 0) for q in state.problems
                       if q.difficulty in state.hard]}
    series = [(0, state.base_metrics, None)] + [(it.iteration, it.metrics, it)
                                                for it in iterations]
    curves: dict[str, list[list[float]]] = {}
    rows = []
    for k, metrics, it in series:
        for m in ("solve_accuracy", *SAMPLED, "distinct_structures"):
            for sp in EVAL:
                vals = metrics["scores"][m][sp]
                curves.setdefault(f"{m}/{sp}", []).append([k, sum(vals) / len(vals)])
        curves.setdefault("solve_accuracy/validation", []).append(
            [k, metrics["validation"]["solve_accuracy"]])
        if it is None:
            continue
        curves.setdefault("generations", []).append([k, it.harvest["generations"]])
        summary = kept_summary(state.problems, _kept_counts(it), state.hard)
        for key in ("hard_share", "hard_solution_share", "coverage_all", "coverage_hard"):
            if summary[key] is not None:
                curves.setdefault(key, []).append([k, summary[key]])
        rows.append({"iteration": k, **summary, "harvest": it.harvest, "training": it.training})
    budget = {key: float(sum(it.training[key] for it in iterations))
              for key in ("tokens", "loss_tokens", "steps", "examples", "wall_s")}
    budget.update({key: float(sum(it.harvest[key] for it in iterations))
                   for key in ("generations", "samples", "second_round", "second_round_kept")})
    extra = {"iterations": rows, "hard": list(state.hard),
             "pool_hard_share": rows[0]["pool_hard_share"],
             "distinct_structures": last["scores"]["distinct_structures"]}
    base, metric = state.base_metrics, GATE.metric
    validation = {**last["validation"], entry_key(metric): base["validation"][metric]}
    items = {metric: last["validation_items"][metric],
             entry_key(metric): base["validation_items"][metric]}
    return CellResult(scores, budget, last["groups"], curves, extra, validation=validation,
                      generations=last["generations"], validation_items=items)


def _kept_counts(it: Iteration) -> dict[str, int]:
    counts: dict[str, int] = {}
    for k in it.kept:
        counts[k["problem_id"]] = counts.get(k["problem_id"], 0) + 1
    return counts


def _forget_unvalidated(work: Path) -> None:
    """Drop iteration summaries that are damaged or that older code wrote without per-item
    validation scores, so self_improve redoes their training and evaluation from the harvest
    they kept."""
    for path in work.glob("iter*/summary.json"):
        if "validation_items" not in _read(path).get("metrics", {}):
            path.unlink()


def _read(path: Path) -> dict:
    """The JSON object at `path`, or {} when it is missing or unreadable."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _seed_ci(values: list[float]) -> dict:
    """Mean and 95% t interval over seeds (one value per seed)."""
    return t_ci(values)


def _bounds(ci: dict, scale: float = 100.0, spec: str = ".1f") -> str:
    """The interval as text; a single seed has none (t_ci gives no bounds)."""
    lo, hi = ci["ci95"]
    if lo is None:
        return "(one seed: no interval)"
    return f"[{scale * lo:{spec}}, {scale * hi:{spec}}]"


def _fmt_ci(ci: dict, scale: float = 100.0, unit: str = "%") -> str:
    return f"{scale * ci['mean']:.1f}{unit} {_bounds(ci, scale)}"


def _series(runs: list[dict], key: str) -> list[list[float | None]]:
    """Per seed, the value of `key` at each iteration."""
    return [[row[key] for row in r["iterations"]] for r in runs]


def narrowing_sentence(arm: str, runs: list[dict]) -> str:
    """hard_share at the first and last iteration and their per-seed paired change."""
    per_seed = [s for s in _series(runs, "hard_share") if s[0] is not None and s[-1] is not None]
    if not per_seed:
        return f"{arm} kept no solution at all, so hard_share is undefined."
    first, last = [s[0] for s in per_seed], [s[-1] for s in per_seed]
    change = _seed_ci([b - a for a, b in zip(first, last, strict=True)])
    lo, hi = change["ci95"]
    verdict = ("one seed cannot resolve a change" if lo is None
               else "it falls: tail narrowing" if hi < 0 else "it rises" if lo > 0
               else "no change the seeds can resolve")
    k = len(runs[0]["iterations"])
    return (f"{arm}: hard problems are {_fmt_ci(_seed_ci(first))} of the problems with a kept "
            f"solution at iteration 1 and {_fmt_ci(_seed_ci(last))} at iteration {k}; change "
            f"{100 * change['mean']:+.1f} points {_bounds(change, spec='+.1f')} over "
            f"{len(per_seed)} seed{'s' * (len(per_seed) != 1)}, {verdict}.")


def paired_sentence(results: dict, key: str, arm: str, baseline: str) -> str:
    """arm minus baseline on a kept-data share, per iteration, paired by seed; withheld when
    their comparison is (an arm failed its validity gate)."""
    reason = next((c["reason"] for c in results["comparisons"] if c["verdict"] != "ok"
                   and (c["arm"], c["baseline"]) == (arm, baseline)), None)
    if reason:
        return f"{arm} minus {baseline} on {key}: withheld, {reason}."
    a, b = (_series(results["extra"][x], key) for x in (arm, baseline))
    parts = []
    for i in range(len(a[0])):
        diffs = [x[i] - y[i] for x, y in zip(a, b, strict=True)
                 if x[i] is not None and y[i] is not None]
        if diffs:
            ci = _seed_ci(diffs)
            parts.append(f"iteration {i + 1} {100 * ci['mean']:+.1f} "
                         f"{_bounds(ci, spec='+.1f')}")
    return (f"{arm} minus {baseline} on {key} (points, 95% CI over seeds): "
            + ("; ".join(parts) or "undefined, nothing was kept") + ".")


def budget_sentence(b: dict, arms: tuple[str, ...]) -> str:
    """Generations and training tokens per arm, and whether tokens are matched."""
    tokens = [b[arm]["tokens"] for arm in arms]
    matched = max(tokens) <= 1.1 * min(tokens)
    return ("Per cell over all iterations: " + "; ".join(
        f"{arm} made {b[arm]['generations']:,.0f} generations ({b[arm]['samples']:,.0f} "
        f"samples and {b[arm]['second_round']:,.0f} in the second round, "
        f"{b[arm]['second_round_kept']:,.0f} of those verified), trained "
        f"{b[arm]['tokens']:,.0f} tokens in {b[arm]['steps']:.0f} steps" for arm in arms)
        + (". Training tokens are matched." if matched else
           ". Training tokens differ: an iteration that keeps nothing does not train."))


def generations_sentence(extra: dict, arms: tuple[str, ...]) -> str:
    """Generations per iteration (seeds averaged), and whether each control made exactly as
    many as critique-in-loop in every iteration of every seed."""
    per_arm = {arm: [[row["harvest"]["generations"] for row in r["iterations"]]
                     for r in extra[arm]] for arm in arms}
    out = "Generations per iteration, seeds averaged: " + "; ".join(
        f"{arm} " + " / ".join(f"{sum(col) / len(col):,.0f}" for col in zip(*runs, strict=True))
        for arm, runs in per_arm.items()) + "."
    for arm in (a for a in MATCHED if a in arms and REFERENCE in arms):
        pairs = [(x, y) for ra, rb in zip(per_arm[arm], per_arm[REFERENCE], strict=True)
                 for x, y in zip(ra, rb, strict=True)]
        off = sum(x != y for x, y in pairs)
        out += (f" {arm} made as many as {REFERENCE} in every iteration of every seed."
                if not off else f" {arm} differs from {REFERENCE} in {off} of {len(pairs)} "
                                "iterations (seeds pooled).")
    return out


def prefix_sentence(extra: dict, arms: tuple[str, ...]) -> str:
    """The mean prefix length (lines) the second-round generations continued, per iteration."""
    def mean(hist: dict[str, int]) -> float | None:
        n = sum(hist.values())
        return sum(int(k) * c for k, c in hist.items()) / n if n else None

    parts = []
    for arm in arms:
        cols = zip(*([mean(row["harvest"]["prefix_lengths"]) for row in r["iterations"]]
                     for r in extra[arm]), strict=True)
        means = [[v for v in col if v is not None] for col in cols]
        parts.append(f"{arm} " + " / ".join(f"{sum(m) / len(m):.2f}" if m else "-"
                                           for m in means))
    return ("Mean prefix length in lines that second-round generations continued, per "
            "iteration (seeds averaged; equal at iteration 1 by construction, where both arms "
            "start from the same samples): " + "; ".join(parts) + ".")


def structures_sentence(results: dict, arms: tuple[str, ...]) -> str:
    """Distinct correct solution structures per problem among the final samples."""
    parts = []
    for arm in arms:
        for sp in EVAL:
            ci = bootstrap_ci([r["distinct_structures"][sp] for r in results["extra"][arm]])
            parts.append(f"{arm} {sp} {_fmt_ci(ci, 1.0, '')}")
    n = results["params"]["self_train"]["eval_samples"]
    return f"Distinct correct solution structures per problem in {n} samples: " + "; ".join(
        parts) + "."
