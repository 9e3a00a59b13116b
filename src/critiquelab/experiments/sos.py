"""sos: Stream of Search (CLAIMS.md C7) on Countdown, from scratch.

Two tiny models start from the same random initialisation recipe and train on the same number
of tokens: `optimal-path` on the clean solution path of each problem, `stream-of-search` on
serialised heuristic searches (DFS or beam BFS, sum or multiplication heuristic) with their
dead ends, backtracking and failures. Each cell trains one model per learning rate of the
preset's grid and keeps the one that solves most validation problems (never a test problem);
that model then writes one greedy trajectory per test problem.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from critiquelab.data.builders import take_token_budget
from critiquelab.data.splits import SplitSpec, generate_problems, leaked_ids
from critiquelab.evaluation.stats import bootstrap_ci
from critiquelab.experiments import register_experiment
from critiquelab.experiments.spec import Arm, CellResult, Experiment, Gate, RunContext
from critiquelab.formats import COMPACT, solve_record
from critiquelab.models import load_model
from critiquelab.models.generate import generate
from critiquelab.reporting.report import floor_sentence
from critiquelab.training import TrainConfig, train
from critiquelab.worlds import Problem, get_world
from critiquelab.worlds.countdown.search import STRATEGIES, optimal_trace, search
from critiquelab.worlds.countdown.trace import check_trace

SPLITS = ("seen-targets", "held-out-targets")

SMOKE = {
    "world": {"sizes": [3], "max_number": 10, "min_target": 10, "max_target": 100,
              "heldout_seed": 0, "heldout_share": 0.1},
    "n_eval": 10, "n_validation": 10, "n_train": 400, "data_seed": 1234, "max_nodes": 20,
    "model": "tiny-xs",
    "train": {"token_budget": 12_000, "learning_rates": (1e-3, 3e-3), "batch_size": 16,
              "max_length": 512},
    "max_new_tokens": 200,
}
DEFAULT = {  # 3M tokens: at 400k (216 optimal-path steps) no rate taught copying the numbers
    **SMOKE,
    "n_eval": 100, "n_validation": 100, "n_train": 1500,
    "train": {"token_budget": 3_000_000, "learning_rates": (1e-3, 2e-3),
              "batch_size": 32, "max_length": 512},
    "max_new_tokens": 320,
}
FULL = {  # the published task: 4 numbers from 1-99; long traces need long contexts (a GPU)
    **SMOKE,
    "world": {**SMOKE["world"], "sizes": [4], "max_number": 99},
    "n_eval": 500, "n_validation": 200, "n_train": 200_000, "max_nodes": 60,
    "model": "tiny-m",
    "train": {"token_budget": 100_000_000, "learning_rates": (1e-3,), "batch_size": 64,
              "max_length": 1536},
    "max_new_tokens": 1400,
}


@dataclass
class SosState:
    splits: dict[str, list[Problem]]  # the test splits and `train`
    heuristic_solves: dict[str, list[int]]  # per test problem: how many fixed strategies solve it


def numbers_target(p: Problem) -> tuple[tuple[int, ...], int]:
    return tuple(p.data["numbers"]), p.data["target"]


def strategy_solves(p: Problem, max_nodes: int) -> int:
    """How many of the fixed search strategies solve p within the node cap."""
    nums, target = numbers_target(p)
    return sum(search(nums, target, s, max_nodes).solved for s in STRATEGIES)


def trace_records(problems: Sequence[Problem], arm: str, rng: random.Random,
                  max_nodes: int) -> Iterator[dict]:
    """Records cycling over problems: the optimal path, or a search by a random strategy."""
    while True:
        for p in problems:
            nums, target = numbers_target(p)
            if arm == "optimal-path":
                trace = optimal_trace(nums, target)
            else:
                trace = search(nums, target, rng.choice(STRATEGIES), max_nodes)
            yield solve_record(COMPACT, p.text, trace.text, problem_id=p.id,
                               solved=trace.solved)


def score_trajectory(p: Problem, text: str) -> dict[str, float]:
    """Solved, wholly valid, length, and arithmetic errors of one model trajectory."""
    nums, target = numbers_target(p)
    checked = check_trace(nums, target, text)
    ops = [c for c in checked.lines if "=" in c.line]
    arith = sum(c.kind == "arithmetic" for c in ops)
    return {"solved": float(checked.solved),
            "valid": float(checked.solved and all(c.ok for c in checked.lines)),
            "chars": float(len(text.strip())), "arithmetic_errors": float(arith),
            "arithmetic_error_rate": arith / len(ops) if ops else 0.0}


def trajectories(model, tok, problems: Sequence[Problem], params: dict) -> list[str]:
    """One greedy trajectory per problem."""
    prompts = [COMPACT.solve_prompt(q.text) for q in problems]
    return [o[0] for o in generate(model, tok, prompts, params["max_new_tokens"],
                                   batch_size=128)]


@register_experiment
class StreamOfSearch(Experiment):
    name = "sos"
    title = "Stream of Search: learning from messy search vs clean optimal paths (Countdown)"
    question = ("Does a model trained on serialised search, dead ends and backtracking included, "
                "solve more Countdown problems than one trained on optimal paths, at the same "
                "token budget?")
    # From-scratch models, as in the paper: matched on training tokens, not on a shared base's
    # steps; an arm counts once it solves some validation problems (no fixed answer does).
    arm_table = tuple(Arm(a, a, "solve", "sft", Gate("solve_accuracy", "trivial"))
                      for a in ("optimal-path", "stream-of-search"))
    matching = "tokens"
    presets = {"smoke": SMOKE, "default": DEFAULT, "full": FULL}
    metrics = ("solve_accuracy", "beyond_heuristics", "valid_trajectory", "arithmetic_error_rate")
    splits = SPLITS
    baseline = "optimal-path"

    def setup(self, ctx: RunContext) -> SosState:
        """Test splits on seen and held-out targets first, then validation and training problems
        (seen targets only), every earlier problem excluded by canonical hash."""
        p = ctx.params
        worlds = {sp: get_world("countdown", **p["world"], targets=sp.removesuffix("-targets"))
                  for sp in SPLITS}
        sizes = tuple(worlds["seen-targets"].difficulties())
        splits: dict[str, list[Problem]] = {}
        held: set[str] = set()
        for sp in SPLITS:
            rng = random.Random(f"{p['data_seed']}:{sp}")
            splits[sp] = generate_problems(worlds[sp], SplitSpec(p["n_eval"], sizes), rng, held)
            held |= {q.id for q in splits[sp]}
        for sp, n in (("validation", p["n_validation"]), ("train", p["n_train"])):
            rng = random.Random(f"{p['data_seed']}:{sp}")
            splits[sp] = generate_problems(worlds["seen-targets"], SplitSpec(n, sizes), rng, held)
            held |= {q.id for q in splits[sp]}
        tests = [q for sp in (*SPLITS, "validation") for q in splits[sp]]
        if leaked_ids(splits["train"], tests):
            raise AssertionError("test problems leaked into the training problems")
        solves = {sp: [strategy_solves(q, p["max_nodes"]) for q in splits[sp]] for sp in SPLITS}
        return SosState(splits, solves)

    def trivial(self, ctx: RunContext, state: SosState) -> dict[str, dict[str, float]]:
        """No fixed answer reaches a Countdown target: the trivial solve rate is 0."""
        return {"solve_accuracy": {sp: 0.0 for sp in (*SPLITS, "validation")}}

    def run_cell(self, ctx: RunContext, state: SosState, arm: str, seed: int) -> CellResult:
        p, t = ctx.params, ctx.params["train"]
        rng = random.Random(f"{arm}:{seed}")
        problems = list(state.splits["train"])
        rng.shuffle(problems)
        records, sweep, best = None, {}, None
        for lr in t["learning_rates"]:  # one model per rate, the same init and data
            model, tok = load_model(p["model"], seed=seed)
            records = records or take_token_budget(
                trace_records(problems, arm, rng, p["max_nodes"]), tok, t["token_budget"])
            cfg = TrainConfig(learning_rate=lr, epochs=1, batch_size=t["batch_size"],
                              max_length=t["max_length"], seed=seed, report_to=ctx.report_to,
                              run_name=f"{self.name}/{arm}/seed{seed}/lr{lr:g}")
            result = train(model, tok, records, cfg, ctx.work_dir(f"{arm}__seed{seed}__lr{lr:g}"),
                           progress=ctx.progress)
            val = state.splits["validation"]
            solved = [score_trajectory(q, o)["solved"]
                      for q, o in zip(val, trajectories(model, tok, val, p), strict=True)]
            sweep[f"{lr:g}"] = sum(solved) / len(solved)
            if best is None or sweep[f"{lr:g}"] > best[0]:
                best = (sweep[f"{lr:g}"], lr, model, result, solved)
        val_solve, lr, model, result, val_items = best
        budget = {"tokens": result.tokens, "loss_tokens": result.loss_tokens,
                  "steps": result.steps, "examples": len(records),
                  "problems": len({r["problem_id"] for r in records}), "wall_s": result.wall_s}
        scores: dict[str, dict[str, list[float]]] = {m: {} for m in self.metrics}
        gens: list[dict] = []
        groups, extra = {}, {"trajectory_chars": {}, "arithmetic_errors": {},
                             "solved_training_traces": sum(r["solved"] for r in records)
                             / len(records), "lr_sweep": sweep, "learning_rate": lr}
        for sp in SPLITS:
            tests = state.splits[sp]
            prompts = [COMPACT.solve_prompt(q.text) for q in tests]
            outs = trajectories(model, tok, tests, p)
            rows = [score_trajectory(q, o) for q, o in zip(tests, outs, strict=True)]
            solves = state.heuristic_solves[sp]
            scores["solve_accuracy"][sp] = [r["solved"] for r in rows]
            scores["beyond_heuristics"][sp] = [float(r["solved"] and n == 0)
                                               for r, n in zip(rows, solves, strict=True)]
            scores["valid_trajectory"][sp] = [r["valid"] for r in rows]
            scores["arithmetic_error_rate"][sp] = [r["arithmetic_error_rate"] for r in rows]
            extra["trajectory_chars"][sp] = [r["chars"] for r in rows]
            extra["arithmetic_errors"][sp] = [r["arithmetic_errors"] for r in rows]
            extra.setdefault("heuristic_any", {})[sp] = sum(n > 0 for n in solves) / len(solves)
            extra.setdefault("examples", {})[sp] = [
                {"problem": q.text, "trajectory": o} for q, o in zip(tests[:3], outs[:3],
                                                                     strict=True)]
            groups[sp] = solves
            gens += [{"item": q.id, "split": sp, "metric": m, "prompt": prompt, "output": o,
                      "score": sc} for m in self.metrics
                     for q, prompt, o, sc in zip(tests, prompts, outs, scores[m][sp],
                                                 strict=True)]
        curves = {"train_loss": [list(pt) for pt in result.loss_curve]}
        return CellResult(scores, budget, groups, curves, extra,
                          validation={"solve_accuracy": val_solve}, generations=gens,
                          validation_items={"solve_accuracy": [float(s) for s in val_items]})

    def conclusions(self, results: dict) -> list[str]:
        if set(results["arms"]) != set(self.arms):
            return []
        out = []
        floor = floor_sentence(results)
        if floor:
            out.append(floor + " For Countdown that is `--preset full`, sized for a GPU.")
        first = results["extra"][self.baseline][0]
        for sp in SPLITS:
            out.append(f"On {sp}, {100 * first['heuristic_any'][sp]:.1f}% of test problems are "
                       f"solved by at least one of the {len(STRATEGIES)} fixed search strategies "
                       f"within {results['params']['max_nodes']} nodes.")
        for arm in self.arms:
            runs = results["extra"][arm]
            for key, unit in (("trajectory_chars", "characters"),
                              ("arithmetic_errors", "arithmetic errors")):
                ci = bootstrap_ci([r[key]["seen-targets"] for r in runs])
                out.append(f"{arm} writes {ci['mean']:.1f} {unit} per seen-targets trajectory "
                           f"[{ci['ci95'][0]:.1f}, {ci['ci95'][1]:.1f}].")
        for arm in self.arms:
            runs = results["extra"][arm]
            rates = ", ".join(f"{lr} {100 * sum(r['lr_sweep'][lr] for r in runs) / len(runs):.1f}%"
                              for lr in runs[0]["lr_sweep"])
            kept = ", ".join(f"{r['learning_rate']:g}" for r in runs)
            out.append(f"{arm} solves validation problems, by learning rate (seeds averaged): "
                       f"{rates}; the seeds kept {kept}.")
        b = results["budget"]
        out.append("Training budget: " + "; ".join(
            f"{arm} {b[arm]['tokens']:,.0f} tokens, {b[arm]['steps']:.0f} steps, "
            f"{b[arm]['problems']:,.0f} distinct problems" for arm in self.arms) + ".")
        return out
