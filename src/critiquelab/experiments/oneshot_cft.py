"""oneshot-cft: critique fine-tuning on one problem (CLAIMS.md C4) on the chain world.

Every arm starts from the cached base of cft-vs-sft. One seed problem from the training split
gets candidate solutions from the base at several temperatures and from the error injector,
and critiques from several teachers; critiques with a wrong verdict are dropped. Every trained
arm takes the same number of optimizer steps (many epochs over one-shot data), is scored on
the validation split every `eval_every` steps, and keeps its best checkpoint; test splits are
scored once, at the end. `rlvr-1shot` is the RL yardstick: GRPO on the seed problem alone,
rewarded by the world's verifier, for as many optimizer steps. Cell seed k uses seed problem
k mod `seed_problems`.
"""

from __future__ import annotations

import random
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import cycle, islice
from pathlib import Path

from critiquelab.data.oneshot import (
    InjectorGenerator,
    ModelGenerator,
    OneShotBuild,
    build_oneshot,
    critic_teacher,
    solution_records,
    world_judge,
)
from critiquelab.errors import UsageError
from critiquelab.evaluation.metrics import solve_scores
from critiquelab.experiments import register_experiment
from critiquelab.experiments.chain_common import (
    BASE,
    EVAL,
    PRESETS,
    SOLVE_GATE,
    ChainState,
    arm_records,
    chain_setup,
    evaluate,
    probe,
    trivial_baselines,
)
from critiquelab.experiments.finetune import FinetuneSpec, finetune, take_examples
from critiquelab.experiments.spec import Arm, CellResult, Comparison, Experiment, Gate, RunContext
from critiquelab.models import load_model
from critiquelab.training.rl import RLConfig, train_rlvr
from critiquelab.worlds import Problem


@dataclass
class Trained:
    """What a run has cost so far: the common ground of SFT and RL trainers."""

    steps: int
    tokens: int
    loss_tokens: int
    wall_s: float  # the last call only
    curve: list[list[float]]  # [step, training loss] (or reward, for an RL trainer)


ChunkTrainer = Callable[[int], Trained]  # trains the model in place up to a global step


def _preset(name: str, **oneshot) -> dict:
    """cft-vs-sft's preset (same world, splits and cached base) plus the one-shot settings."""
    base = PRESETS[name]
    return {**base, "oneshot": {
        "seed_problems": 3, "temperatures": (0.7, 1.0, 1.3), "samples": 12, "injected": 12,
        "injector_error_rate": 0.5, "single_temperature": 1.0, "keep_agreeing": True,
        "critics": ("exact/steps", "exact/terse", "exact/explained", "noisy-0.2-s1/steps",
                    "noisy-0.2-s2/terse"),
        "learning_rate": base["finetune"]["learning_rate"],
        "batch_size": base["finetune"]["batch_size"],
        "rlvr": {"learning_rate": 1e-4, "batch_size": 16, "num_generations": 8,
                 "max_completion_length": 160, "temperature": 1.0}, **oneshot}}


SMOKE = _preset("smoke", seed_problems=2, samples=4, injected=8, steps=16, eval_every=4,
                rlvr={"learning_rate": 1e-4, "batch_size": 8, "num_generations": 4,
                      "max_completion_length": 48, "temperature": 1.0})
DEFAULT = _preset("default", steps=32, eval_every=8, batch_size=16,
                  rlvr={"learning_rate": 1e-4, "batch_size": 8, "num_generations": 8,
                        "max_completion_length": 160, "temperature": 1.0})


@dataclass
class OneShotState:
    chain: ChainState
    seed_problems: list[Problem]
    builds: dict[tuple[str, int, str], tuple[OneShotBuild, float]] = field(default_factory=dict)


def seed_problem_pool(chain: ChainState, n: int, data_seed: int) -> list[Problem]:
    """n seeded training problems of the hardest in-distribution difficulty."""
    hardest = max(p.difficulty for p in chain.splits["train"])
    pool = [p for p in chain.splits["train"] if p.difficulty == hardest]
    if not 1 <= n <= len(pool):
        raise UsageError(f"seed_problems must be in 1..{len(pool)}, got {n}")
    return random.Random(f"seed-problems:{data_seed}").sample(pool, n)


def rlvr_chunks(model, tokenizer, chain: ChainState, problem: Problem, opts: dict, seed: int,
                work: Path) -> ChunkTrainer:
    """RLVR (GRPO) on one problem in chunks, each resuming from the last checkpoint; the curve
    is the mean verifier reward per step."""
    rl = opts["rlvr"]

    def train_to(step: int) -> Trained:
        cfg = RLConfig(learning_rate=rl["learning_rate"], max_steps=step,
                       batch_size=rl["batch_size"], num_generations=rl["num_generations"],
                       max_completion_length=rl["max_completion_length"],
                       temperature=rl["temperature"], save_steps=opts["eval_every"], seed=seed)
        r = train_rlvr(model, tokenizer, chain.world, [problem], chain.fmt, cfg, work)
        return Trained(r.steps, r.tokens, 0, r.wall_s, [list(pt) for pt in r.reward_curve])
    return train_to


