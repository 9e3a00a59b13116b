"""instructions: does instruction tuning teach the task or only its output format (CLAIMS.md C3)?

Eight chain-world task types in four output spaces (data/instruction_tasks.py). Each arm
tunes the cached chain-world base on the same instances of the four seen types; only the
instruction differs: `full` (the real task definition and its output space), `simplified`
(the output space alone), `empty` (nothing), `delusive` (the real instruction plus a
demonstration whose output is wrong). Every arm is then scored on held-out problems of the
seen types and of the four unseen types, prompted in its own style. `random-guess` needs no
model: a uniform draw from each instance's output space.
"""

from __future__ import annotations

import random
from collections import defaultdict
from pathlib import Path

from critiquelab.data.instruction_tasks import (
    SEEN,
    UNSEEN,
    Instance,
    instances,
    prompt,
    read_output,
)
from critiquelab.evaluation.stats import paired_difference
from critiquelab.experiments import register_experiment
from critiquelab.experiments.cft_vs_sft import CftVsSft
from critiquelab.experiments.chain_common import chain_setup
from critiquelab.experiments.spec import CellResult, Experiment, RunContext
from critiquelab.models import load_model
from critiquelab.models.generate import generate
from critiquelab.reporting.differences import difference_bars
from critiquelab.reporting.report import describe_difference
from critiquelab.training import TrainConfig, train

SPLITS = ("seen", "unseen")
TUNED = ("full", "simplified", "empty", "delusive")

SMOKE = {**CftVsSft.presets["smoke"],
         "tuning": {"examples": 160, "learning_rate": 1e-3, "batch_size": 16},
         "answer_tokens": 8}
DEFAULT = {**CftVsSft.presets["default"],
           "tuning": {"examples": 2500, "learning_rate": 1e-3, "batch_size": 32},
           "answer_tokens": 8}


def _demos(problems, seed: int, max_value: int) -> dict[str, list[Instance]]:
    """Demonstration instances of every task type, on training problems, for delusive prompts."""
    rng = random.Random(f"demos:{seed}")
    out: dict[str, list[Instance]] = defaultdict(list)
    for inst in instances(problems[:64], SEEN + UNSEEN, rng, max_value):
        out[inst.task].append(inst)
    return out


def _prompts(items: list[Instance], style: str, demos: dict[str, list[Instance]],
             rng: random.Random) -> list[str]:
    return [prompt(i, style, rng.choice(demos[i.task]) if style == "delusive" else None, rng)
            for i in items]


