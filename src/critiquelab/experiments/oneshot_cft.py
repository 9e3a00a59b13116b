"""oneshot-cft: critique fine-tuning on one problem (CLAIMS.md C4) on the chain world.

Every arm starts from the cached base of cft-vs-sft. A seed problem from the training split
gets candidate solutions from the base at several temperatures and from the error injector,
and critiques from three families of teachers: the exact critic, a noisy critic and a model
critic (cft-vs-sft's CFT recipe run once from the base in set-up, cached in the run directory);
critiques with a wrong verdict are dropped. Every trained arm takes the same number of
optimizer steps at one batch size (many passes over the one-shot critiques), is scored on
the validation split every `eval_every` steps, and keeps its best checkpoint (chosen on
validation; each checkpoint's test outputs feed the curves and the kept one's the scores).
`rlvr-1shot` is the RL yardstick: GRPO on the seed problem alone,
rewarded by the world's verifier, for as many optimizer steps. Cells cross seed problems with
training seeds (`cell_design`), so the spread over problems and over seeds are separate.
"""

from __future__ import annotations

import json
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
    ModelTeacher,
    OneShotBuild,
    build_oneshot,
    critic_teacher,
    solution_records,
    world_judge,
)
from critiquelab.errors import UsageError
from critiquelab.evaluation.metrics import critique_scores, solve_scores
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
from critiquelab.io import atomic_write_json
from critiquelab.models import load_model, save_model
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
    """The shared chain preset (cft-vs-sft's world, splits and cached base; its `finetune`
    group is the model critic's recipe) plus the one-shot settings."""
    base = PRESETS[name]
    return {**base, "oneshot": {
        "seed_problems": 2, "temperatures": (0.7, 1.0, 1.3), "samples": 4, "injected": 8,
        "injector_error_rate": 0.5, "single_temperature": 1.0, "keep_agreeing": True,
        # one teacher per family of judgement; a style (exact/terse) is a secondary axis
        "critics": ("exact", "noisy-0.2-s1", "model"),
        "learning_rate": base["finetune"]["learning_rate"],
        "batch_size": base["finetune"]["batch_size"],
        "rlvr": {"learning_rate": 1e-4, "batch_size": 16, "num_generations": 8,
                 "max_completion_length": 160, "temperature": 1.0}, **oneshot}}


SMOKE = _preset("smoke", samples=2, steps=8, eval_every=4,
                rlvr={"learning_rate": 1e-4, "batch_size": 8, "num_generations": 4,
                      "max_completion_length": 48, "temperature": 1.0})
# 20 candidates x 3 critics: at most 60 kept critiques, so 32 steps of 16 make 8.5 passes or more.
DEFAULT = _preset("default", steps=32, eval_every=8, batch_size=16,
                  rlvr={"learning_rate": 1e-4, "batch_size": 8, "num_generations": 8,
                        "max_completion_length": 160, "temperature": 1.0})


@dataclass(frozen=True)
class CellDesign:
    """Where a cell sits in the design: the index of its seed problem and its training seed."""

    problem: int
    training_seed: int


