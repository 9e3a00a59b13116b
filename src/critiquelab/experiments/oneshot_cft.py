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
from itertools import islice
from pathlib import Path

from critiquelab.data.builders import sft_records
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
from critiquelab.evaluation.stats import paired_difference
from critiquelab.experiments import register_experiment
from critiquelab.experiments.cft_vs_sft import CftVsSft
from critiquelab.experiments.chain_common import EVAL, ChainState, chain_setup, evaluate
from critiquelab.experiments.spec import CellResult, Experiment, RunContext
from critiquelab.models import load_model
from critiquelab.reporting.report import describe_difference
from critiquelab.training import TrainConfig, train
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
    base = CftVsSft.presets[name]
    return {**base, "oneshot": {
        "seed_problems": 3, "temperatures": (0.7, 1.0, 1.3), "samples": 12, "injected": 12,
        "injector_error_rate": 0.5, "single_temperature": 1.0, "keep_agreeing": True,
        "critics": ("exact/steps", "exact/terse", "exact/explained", "noisy-0.2-s1/steps",
                    "noisy-0.2-s2/terse"),
        "learning_rate": base["finetune"]["learning_rate"],
        "batch_size": base["finetune"]["batch_size"],
        "rlvr": {"learning_rate": 1e-4, "batch_size": 16, "num_generations": 8,
                 "max_completion_length": 160, "temperature": 1.0}, **oneshot}}


SMOKE = _preset("smoke", seed_problems=2, samples=4, injected=8, steps=16, eval_every=8,
                rlvr={"learning_rate": 1e-4, "batch_size": 8, "num_generations": 4,
                      "max_completion_length": 48, "temperature": 1.0})