@register_experiment
class Instructions(Experiment):
    name = "instructions"
    title = "Instruction tuning: real, simplified, empty and delusive instructions (chain world)"
    question = ("Does a model tuned on real task instructions do better on seen and unseen task "
                "types than one tuned on instructions that only name the output space, on none, "
                "or on wrong demonstrations, and than a random guess within the output space?")
    arms = (*TUNED, "random-guess")
    presets = {"smoke": SMOKE, "default": DEFAULT}
    metrics = ("solve_accuracy", "format_rate")
    splits = SPLITS
    baseline = "full"

    def setup(self, ctx: RunContext) -> dict:
        """The base, and the evaluation instances (seen and unseen types on held-out problems)."""
        state = chain_setup(ctx)
        mv = ctx.params["world"]["max_value"]
        rng = random.Random(f"instances:{ctx.params['data_seed']}")
        tests = {"seen": instances(state.splits["id"], SEEN, rng, mv),
                 "unseen": instances(state.splits["id"], UNSEEN, rng, mv)}
        return {"chain": state, "tests": tests}

    def run_cell(self, ctx: RunContext, state: dict, arm: str, seed: int) -> CellResult:
        p = ctx.params
        chain, tests = state["chain"], state["tests"]
        mv = p["world"]["max_value"]
        budget: dict[str, float] = {}
        curves = {}
        if arm == "random-guess":
            rng = random.Random(f"guess:{seed}")
            outputs = {sp: [rng.choice(i.space) for i in tests[sp]] for sp in SPLITS}
        else:
            model, tok = load_model(str(chain.base_dir))
            demos = _demos(chain.splits["train"], seed, mv)
            rng = random.Random(f"tuning:{seed}")
            train_items = instances(chain.splits["train"], SEEN, rng, mv)
            rng.shuffle(train_items)
            train_items = train_items[:p["tuning"]["examples"]]
            prompts = _prompts(train_items, arm, demos, random.Random(f"demo:{seed}"))
            records = [{"prompt": q, "completion": i.answer + "\n"}
                       for q, i in zip(prompts, train_items, strict=True)]
            tu = p["tuning"]
            cfg = TrainConfig(learning_rate=tu["learning_rate"], epochs=1,
                              batch_size=tu["batch_size"], seed=seed)
            result = train(model, tok, records, cfg, ctx.work_dir(f"{arm}__seed{seed}"),
                           progress=ctx.progress)
            budget = {"tokens": result.tokens, "loss_tokens": result.loss_tokens,
                      "steps": result.steps, "examples": len(records), "wall_s": result.wall_s}
            curves["train_loss"] = [list(pt) for pt in result.loss_curve]
            outputs = {}
            for sp in SPLITS:
                qs = _prompts(tests[sp], arm, demos, random.Random(f"eval-demo:{sp}"))
                gen = generate(model, tok, qs, p["answer_tokens"], stop=["\n"])
                outputs[sp] = [read_output(o[0]) for o in gen]
        scores = {"solve_accuracy": {}, "format_rate": {}}
        by_task: dict[str, dict[str, float]] = {}
        for sp in SPLITS:
            scores["solve_accuracy"][sp] = [float(o == i.answer)
                                            for o, i in zip(outputs[sp], tests[sp], strict=True)]
            scores["format_rate"][sp] = [float(o in i.space)
                                         for o, i in zip(outputs[sp], tests[sp], strict=True)]
            for task in dict.fromkeys(i.task for i in tests[sp]):
                hits = [s for s, i in zip(scores["solve_accuracy"][sp], tests[sp], strict=True)
                        if i.task == task]
                by_task[task] = {"solve_accuracy": sum(hits) / len(hits)}
        groups = {sp: [chain.splits["id"][k].difficulty for k in range(len(tests[sp]))]
                  for sp in SPLITS}
        extra = {"scores": scores, "by_task": by_task,
                 "examples": {sp: [{"answer": i.answer, "output": o} for i, o in
                                   zip(tests[sp][:4], outputs[sp][:4], strict=True)]
                              for sp in SPLITS}}
        return CellResult(scores, budget, groups, curves, extra)

    def conclusions(self, results: dict) -> list[str]:
        out = [describe_difference(c) for c in results["comparisons"]
               if c["arm"] != "random-guess"]
        out += [describe_difference(_paired(results, arm, "random-guess", "solve_accuracy", sp))
                for arm in TUNED for sp in SPLITS]
        tasks = results["extra"]["full"][0]["by_task"]
        out.append(f"Per task type, mean solve_accuracy ({' / '.join(self.arms)}): " + "; ".join(
                       f"{t} " + " / ".join(f"{100 * _task_mean(results, a, t):.0f}"
                                           for a in self.arms) for t in tasks) + ".")
        return out

    def extra_plots(self, results: dict, out_dir: Path) -> list[tuple[str, str]]:
        made = difference_bars(results, "solve_accuracy", out_dir, "differences.png")
        return [made] if made else []


def _task_mean(results: dict, arm: str, task: str) -> float:
    runs = results["extra"][arm]
    return sum(r["by_task"][task]["solve_accuracy"] for r in runs) / len(runs)


def _paired(results: dict, arm: str, baseline: str, metric: str, split: str) -> dict:
    """A paired difference between two arms from their per-item scores kept in `extra`."""
    a = [r["scores"][metric][split] for r in results["extra"][arm]]
    b = [r["scores"][metric][split] for r in results["extra"][baseline]]
    return {"arm": arm, "baseline": baseline, "metric": metric, "split": split,
            **paired_difference(a, b)}