@dataclass
class Selection:
    result: Trained
    best_step: int
    curve: list[list[float]]  # [step, validation solve accuracy]
    train_s: float
    select_s: float


def select_on_validation(model, train_to: ChunkTrainer, steps: int, every: int,
                         validate: Callable[[], float]) -> Selection:
    """Train to `steps`, scoring validation every `every` steps; load the best checkpoint
    (the earliest on ties) into the model."""
    best, best_step, best_state, curve = -1.0, 0, None, []
    train_s = select_s = 0.0
    for step in [*range(every, steps, every), steps]:
        result = train_to(step)
        train_s += result.wall_s
        start = time.perf_counter()
        score = validate()
        select_s += time.perf_counter() - start
        curve.append([step, score])
        if score > best:
            best, best_step = score, step
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    model.load_state_dict(best_state)
    return Selection(result, best_step, curve, train_s, select_s)


def spec_of(opts: dict) -> FinetuneSpec:
    """The one-shot settings as the finetune() helper's budget: validation every eval_every."""
    every, steps = opts["eval_every"], opts["steps"]
    return FinetuneSpec(steps, opts["learning_rate"], opts["batch_size"],
                        tuple(k / steps for k in (*range(every, steps, every), steps)))


ONE_SHOT_CRITIQUE = Gate("critique_accuracy", "trivial")


