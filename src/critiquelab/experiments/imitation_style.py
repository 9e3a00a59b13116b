"""imitation-style: does imitating a stronger teacher copy its style or its capability
(CLAIMS.md C2)?

The teacher is the exact solver writing in a distinctive confident voice (data/styles.py).
It demonstrates only on a narrow slice of problems (the lowest composed in-distribution
difficulty).
The student is the cached chain-world base, which has never seen that voice; `imitation`
fine-tunes it on the teacher's demonstrations, and `sft-gold`, the control, on the same
problems' gold solutions in the normal format for the same steps, so what imitation changes
beyond fine-tuning itself is its style. All are scored on held-out problems of the narrow
slice and on broad ones (the in- and out-of-distribution compositions at every other
difficulty) by the exact verifier and by an automatic rater that judges style alone
(evaluation/style.py). `teacher` is the reference row: the teacher's own solutions.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from itertools import cycle

from critiquelab.data.splits import SplitSpec, generate_problems, shared_signatures
from critiquelab.data.styles import confident_style
from critiquelab.errors import UsageError
from critiquelab.evaluation.stats import bootstrap_ci
from critiquelab.evaluation.style import approves, style_components, style_score
from critiquelab.experiments import register_experiment
from critiquelab.experiments.chain_common import (
    EVAL,
    FIT_GATE,
    PRESETS,
    ChainState,
    chain_setup,
)
from critiquelab.experiments.finetune import FinetuneSpec, finetune, take_examples
from critiquelab.experiments.spec import (
    Arm,
    CellResult,
    Comparison,
    Experiment,
    Gate,
    RunContext,
)
from critiquelab.formats import COMPACT, solve_record
from critiquelab.models import load_model
from critiquelab.models.generate import generate
from critiquelab.worlds import Problem, World

SPLITS = ("narrow", "broad")

SMOKE = {**PRESETS["smoke"], "max_new_tokens": 180}
# A firmer fine-tune than cft-vs-sft's: at its earlier budget of about 150k tokens and lr
# 3e-4 the student took on none of the teacher's voice; 160 steps of 32 is about the 600k
# tokens of the earlier run that did.
DEFAULT = {**PRESETS["default"], "max_new_tokens": 320,
           "finetune": {**PRESETS["default"]["finetune"], "steps": 160, "learning_rate": 1e-3}}


@dataclass
class StyleState:
    chain: ChainState
    narrow_train: list[Problem]
    tests: dict[str, list[Problem]]
    validation: list[Problem]  # the composed validation split and fresh narrow problems


def narrow_difficulty(params: dict) -> int:
    """The lowest composed in-distribution difficulty: recall facts are single computations
    that training repeats, so a narrow slice of them would test recall, not imitation."""
    recall = set(params.get("recall_difficulties", ()))
    composed = [d for d in params["id_difficulties"] if d not in recall]
    if not composed:
        raise UsageError("imitation-style needs an id difficulty that is not a recall one")
    return min(composed)


def narrow_splits(world: World, splits: dict[str, list[Problem]], params: dict
                  ) -> tuple[list[Problem], list[Problem]]:
    """Fresh narrow test and validation problems whose computations (signatures) occur in no
    training or pretraining problem, and which repeat no problem of any split."""
    narrow, seed = narrow_difficulty(params), params["data_seed"]
    used = {p.id for ps in splits.values() for p in ps}
    trained = {world.signature(p) for sp in ("train", "pretrain") for p in splits[sp]}
    test = generate_problems(world, SplitSpec(params["n_eval"], (narrow,)),
                             random.Random(f"narrow:{seed}"), used, signatures=trained)
    validation = generate_problems(world, SplitSpec(params["n_validation"], (narrow,)),
                                   random.Random(f"narrow-validation:{seed}"),
                                   used | {p.id for p in test}, signatures=trained)
    return test, validation


def broad_problems(splits: dict[str, list[Problem]], narrow: int) -> list[Problem]:
    """The compositions (every evaluation split but recall) at every difficulty but the narrow
    one, so no broad problem is of the imitated kind."""
    broad = [q for sp in EVAL if sp != "recall" for q in splits[sp] if q.difficulty != narrow]
    if not broad:
        raise UsageError(f"no evaluation problem lies outside the narrow difficulty {narrow}")
    return broad


def narrow_records(chain: ChainState, problems: list[Problem], styled: bool,
                   seed: int) -> list[dict]:
    """The narrow problems in the seed's order (the same for every trained arm), each with the
    teacher's confident solution (`styled`) or the gold one in the normal format."""
    order = list(problems)
    random.Random(f"narrow-order:{seed}").shuffle(order)
    return [solve_record(chain.fmt, q.text, confident_style(chain.world.solve(q)) if styled
                         else chain.world.solve(q), problem_id=q.id) for q in order]