DEFAULT = _preset("default", steps=32, eval_every=16, batch_size=16,  # fits 10 min on 2 cores
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


def sft_chunks(model, tokenizer, records: list[dict], opts: dict, seed: int,
               work: Path) -> ChunkTrainer:
    """SFT in chunks: each call resumes from the last checkpoint (constant learning rate, so
    cutting the run at evaluation points changes nothing) and trains up to `step`."""
    def train_to(step: int) -> Trained:
        cfg = TrainConfig(learning_rate=opts["learning_rate"], max_steps=step,
                          batch_size=opts["batch_size"], lr_scheduler="constant",
                          warmup_ratio=0.0, save_steps=opts["eval_every"], seed=seed)
        r = train(model, tokenizer, records, cfg, work)
        return Trained(r.steps, r.tokens, r.loss_tokens, r.wall_s,
                       [list(pt) for pt in r.loss_curve])
    return train_to


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


@register_experiment
class OneShotCft(Experiment):
    name = "oneshot-cft"
    title = "One-shot critique fine-tuning vs imitation on the chain world"
    question = ("Does fine-tuning on critiques of many candidate solutions to one problem teach "
                "a model to solve better than imitating that problem's correct solutions, or "
                "than imitating a full training set for as many steps?")
    arms = ("base", "sft-1shot", "sft-full", "cft-1shot", "cft-1shot-1gen", "rlvr-1shot")
    presets = {"smoke": SMOKE, "default": DEFAULT}
    metrics = ("solve_accuracy", "format_rate")
    splits = EVAL
    baseline = "sft-full"
    seed_invariant_arms = ("base",)

    def setup(self, ctx: RunContext) -> OneShotState:
        chain = chain_setup(ctx)
        n = ctx.params["oneshot"]["seed_problems"]
        return OneShotState(chain, seed_problem_pool(chain, n, ctx.params["data_seed"]))

    def run_cell(self, ctx: RunContext, state: OneShotState, arm: str, seed: int) -> CellResult:
        p, opts = ctx.params, ctx.params["oneshot"]
        model, tok = load_model(str(state.chain.base_dir))
        problem = state.seed_problems[seed % len(state.seed_problems)]
        budget: dict[str, float] = {"tokens": 0, "loss_tokens": 0, "steps": 0, "examples": 0,
                                    "wall_s": 0.0}
        curves, extra = {}, {"seed_problem": problem.text}
        if arm != "base":
            build, data_s = (None, 0.0) if arm in ("sft-full", "rlvr-1shot") else self.build(
                ctx, state, problem, seed, model, tok, _which(arm))
            records = [] if arm == "rlvr-1shot" else self.records(ctx, state, arm, seed, build)
            work = ctx.work_dir(f"{arm}__seed{seed}")
            shutil.rmtree(work)  # a rerun of this cell starts clean
            train_to = self.chunk_trainer(state, arm, problem, model, tok, records, opts, seed,
                                          work)
            val = state.chain.splits["validation"]
            sel = select_on_validation(
                model, train_to, opts["steps"], opts["eval_every"],
                lambda: _mean(solve_scores(state.chain.world, model, tok, state.chain.fmt, val,
                                           p["max_new_tokens"]).scores["solve_accuracy"]))
            shutil.rmtree(work, ignore_errors=True)
            r = sel.result
            examples = len(records) or 1  # RLVR trains on the seed problem alone
            budget = {"tokens": r.tokens, "loss_tokens": r.loss_tokens, "steps": r.steps,
                      "examples": examples, "best_step": sel.best_step, "wall_s": sel.train_s,
                      "select_s": sel.select_s, "data_s": data_s}
            if records:
                budget["epochs"] = r.steps * opts["batch_size"] / len(records)
            curve_name = "reward" if arm == "rlvr-1shot" else "train_loss"
            curves = {curve_name: r.curve, "validation_accuracy": sel.curve}
            if build is not None:
                extra["data"] = build.summary()
        scores, groups = evaluate(state.chain, model, tok, p, critique=False)
        extra["solve_accuracy"] = scores["solve_accuracy"]
        return CellResult(scores, budget, groups, curves, extra)

    def records(self, ctx: RunContext, state: OneShotState, arm: str, seed: int,
                build: OneShotBuild | None) -> list[dict]:
        """The arm's training records: one-shot critiques or solutions, or a full SFT set."""
        opts = ctx.params["oneshot"]
        if build is None:
            rng = random.Random(f"{arm}:{seed}")
            problems = list(state.chain.splits["train"])
            rng.shuffle(problems)
            stream = sft_records(state.chain.world, problems, state.chain.fmt, rng, "gold", 0.0)
            return list(islice(stream, opts["steps"] * opts["batch_size"]))
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

    def chunk_trainer(self, state: OneShotState, arm: str, problem: Problem, model, tok,
                      records: list[dict], opts: dict, seed: int, work: Path) -> ChunkTrainer:
        """How an arm trains up to a step: RLVR on the seed problem, or SFT on its records."""
        if arm == "rlvr-1shot":
            return rlvr_chunks(model, tok, state.chain, problem, opts, seed, work)
        return sft_chunks(model, tok, records, opts, seed, work)

    def conclusions(self, results: dict) -> list[str]:
        out = []
        for other in ("sft-1shot", "sft-full", "base", "cft-1shot-1gen", "rlvr-1shot"):
            for sp in self.splits:
                out.append(describe_difference(paired(results, "cft-1shot", other, sp)))
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
            f"{b[a].get('wall_s', 0) + b[a].get('select_s', 0) + b[a].get('data_s', 0):.0f} s"
            for a in self.arms if a != "base") + " (training + validation + data building).")
        return out

    def extra_plots(self, results: dict, out_dir: Path) -> list[tuple[str, str]]:
        from critiquelab.reporting.lines import step_curves

        made = [step_curves(results, "validation_accuracy", out_dir, "validation solve accuracy"),
                step_curves(results, "reward", out_dir, "rlvr-1shot mean reward")]
        return [m for m in made if m]


def paired(results: dict, arm: str, other: str, split: str) -> dict:
    """Paired bootstrap difference of solve accuracy between two arms, from cell extras."""
    a = [c["solve_accuracy"][split] for c in results["extra"][arm]]
    b = [c["solve_accuracy"][split] for c in results["extra"][other]]
    return {"arm": arm, "baseline": other, "metric": "solve_accuracy", "split": split,
            **paired_difference(a, b)}


def _which(arm: str) -> str:
    """Which one-shot build an arm trains on: every generator, or one."""
    return "1gen" if arm == "cft-1shot-1gen" else "all"


def _mean(xs: list[float]) -> float:
    return sum(xs) / len(xs) if xs else 0.0