def cell_design(seed: int, problems: int, bases: int = 1) -> CellDesign:
    """Cell seed k crosses problems with training seeds: the runner gives cell k base
    k mod `bases`, problems cycle over blocks of `bases` cells, and the training seed counts
    whole rounds of (base, problem); with seeds a multiple of problems x bases every problem
    meets every training seed."""
    return CellDesign((seed // bases) % problems, seed // (bases * problems))


def epochs(steps: int, batch_size: int, records: int) -> float:
    """Passes over `records` distinct records made by `steps` optimizer steps of `batch_size`."""
    return steps * batch_size / records


@dataclass
class OneShotState:
    chain: ChainState
    seed_problems: list[Problem]
    critic: ModelTeacher | None = None  # the model family of teachers, when a critic asks
    critic_info: dict = field(default_factory=dict)  # its recipe and validation accuracy
    builds: dict[tuple[str, int, str], tuple[OneShotBuild, float]] = field(default_factory=dict)


def seed_problem_pool(chain: ChainState, n: int, data_seed: int) -> list[Problem]:
    """n seeded training problems of the hardest in-distribution difficulty."""
    hardest = max(p.difficulty for p in chain.splits["train"])
    pool = [p for p in chain.splits["train"] if p.difficulty == hardest]
    if not 1 <= n <= len(pool):
        raise UsageError(f"seed_problems must be in 1..{len(pool)}, got {n}")
    return random.Random(f"seed-problems:{data_seed}").sample(pool, n)


CRITIC_DIR, CRITIC_INFO = "critic-model", "critic.json"


def critic_model(ctx: RunContext, chain: ChainState) -> tuple[ModelTeacher, dict]:
    """The model critic: cft-vs-sft's CFT recipe (the exact critic's critiques of training
    candidates for the preset's `finetune` steps, the checkpoint picked on validation critique
    accuracy) run once from base 0 and cached in the run directory; with what it cost."""
    path = ctx.out_dir / CRITIC_DIR
    if not (path / CRITIC_INFO).is_file():
        _train_critic(ctx, chain, path)
    model, tok = load_model(str(path))
    teacher = ModelTeacher("model/steps", model, tok, ctx.params["max_new_tokens"], chain.fmt)
    return teacher, json.loads((path / CRITIC_INFO).read_text())


def _train_critic(ctx: RunContext, chain: ChainState, path: Path) -> None:
    """Train the model critic and store it atomically (worker processes load it)."""
    p = ctx.params
    spec = FinetuneSpec.of(p["finetune"])
    model, tok = load_model(str(chain.base_dirs[0]))
    records = take_examples(arm_records(chain, "cft", 0, p["error_rate"], salt=CRITIC_DIR),
                            spec.examples, CRITIC_DIR)
    work = ctx.work_dir(CRITIC_DIR)
    done = finetune(ctx, OneShotCft.name, CRITIC_DIR, 0, model, tok, records, spec,
                    _critic_probe(chain, p), "critique_accuracy", work=work)
    partial = path.with_name(f"{path.name}.partial")
    shutil.rmtree(partial, ignore_errors=True)
    save_model(model, tok, partial)
    atomic_write_json(partial / CRITIC_INFO, {
        "steps": spec.steps, "batch_size": spec.batch_size, "picked_steps": done.picked_steps,
        "tokens": done.budget["tokens"], "wall_s": done.budget["wall_s"],
        "validation_critique_accuracy": done.validation["critique_accuracy"],
        "trivial_critique_accuracy": trivial_baselines(chain, ("validation",))[
            "critique_accuracy"]["validation"]})
    shutil.rmtree(path, ignore_errors=True)
    partial.rename(path)
    shutil.rmtree(work, ignore_errors=True)


def _critic_probe(chain: ChainState, params: dict):
    """The critic's checkpoint probe: verdicts on the validation candidates only."""
    def run(model, tokenizer) -> dict:
        got = critique_scores(model, tokenizer, chain.fmt, chain.candidates["validation"],
                              params["max_new_tokens"])
        return {"validation": {m: _mean(v) for m, v in got.scores.items()}, "scores": {}}
    return run


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
    default_seeds = 4  # 2 seed problems x 2 training seeds

    def comparisons(self) -> tuple[Comparison, ...]:
        return tuple(Comparison("cft-1shot", other) for other in (
            "sft-1shot", "sft-full", "base", "cft-1shot-1gen", "rlvr-1shot"))

    def setup(self, ctx: RunContext) -> OneShotState:
        chain = chain_setup(ctx)
        opts = ctx.params["oneshot"]
        state = OneShotState(chain, seed_problem_pool(chain, opts["seed_problems"],
                                                      ctx.params["data_seed"]))
        if any(spec.partition("/")[0] == "model" for spec in opts["critics"]):
            state.critic, state.critic_info = critic_model(ctx, chain)
        return state

    def trivial(self, ctx: RunContext, state: OneShotState) -> dict:
        return trivial_baselines(state.chain)

    def run_cell(self, ctx: RunContext, state: OneShotState, arm: str, seed: int) -> CellResult:
        p, opts = ctx.params, ctx.params["oneshot"]
        design = cell_design(seed, len(state.seed_problems), ctx.bases)
        problem = state.seed_problems[design.problem]
        spec = self.arm(arm)
        # sft-full has no seed problem: each of its cells is a replicate of its own
        train_seed = seed if spec.data == "full-gold" else design.training_seed
        model, tok = load_model(str(state.chain.base_dirs[ctx.base_of(seed)]))
        work = ctx.work_dir(f"{arm}__seed{seed}")  # per cell: cells share training seeds
        budget: dict[str, float] = {"tokens": 0, "loss_tokens": 0, "steps": 0, "examples": 0,
                                    "wall_s": 0.0}
        extra = {"seed_problem": problem.text, "problem": design.problem,
                 "training_seed": train_seed}
        curves, checkpoints, validation, validation_items = {}, [], None, None
        solved: dict[str, list[str]] = {}
        if spec.trainer == "sft":
            build, data_s = (None, 0.0) if spec.data == "full-gold" else self.build(
                ctx, state, problem, train_seed, model, tok,
                "1gen" if spec.data.endswith("-1gen") else "all")
            records = self.records(ctx, state, arm, train_seed, build)
            ft = spec_of(opts)
            data = list(islice(cycle(records), ft.examples))
            done = finetune(ctx, self.name, arm, train_seed, model, tok, data, ft,
                            probe(state.chain, p), "solve_accuracy", work=work)
            # passes over the distinct records: for the whole budget, and up to the checkpoint
            # validation picked (the model that is scored)
            budget = {**done.budget, "examples": len(records), "data_s": data_s,
                      "epochs": epochs(ft.steps, ft.batch_size, len(records)),
                      "picked_epochs": epochs(done.picked_steps, ft.batch_size, len(records))}
            curves, checkpoints, validation = done.curves, done.checkpoints, done.validation
            solved, validation_items = done.outputs, done.validation_items
            if build is not None:
                extra["data"] = build.summary()
                extra["critic_model"] = state.critic_info
        elif spec.trainer == "rl":
            shutil.rmtree(work)  # a rerun of this cell starts clean
            train_to = rlvr_chunks(model, tok, state.chain, problem, opts, train_seed, work)
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
                      critique_gate=spec.objective == "critique", solved=solved,
                      validation_items=validation_items)
        extra["solve_accuracy"] = ev.scores["solve_accuracy"]
        return CellResult(ev.scores, budget, ev.groups, curves, extra, ev.validation,
                          checkpoints, ev.generations, ev.validation_items)

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
        """The one-shot data of (problem, training seed) from every generator or from one, and
        the seconds it took; memoised, as the arms of a cell share it."""
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
        teachers = [critic_teacher(world, spec, state.critic) for spec in opts["critics"]]
        start = time.perf_counter()
        build = build_oneshot(problem, generators, teachers, world_judge(world), state.chain.fmt,
                              opts["keep_agreeing"], seed)
        state.builds[key] = build, time.perf_counter() - start
        return state.builds[key]

    def conclusions(self, results: dict) -> list[str]:
        extra, out = results["extra"], []
        for arm in ("cft-1shot", "sft-1shot", "rlvr-1shot"):
            if arm in extra:
                out.append(spread_sentence(arm, extra[arm]))
        builds = [c["data"] for c in extra.get("cft-1shot", []) if "data" in c]
        if builds:
            d = builds[0]
            out.append(f"One-shot data (cell 0): {d['candidates']} candidates ({d['right']} "
                       f"right, {d['wrong']} wrong, {d['distinct']} distinct), {d['critiques']} "
                       f"critiques, {d['agree']} with the right verdict, {d['kept']} kept.")
            out.append(family_sentence(builds))
        critic = next((c["critic_model"] for c in extra.get("cft-1shot", [])
                       if c.get("critic_model")), None)
        if critic:
            out.append(f"The model critic (CFT from the base, {critic['steps']} steps of "
                       f"{critic['batch_size']}, step {critic['picked_steps']} picked on "
                       f"validation) gives {100 * critic['validation_critique_accuracy']:.1f}% "
                       "of validation candidates the right verdict (majority verdict: "
                       f"{100 * critic['trivial_critique_accuracy']:.1f}%).")
        b = results["budget"]
        passes = [a for a in b if "epochs" in b[a]]
        if passes:
            out.append("Passes over the distinct training records, whole budget / up to the "
                       "picked checkpoint (mean over cells): " + "; ".join(
                           f"{a} {b[a]['epochs']:.1f} / {b[a]['picked_epochs']:.1f}"
                           for a in passes) + ".")
        out.append("Cost per arm (mean over cells): " + "; ".join(
            f"{a} {b[a]['tokens']:,.0f} tokens, {b[a]['steps']:.0f} steps, "
            f"{b[a].get('wall_s', 0) + b[a].get('data_s', 0):.0f} s"
            for a in b if a != "base") + " (training with validation + data building).")
        return out

    def extra_plots(self, results: dict, out_dir: Path) -> list[tuple[str, str]]:
        from critiquelab.reporting.lines import step_curves

        made = [step_curves(results, "validation_solve_accuracy", out_dir,
                            "validation solve accuracy"),
                step_curves(results, "reward", out_dir, "rlvr-1shot mean reward")]
        return [m for m in made if m]


def spread_sentence(arm: str, cells: list[dict]) -> str:
    """id solve accuracy per seed problem (over training seeds) and per training seed (over
    problems), each with its spread."""
    parts = []
    for key, what, over in (("problem", "seed problem", "training seeds"),
                            ("training_seed", "training seed", "seed problems")):
        groups: dict[int, list[float]] = {}
        for c in cells:
            groups.setdefault(c[key], []).append(_mean(c["solve_accuracy"]["id"]))
        accs = [_mean(groups[k]) for k in sorted(groups)]
        parts.append(f"per {what} ({len(accs)}, each over its {over}) "
                     + ", ".join(f"{100 * a:.1f}%" for a in accs)
                     + f", spread {100 * (max(accs) - min(accs)):.1f} points")
    return f"{arm} id solve accuracy " + "; ".join(parts) + "."


def family_sentence(builds: list[dict]) -> str:
    """Critiques, the share with the right verdict and those kept, per critic family."""
    totals: dict[str, dict[str, int]] = {}
    for d in builds:
        for family, c in d["by_family"].items():
            t = totals.setdefault(family, {"critiques": 0, "agree": 0, "kept": 0})
            for k in t:
                t[k] += c[k]
    return "Critic families (cft-1shot's builds): " + "; ".join(
        f"{f} {t['critiques']} critiques, {100 * t['agree'] / max(1, t['critiques']):.1f}% "
        f"with the right verdict, {t['kept']} kept" for f, t in totals.items()) + "."


def _mean(xs: list[float]) -> float:
    return sum(xs) / len(xs) if xs else 0.0