@register_experiment
class ImitationStyle(Experiment):
    name = "imitation-style"
    title = "Imitating a stronger teacher: style vs capability (chain world)"
    question = ("After imitating a strong teacher's confident solutions on a narrow slice of "
                "problems, does the student gain the teacher's style, its correctness, or both, "
                "on that slice and on broad held-out problems, beyond what plain fine-tuning on "
                "the same problems does; and does a rater that judges by style agree with the "
                "verifier?")
    # Each trained arm is gated on its own objective on validation: the teacher's style for
    # imitation; for the control, as for every chain SFT arm, the fit to held-out gold
    # solutions of the slice it trained on (chain_common.FIT_GATE), its checkpoint then picked
    # by solving among those that fit.
    arm_table = (Arm("base"),
                 Arm("imitation", "teacher-demonstrations", "style", "sft",
                     Gate("style_score", "arm:base")),
                 Arm("sft-gold", "gold-demonstrations", "solve", "sft", FIT_GATE),
                 Arm("teacher"))
    presets = {"smoke": SMOKE, "default": DEFAULT}
    metrics = ("solve_accuracy", "style_score", "rater_approval", "rater_disagreement")
    splits = SPLITS
    baseline = "base"
    seed_invariant_arms = ("base", "teacher")

    def comparisons(self) -> tuple[Comparison, ...]:
        """Every arm against the base, and imitation against the plain fine-tune."""
        return (*super().comparisons(), Comparison("imitation", "sft-gold"))

    def setup(self, ctx: RunContext) -> StyleState:
        """The base and its splits; narrow training problems from the train split; fresh narrow
        test and validation problems that share no computation with training; broad: the
        compositions outside the narrow difficulty. Validation holds as many narrow problems as
        composed ones, so each arm's objective is validated on the slice it trained on and
        beyond."""
        chain = chain_setup(ctx)
        narrow = narrow_difficulty(ctx.params)
        narrow_test, narrow_validation = narrow_splits(chain.world, chain.splits, ctx.params)
        tests = {"narrow": narrow_test, "broad": broad_problems(chain.splits, narrow)}
        narrow_train = [p for p in chain.splits["train"] if p.difficulty == narrow]
        trained = narrow_train + chain.splits["pretrain"]
        held_out = [p for t in (*tests.values(), narrow_validation) for p in t]
        if shared_signatures(chain.world, trained, held_out):
            raise AssertionError("test or validation computations leaked into training")
        return StyleState(chain, narrow_train, tests,
                          chain.splits["validation"] + narrow_validation)

    def outputs(self, ctx: RunContext, model, tok, problems: list[Problem]) -> list[str]:
        prompts = [COMPACT.solve_prompt(q.text) for q in problems]
        return [o[0] for o in generate(model, tok, prompts, ctx.params["max_new_tokens"])]

    def validation(self, ctx: RunContext, state: StyleState, model, tok) -> dict[str, list]:
        """Per-item solving and style on validation: the gates and the checkpoint choice."""
        problems = state.validation
        outs = self.outputs(ctx, model, tok, problems)
        world = state.chain.world
        pairs = list(zip(problems, outs, strict=True))
        return {"solve_accuracy": [float(world.verify(q, o).answer_correct) for q, o in pairs],
                "style_score": [float(style_score(o, confident_style(world.solve(q))))
                                for q, o in pairs]}

    def run_cell(self, ctx: RunContext, state: StyleState, arm: str, seed: int) -> CellResult:
        world = state.chain.world
        budget: dict[str, float] = {}
        curves, checkpoints, validation, items = {}, [], {}, {}
        if arm == "teacher":
            outputs = {sp: [confident_style(world.solve(q)) for q in state.tests[sp]]
                       for sp in SPLITS}
        else:
            model, tok = load_model(str(state.chain.base_dirs[ctx.base_of(seed)]))
            if self.arm(arm).trained:
                spec = FinetuneSpec.of(ctx.params["finetune"])
                records = take_examples(self.records(state, arm, seed), spec.examples, arm)

                def probe(m, t) -> dict:
                    got = self.validation(ctx, state, m, t)
                    return {"validation": {k: sum(v) / len(v) for k, v in got.items()},
                            "validation_items": got, "scores": {"solve_accuracy": {sp: self.solved(
                                state, sp, self.outputs(ctx, m, t, state.tests[sp]))
                                for sp in SPLITS}}}

                select = "style_score" if self.arm(arm).objective == "style" else "solve_accuracy"
                done = finetune(ctx, self.name, arm, seed, model, tok, records, spec, probe,
                                select, heldout=self.heldout(ctx, state, arm),
                                fit_gate=self.arm(arm).gate == FIT_GATE)
                model, tok = done.model, done.tokenizer
                budget = {**done.budget, "problems": len({r["problem_id"] for r in records})}
                curves, checkpoints, validation = done.curves, done.checkpoints, done.validation
                items = done.validation_items
            else:
                items = self.validation(ctx, state, model, tok)
                validation = {k: sum(v) / len(v) for k, v in items.items()}
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
        return CellResult(scores, budget, groups, curves, extra, validation, checkpoints, gens,
                          items)

    def solved(self, state: StyleState, split: str, outputs: list[str]) -> list[float]:
        return [float(state.chain.world.verify(q, o).answer_correct)
                for q, o in zip(state.tests[split], outputs, strict=True)]

    def heldout(self, ctx: RunContext, state: StyleState, arm: str) -> list[dict]:
        """For a fit-gated arm, gold records of the validation problems of its slice (the same
        for every seed), on which its fit is measured; none for the other arms."""
        if self.arm(arm).gate != FIT_GATE:
            return []
        narrow = narrow_difficulty(ctx.params)
        problems = [q for q in state.validation if q.difficulty == narrow]
        return narrow_records(state.chain, problems, styled=False, seed=0)

    def records(self, state: StyleState, arm: str, seed: int):
        """The arm's narrow demonstrations (the teacher's or gold), cycled."""
        styled = self.arm(arm).data == "teacher-demonstrations"
        return cycle(narrow_records(state.chain, state.narrow_train, styled, seed))

    def conclusions(self, results: dict) -> list[str]:
        arms, out = results["arms"], []
        if set(arms) != set(self.arms):
            return []
        trained = ("imitation", "sft-gold")
        verdict = {(c["arm"], c["metric"], c["split"]): c["verdict"]
                   for c in results["comparisons"] if c["baseline"] == "base"}
        for sp in SPLITS:
            for metric in ("style_score", "solve_accuracy"):
                b, t = (arms[a][metric][sp]["mean"] for a in ("base", "teacher"))
                if t == b:
                    continue
                closed = {a: 100 * (arms[a][metric][sp]["mean"] - b) / (t - b) for a in trained}
                means = (f"base {100 * b:.1f}, " + ", ".join(
                    f"{a} {100 * arms[a][metric][sp]['mean']:.1f}" for a in trained)
                    + f", teacher {100 * t:.1f}")
                held = [a for a in trained if verdict[a, metric, sp] != "ok"]
                if not held:
                    out.append(f"On {sp}, imitation closes {closed['imitation']:.0f}% of the "
                               f"base-to-teacher gap in {metric}, the plain fine-tune on gold "
                               f"solutions {closed['sft-gold']:.0f}% ({means}).")
                    continue
                gates = "its validity gate" if len(held) == 1 else "their validity gates"
                out.append(f"On {sp}, the share of the base-to-teacher gap in {metric} closed is "
                           f"withheld for {' and '.join(held)}, which failed {gates}" + "".join(
                               f"; {a} closes {closed[a]:.0f}%" for a in trained
                               if a not in held) + f" ({means}).")
        for arm in ("base", *trained):
            for sp in SPLITS:
                appr = arms[arm]["rater_approval"][sp]["mean"]
                solve = arms[arm]["solve_accuracy"][sp]["mean"]
                dis = arms[arm]["rater_disagreement"][sp]
                out.append(f"{arm} on {sp}: the style rater approves {100 * appr:.1f}% of "
                           f"answers, the verifier accepts {100 * solve:.1f}%; they disagree on "
                           f"{100 * dis['mean']:.1f}% [{100 * dis['ci95'][0]:.1f}, "
                           f"{100 * dis['ci95'][1]:.1f}] of problems.")
        for arm in ("base", *trained):
            ci = bootstrap_ci([r["chars"]["broad"] for r in results["extra"][arm]])
            out.append(f"{arm} writes {ci['mean']:.0f} characters per broad answer "
                       f"[{ci['ci95'][0]:.0f}, {ci['ci95'][1]:.0f}].")
        return out