@register_experiment
class OneShotCft(Experiment):
    name = "oneshot-cft"
    title = "One-shot critique fine-tuning vs imitation on the chain world"
    question = ("Does fine-tuning on critiques of many candidate solutions to one problem teach "
                "a model to solve better than imitating that problem's correct solutions, or "
                "than imitating a full training set for as many steps?")
    arm_table = (BASE,
                 Arm("sft-1shot", "1shot-solutions", "solve", "sft", SOLVE_GATE),
                 Arm("sft-full", "full-gold", "solve", "sft", SOLVE_GATE),
                 Arm("cft-1shot", "1shot-critiques", "critique", "sft", ONE_SHOT_CRITIQUE),
                 Arm("cft-1shot-1gen", "1shot-critiques-1gen", "critique", "sft",
                     ONE_SHOT_CRITIQUE),
                 Arm("rlvr-1shot", "seed-problem", "reward", "rl", Gate("reward", "start")))
    presets = {"smoke": SMOKE, "default": DEFAULT}
    metrics = ("solve_accuracy", "format_rate")
    splits = EVAL
    baseline = "sft-full"
    seed_invariant_arms = ("base",)

    def comparisons(self) -> tuple[Comparison, ...]:
        return tuple(Comparison("cft-1shot", other) for other in (
            "sft-1shot", "sft-full", "base", "cft-1shot-1gen", "rlvr-1shot"))

    def setup(self, ctx: RunContext) -> OneShotState:
        chain = chain_setup(ctx)
        n = ctx.params["oneshot"]["seed_problems"]
        return OneShotState(chain, seed_problem_pool(chain, n, ctx.params["data_seed"]))

    def trivial(self, ctx: RunContext, state: OneShotState) -> dict:
        return trivial_baselines(state.chain)

    def run_cell(self, ctx: RunContext, state: OneShotState, arm: str, seed: int) -> CellResult:
        p, opts = ctx.params, ctx.params["oneshot"]
        model, tok = load_model(str(state.chain.base_dirs[ctx.base_of(seed)]))
        problem = state.seed_problems[seed % len(state.seed_problems)]
        spec = self.arm(arm)
        budget: dict[str, float] = {"tokens": 0, "loss_tokens": 0, "steps": 0, "examples": 0,
                                    "wall_s": 0.0}
        curves, extra, checkpoints, validation = {}, {"seed_problem": problem.text}, [], None
        solved: dict[str, list[str]] = {}
        if spec.trainer == "sft":
            build, data_s = (None, 0.0) if spec.data == "full-gold" else self.build(
                ctx, state, problem, seed, model, tok,
                "1gen" if spec.data.endswith("-1gen") else "all")
            records = self.records(ctx, state, arm, seed, build)
            ft = spec_of(opts)
            data = list(islice(cycle(records), ft.examples))
            done = finetune(ctx, self.name, arm, seed, model, tok, data, ft,
                            probe(state.chain, p), "solve_accuracy")
            # passes over the distinct records: for the whole budget, and up to the checkpoint
            # validation picked (the model that is scored)
            budget = {**done.budget, "examples": len(records), "data_s": data_s,
                      "epochs": ft.examples / len(records),
                      "picked_epochs": done.picked_steps * ft.batch_size / len(records)}
            curves, checkpoints, validation = done.curves, done.checkpoints, done.validation
            solved = done.outputs
            if build is not None:
                extra["data"] = build.summary()
        elif spec.trainer == "rl":
            work = ctx.work_dir(f"{arm}__seed{seed}")
            shutil.rmtree(work)  # a rerun of this cell starts clean
            train_to = rlvr_chunks(model, tok, state.chain, problem, opts, seed, work)
            val = state.chain.splits["validation"]
            sel = select_on_validation(
                model, train_to, opts["steps"], opts["eval_every"],
                lambda: _mean(solve_scores(state.chain.world, model, tok, state.chain.fmt, val,
                                           p["max_new_tokens"]).scores["solve_accuracy"]))
            shutil.rmtree(work, ignore_errors=True)
            r = sel.result
            budget = {"tokens": r.tokens, "loss_tokens": r.loss_tokens, "steps": r.steps,
                      "examples": 1, "picked_steps": sel.best_step, "wall_s": sel.train_s}
            curves = {"reward": r.curve, "validation_solve_accuracy": sel.curve}
        ev = evaluate(state.chain, model, tok, p, critique=False, validation=validation,
                      critique_gate=spec.objective == "critique", solved=solved)
        extra["solve_accuracy"] = ev.scores["solve_accuracy"]
        return CellResult(ev.scores, budget, ev.groups, curves, extra, ev.validation,
                          checkpoints, ev.generations)

    def records(self, ctx: RunContext, state: OneShotState, arm: str, seed: int,
                build: OneShotBuild | None) -> list[dict]:
        """The arm's training records: one-shot critiques or solutions, or a full SFT set."""
        if build is None:
            return take_examples(arm_records(state.chain, "gold", seed, 0.0, salt=arm),
                                 spec_of(ctx.params["oneshot"]).examples, arm)
        records = solution_records(build, state.chain.fmt) if arm == "sft-1shot" else build.records
        if not records:
            raise UsageError(f"{arm}: the one-shot build of seed {seed} kept no records; "
                             "raise the sample counts")
        return records

    def build(self, ctx: RunContext, state: OneShotState, problem: Problem, seed: int, model,
              tok, which: str) -> tuple[OneShotBuild, float]:
        """The one-shot data of (problem, seed) from every generator or from one, and the
        seconds it took; memoised, as arms of one seed share it."""
        key = (problem.id, seed, which)
        if key in state.builds:
            return state.builds[key]
        p, opts = ctx.params, ctx.params["oneshot"]
        world = state.chain.world

        def sampler(t: float) -> ModelGenerator:
            return ModelGenerator(f"base@T{t}", model, tok, t, max_new_tokens=p["max_new_tokens"],
                                  fmt=state.chain.fmt)

        if which == "1gen":
            total = opts["samples"] * len(opts["temperatures"]) + opts["injected"]
            generators = [(sampler(opts["single_temperature"]), total)]
        else:
            generators = [(sampler(t), opts["samples"]) for t in opts["temperatures"]]
            generators.append((InjectorGenerator(world, opts["injector_error_rate"]),
                               opts["injected"]))
        teachers = [critic_teacher(world, spec) for spec in opts["critics"]]
        start = time.perf_counter()
        build = build_oneshot(problem, generators, teachers, world_judge(world), state.chain.fmt,
                              opts["keep_agreeing"], seed)
        state.builds[key] = build, time.perf_counter() - start
        return state.builds[key]

    def conclusions(self, results: dict) -> list[str]:
        if set(results["arms"]) != set(self.arms):
            return []
        out = []
        seeds_of = results["extra"]["cft-1shot"]
        problems = list(dict.fromkeys(c["seed_problem"] for c in seeds_of))
        for arm in ("cft-1shot", "sft-1shot"):
            accs = [_mean([_mean(c["solve_accuracy"]["id"]) for c in results["extra"][arm]
                           if c["seed_problem"] == q]) for q in problems]
            out.append(f"{arm} id solve accuracy per seed problem ({len(problems)} problems): "
                       + ", ".join(f"{100 * a:.1f}%" for a in accs)
                       + f"; spread {100 * (max(accs) - min(accs)):.1f} points.")
        data = [c["data"] for c in seeds_of if "data" in c]
        if data:
            d = data[0]
            out.append(f"One-shot data (seed 0): {d['candidates']} candidates ({d['right']} right, "
                       f"{d['wrong']} wrong, {d['distinct']} distinct), {d['critiques']} "
                       f"critiques, {d['agree']} with the right verdict, {d['kept']} kept.")
        b = results["budget"]
        out.append("Cost per arm (mean over seeds): " + "; ".join(
            f"{a} {b[a]['tokens']:,.0f} tokens, {b[a]['steps']:.0f} steps, "
            f"{b[a].get('wall_s', 0) + b[a].get('data_s', 0):.0f} s"
            for a in self.arms if a != "base") + " (training with validation + data building).")
        return out

    def extra_plots(self, results: dict, out_dir: Path) -> list[tuple[str, str]]:
        from critiquelab.reporting.lines import step_curves

        made = [step_curves(results, "validation_solve_accuracy", out_dir,
                            "validation solve accuracy"),
                step_curves(results, "reward", out_dir, "rlvr-1shot mean reward")]
        return [m for m in made if m]


def _mean(xs: list[float]) -> float:
    return sum(xs) / len(xs) if xs else 0.0
