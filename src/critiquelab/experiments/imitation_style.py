"""imitation-style: does imitating a stronger teacher copy its style or its capability
(CLAIMS.md C2)?

The teacher is the exact solver writing in a distinctive confident voice (data/styles.py).
It demonstrates only on a narrow slice of problems (the lowest in-distribution difficulty).
The student is the cached chain-world base, which has never seen that voice; `imitation`
fine-tunes it on the teacher's demonstrations. Both are scored on held-out problems of the
narrow slice and on broad ones (every in- and out-of-distribution difficulty) by the exact
verifier and by an automatic rater that judges style alone (evaluation/style.py).
`teacher` is the reference row: the teacher's own solutions to the test problems.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from itertools import cycle

from critiquelab.data.splits import SplitSpec, generate_problems, leaked_ids
from critiquelab.data.styles import confident_style
from critiquelab.evaluation.stats import bootstrap_ci
from critiquelab.evaluation.style import approves, style_components, style_score
from critiquelab.experiments import register_experiment
from critiquelab.experiments.chain_common import EVAL, PRESETS, ChainState, chain_setup
from critiquelab.experiments.finetune import FinetuneSpec, finetune, take_examples
from critiquelab.experiments.spec import Arm, CellResult, Experiment, Gate, RunContext
from critiquelab.formats import COMPACT, solve_record
from critiquelab.models import load_model
from critiquelab.models.generate import generate
from critiquelab.worlds import Problem

SPLITS = ("narrow", "broad")

SMOKE = {**PRESETS["smoke"], "max_new_tokens": 180}
# A firmer fine-tune than cft-vs-sft's: at its 150k tokens and lr 3e-4 the student took on
# none of the teacher's voice (style_score fell 4 points; docs/experiments/imitation-style.md).
# 160 steps of 32 is about the 600k tokens that run used.
DEFAULT = {**PRESETS["default"], "max_new_tokens": 320,
           "finetune": {**PRESETS["default"]["finetune"], "steps": 160, "learning_rate": 1e-3}}


@dataclass
class StyleState:
    chain: ChainState
    narrow_train: list[Problem]
    tests: dict[str, list[Problem]]


def narrow_difficulty(params: dict) -> int:
    return min(params["id_difficulties"])


@register_experiment
class ImitationStyle(Experiment):
    name = "imitation-style"
    title = "Imitating a stronger teacher: style vs capability (chain world)"
    question = ("After imitating a strong teacher's confident solutions on a narrow slice of "
                "problems, does the student gain the teacher's style, its correctness, or both, "
                "on that slice and on broad held-out problems; and does a rater that judges by "
                "style agree with the verifier?")
    arm_table = (Arm("base"), Arm("imitation", "teacher-demonstrations", "style", "sft",
                                  Gate("style_score", "arm:base")), Arm("teacher"))
    presets = {"smoke": SMOKE, "default": DEFAULT}
    metrics = ("solve_accuracy", "style_score", "rater_approval", "rater_disagreement")
    splits = SPLITS
    baseline = "base"
    seed_invariant_arms = ("base", "teacher")

    def setup(self, ctx: RunContext) -> StyleState:
        """The base and its splits; narrow training problems from the train split; a fresh
        narrow test split that excludes every other problem; broad = every evaluation split but
        recall (the compositions: id and the ood kinds)."""
        chain = chain_setup(ctx)
        narrow = narrow_difficulty(ctx.params)
        used = {p.id for ps in chain.splits.values() for p in ps}
        rng = random.Random(f"narrow:{ctx.params['data_seed']}")
        narrow_test = generate_problems(chain.world, SplitSpec(ctx.params["n_eval"], (narrow,)),
                                        rng, used)
        broad = [q for sp in EVAL if sp != "recall" for q in chain.splits[sp]]
        tests = {"narrow": narrow_test, "broad": broad}
        narrow_train = [p for p in chain.splits["train"] if p.difficulty == narrow]
        trained = narrow_train + chain.splits["pretrain"]
        if any(leaked_ids(trained, t) for t in tests.values()):
            raise AssertionError("test problems leaked into the training problems")
        return StyleState(chain, narrow_train, tests)

    def outputs(self, ctx: RunContext, model, tok, problems: list[Problem]) -> list[str]:
        prompts = [COMPACT.solve_prompt(q.text) for q in problems]
        return [o[0] for o in generate(model, tok, prompts, ctx.params["max_new_tokens"])]

    def validation(self, ctx: RunContext, state: StyleState, model, tok) -> dict[str, float]:
        """Solving and style on the validation split: the gate and the checkpoint choice."""
        problems = state.chain.splits["validation"]
        outs = self.outputs(ctx, model, tok, problems)
        world = state.chain.world
        n = len(problems)
        return {"solve_accuracy": sum(world.verify(q, o).answer_correct
                                      for q, o in zip(problems, outs, strict=True)) / n,
                "style_score": sum(style_score(o, confident_style(world.solve(q)))
                                   for q, o in zip(problems, outs, strict=True)) / n}

    def run_cell(self, ctx: RunContext, state: StyleState, arm: str, seed: int) -> CellResult:
        world = state.chain.world
        budget: dict[str, float] = {}
        curves, checkpoints, validation = {}, [], {}
        if arm == "teacher":
            outputs = {sp: [confident_style(world.solve(q)) for q in state.tests[sp]]
                       for sp in SPLITS}
        else:
            model, tok = load_model(str(state.chain.base_dirs[ctx.base_of(seed)]))
            if self.arm(arm).trained:
                spec = FinetuneSpec.of(ctx.params["finetune"])
                records = take_examples(self.records(state, arm, seed), spec.examples, arm)

                def probe(m, t) -> dict:
                    return {"validation": self.validation(ctx, state, m, t),
                            "scores": {"solve_accuracy": {sp: self.solved(
                                state, sp, self.outputs(ctx, m, t, state.tests[sp]))
                                for sp in SPLITS}}}

                done = finetune(ctx, self.name, arm, seed, model, tok, records, spec, probe,
                                "style_score")
                model, tok = done.model, done.tokenizer
                budget = {**done.budget, "problems": len({r["problem_id"] for r in records})}
                curves, checkpoints, validation = done.curves, done.checkpoints, done.validation
            else:
                validation = self.validation(ctx, state, model, tok)
            outputs = {sp: self.outputs(ctx, model, tok, state.tests[sp]) for sp in SPLITS}
        scores: dict[str, dict[str, list[float]]] = {m: {} for m in self.metrics}
        extra: dict = {"components": {}, "chars": {}, "examples": {}}
        gens = []
        for sp in SPLITS:
            tests = state.tests[sp]
            refs = [confident_style(world.solve(q)) for q in tests]
            solved = self.solved(state, sp, outputs[sp])
            approved = [float(approves(o, r)) for o, r in zip(outputs[sp], refs, strict=True)]
            scores["solve_accuracy"][sp] = solved
            scores["style_score"][sp] = [style_score(o, r)
                                         for o, r in zip(outputs[sp], refs, strict=True)]
            scores["rater_approval"][sp] = approved
            scores["rater_disagreement"][sp] = [float(a != s)
                                                for a, s in zip(approved, solved, strict=True)]
            comps = [style_components(o, r) for o, r in zip(outputs[sp], refs, strict=True)]
            extra["components"][sp] = {k: sum(c[k] for c in comps) / len(comps)
                                       for k in comps[0]}
            extra["chars"][sp] = [float(len(o.strip())) for o in outputs[sp]]
            extra["examples"][sp] = outputs[sp][:2]
            gens += [{"item": q.id, "split": sp, "metric": m,
                      "prompt": COMPACT.solve_prompt(q.text), "output": o, "score": sc}
                     for m in self.metrics
                     for q, o, sc in zip(tests, outputs[sp], scores[m][sp], strict=True)]
        groups = {sp: [q.difficulty for q in state.tests[sp]] for sp in SPLITS}
        return CellResult(scores, budget, groups, curves, extra, validation, checkpoints, gens)

    def solved(self, state: StyleState, split: str, outputs: list[str]) -> list[float]:
        return [float(state.chain.world.verify(q, o).answer_correct)
                for q, o in zip(state.tests[split], outputs, strict=True)]

    def records(self, state: StyleState, arm: str, seed: int):
        """The teacher's confident demonstrations on the narrow slice, in a seeded order."""
        problems = list(state.narrow_train)
        random.Random(f"{arm}:{seed}").shuffle(problems)
        return cycle([solve_record(state.chain.fmt, q.text,
                                   confident_style(state.chain.world.solve(q)), problem_id=q.id)
                      for q in problems])

    def conclusions(self, results: dict) -> list[str]:
        arms, out = results["arms"], []
        if set(arms) != set(self.arms):
            return []
        for sp in SPLITS:
            for metric in ("style_score", "solve_accuracy"):
                b, i, t = (arms[a][metric][sp]["mean"] for a in self.arms)
                if t != b:
                    out.append(f"On {sp}, imitation closes {100 * (i - b) / (t - b):.0f}% of the "
                               f"base-to-teacher gap in {metric} ({100 * b:.1f} -> {100 * i:.1f}; "
                               f"teacher {100 * t:.1f}).")
        for arm in ("base", "imitation"):
            for sp in SPLITS:
                appr = arms[arm]["rater_approval"][sp]["mean"]
                solve = arms[arm]["solve_accuracy"][sp]["mean"]
                dis = arms[arm]["rater_disagreement"][sp]
                out.append(f"{arm} on {sp}: the style rater approves {100 * appr:.1f}% of "
                           f"answers, the verifier accepts {100 * solve:.1f}%; they disagree on "
                           f"{100 * dis['mean']:.1f}% [{100 * dis['ci95'][0]:.1f}, "
                           f"{100 * dis['ci95'][1]:.1f}] of problems.")
        for arm in ("base", "imitation"):
            ci = bootstrap_ci([r["chars"]["broad"] for r in results["extra"][arm]])
            out.append(f"{arm} writes {ci['mean']:.0f} characters per broad answer "
                       f"[{ci['ci95'][0]:.0f}, {ci['ci95'][1]:.0f}].")
        return out
