"""instructions: does instruction tuning teach the task or only its output format (CLAIMS.md C3)?

Twelve chain-world task types in four output spaces, two seen and one unseen per space, all
on the same kind of input (data/instruction_tasks.py), so within a space only the instruction
tells the seen tasks apart. Each arm tunes the cached chain-world base for the same optimizer
steps at the same batch size on the same instances of the eight seen types; only the
instruction differs: `full` (the output space and a worked example defining the task, in the
pretraining vocabulary), `simplified` (the output space alone), `empty` (nothing), `delusive`
(the full instruction plus a demonstration whose answer is wrong). Every arm is then scored
on held-out problems of the seen and of the four unseen types, prompted in its own style.
`random-guess` needs no model: a uniform draw from each instance's output space, which is the
space's (never the task's).
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
from critiquelab.experiments import register_experiment
from critiquelab.experiments.chain_common import PRESETS, chain_setup
from critiquelab.experiments.finetune import FinetuneSpec, finetune, take_examples
from critiquelab.experiments.spec import Arm, CellResult, Comparison, Experiment, Gate, RunContext
from critiquelab.models import load_model
from critiquelab.models.generate import generate
from critiquelab.reporting.differences import difference_bars

SPLITS = ("seen", "unseen")
TUNED = ("full", "simplified", "empty", "delusive")

SMOKE = {**PRESETS["smoke"], "answer_tokens": 8,
         "finetune": {"steps": 10, "learning_rate": 1e-3, "batch_size": 16,
                      "checkpoints": (0.25, 0.5, 1.0)}}
DEFAULT = {**PRESETS["default"], "answer_tokens": 8,  # 80 x 32: about the 2,500 examples before
           "finetune": {"steps": 80, "learning_rate": 1e-3, "batch_size": 32,
                        "checkpoints": (0.125, 0.25, 0.5, 1.0)}}
# A tuned arm must answer validation instances of the seen types better than a uniform guess.
GATE = Gate("solve_accuracy", "trivial")


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
    arm_table = (*(Arm(a, a, "task", "sft", GATE) for a in TUNED), Arm("random-guess"))
    presets = {"smoke": SMOKE, "default": DEFAULT}
    metrics = ("solve_accuracy", "format_rate")
    splits = SPLITS
    baseline = "full"

    def comparisons(self) -> tuple[Comparison, ...]:
        return (*(Comparison(a, "full") for a in self.arms if a != "full"),
                *(Comparison(a, "random-guess", ("solve_accuracy",)) for a in TUNED))

    def setup(self, ctx: RunContext) -> dict:
        """The base, and the evaluation instances (seen and unseen types on held-out problems,
        seen types on validation problems)."""
        state = chain_setup(ctx)
        mv = ctx.params["world"]["max_value"]
        rng = random.Random(f"instances:{ctx.params['data_seed']}")
        tests = {"seen": instances(state.splits["id"], SEEN, rng, mv),
                 "unseen": instances(state.splits["id"], UNSEEN, rng, mv)}
        tests["validation"] = instances(state.splits["validation"], SEEN, rng, mv)
        return {"chain": state, "tests": tests}

    def trivial(self, ctx: RunContext, state: dict) -> dict:
        """A uniform guess within each instance's output space."""
        return {"solve_accuracy": {sp: sum(1 / len(i.space) for i in items) / len(items)
                                   for sp, items in state["tests"].items()}}

    def answers(self, ctx: RunContext, state: dict, model, tok, arm: str, split: str
                ) -> list[str]:
        demos = _demos(state["chain"].splits["train"], 0, ctx.params["world"]["max_value"])
        qs = _prompts(state["tests"][split], arm, demos, random.Random(f"eval-demo:{split}"))
        gen = generate(model, tok, qs, ctx.params["answer_tokens"], stop=["\n"])
        return [read_output(o[0]) for o in gen]

    def run_cell(self, ctx: RunContext, state: dict, arm: str, seed: int) -> CellResult:
        p = ctx.params
        chain, tests = state["chain"], state["tests"]
        mv = p["world"]["max_value"]
        budget: dict[str, float] = {}
        curves, checkpoints, validation, validation_items = {}, [], {}, {}
        if arm == "random-guess":
            rng = random.Random(f"guess:{seed}")
            outputs = {sp: [rng.choice(i.space) for i in tests[sp]] for sp in SPLITS}
        else:
            model, tok = load_model(str(chain.base_dirs[ctx.base_of(seed)]))
            demos = _demos(chain.splits["train"], seed, mv)
            rng = random.Random(f"tuning:{seed}")
            train_items = instances(chain.splits["train"], SEEN, rng, mv)
            rng.shuffle(train_items)
            prompts = _prompts(train_items, arm, demos, random.Random(f"demo:{seed}"))
            stream = ({"prompt": q, "completion": i.answer + "\n"}
                      for q, i in zip(prompts, train_items, strict=True))
            spec = FinetuneSpec.of(p["finetune"])
            records = take_examples(stream, spec.examples, arm)

            def probe(m, t) -> dict:
                got = {sp: _score(self.answers(ctx, state, m, t, arm, sp), tests[sp])
                       for sp in ("validation", *SPLITS)}
                return {"validation": {k: sum(v) / len(v) for k, v in got["validation"].items()},
                        "validation_items": got["validation"],
                        "scores": {k: {sp: got[sp][k] for sp in SPLITS}
                                   for k in got["validation"]}}

            done = finetune(ctx, self.name, arm, seed, model, tok, records, spec, probe,
                            "solve_accuracy")
            budget, curves = done.budget, done.curves
            checkpoints, validation = done.checkpoints, done.validation
            validation_items = done.validation_items
            outputs = {sp: self.answers(ctx, state, done.model, done.tokenizer, arm, sp)
                       for sp in SPLITS}
        scores = {"solve_accuracy": {}, "format_rate": {}}
        by_task: dict[str, dict[str, float]] = {}
        gens = []
        for sp in SPLITS:
            got = _score(outputs[sp], tests[sp])
            for m in scores:
                scores[m][sp] = got[m]
                gens += [{"item": f"{i.task}:{k}", "split": sp, "metric": m, "prompt": i.task,
                          "output": o, "score": sc}
                         for k, (i, o, sc) in enumerate(zip(tests[sp], outputs[sp], got[m],
                                                            strict=True))]
            for task in dict.fromkeys(i.task for i in tests[sp]):
                hits = [s for s, i in zip(scores["solve_accuracy"][sp], tests[sp], strict=True)
                        if i.task == task]
                by_task[task] = {"solve_accuracy": sum(hits) / len(hits)}
        groups = {sp: [chain.splits["id"][k].difficulty for k in range(len(tests[sp]))]
                  for sp in SPLITS}
        extra = {"by_task": by_task,
                 "examples": {sp: [{"answer": i.answer, "output": o} for i, o in
                                   zip(tests[sp][:4], outputs[sp][:4], strict=True)]
                              for sp in SPLITS}}
        return CellResult(scores, budget, groups, curves, extra, validation, checkpoints, gens,
                          validation_items)

    def conclusions(self, results: dict) -> list[str]:
        if "full" not in results["extra"]:
            return []
        tasks = results["extra"]["full"][0]["by_task"]
        arms = list(results["arms"])
        return [f"Per task type, mean solve_accuracy ({' / '.join(arms)}): " + "; ".join(
            f"{t} " + " / ".join(f"{100 * _task_mean(results, a, t):.0f}" for a in arms)
            for t in tasks) + "."]

    def extra_plots(self, results: dict, out_dir: Path) -> list[tuple[str, str]]:
        made = difference_bars(results, "solve_accuracy", out_dir, "differences.png")
        return [made] if made else []


def _task_mean(results: dict, arm: str, task: str) -> float:
    runs = results["extra"][arm]
    return sum(r["by_task"][task]["solve_accuracy"] for r in runs) / len(runs)


def _score(outputs: list[str], items: list[Instance]) -> dict[str, list[float]]:
    """Right answer, and an answer inside the output space, per instance."""
    return {"solve_accuracy": [float(o == i.answer) for o, i in zip(outputs, items, strict=True)],
            "format_rate": [float(o in i.space) for o, i in zip(outputs, items, strict=True)]}
