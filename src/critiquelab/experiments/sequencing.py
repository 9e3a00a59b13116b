"""sequencing: the order of training stages (CLAIMS.md C8) on the chain world.

Every arm starts from the cached base of cft-vs-sft and runs a stage pipeline: imitation (sft),
critique (cft), supervised RL on expert steps with free reasoning before each step (srl) or
RL with the verifier's reward (rlvr), alone or followed by rlvr. Each kind of stage has one
budget in every arm: supervised stages take the preset's `finetune.steps` (half of the
shared chain default's in the default preset; checkpoint picked on validation), RL stages the
same optimizer steps and completions.
Pipelines with a common prefix share its stages (`srl-then-rlvr` reuses the `srl` arm's model).
"""

from __future__ import annotations

from pathlib import Path

from critiquelab.evaluation.diversity import sample_scores
from critiquelab.evaluation.metrics import solve_scores
from critiquelab.experiments import register_experiment
from critiquelab.experiments.chain_common import (
    EVAL,
    PRESETS,
    SOLVE_GATE,
    ChainState,
    arm_records,
    chain_setup,
    evaluate,
    half_budget,
    probe,
    trivial_baselines,
)
from critiquelab.experiments.finetune import FinetuneSpec, finetune, take_examples
from critiquelab.experiments.spec import (
    Arm,
    CellResult,
    Comparison,
    Experiment,
    Gate,
    RunContext,
    entry_key,
)
from critiquelab.formats import PromptFormat
from critiquelab.models import load_model
from critiquelab.models.generate import generate
from critiquelab.training.pipeline import StageFn, StageRecord, StageResult, run_pipeline
from critiquelab.training.rl import RLConfig, train_rlvr
from critiquelab.training.srl import (
    REASONING_UNITS,
    informative_prompts,
    srl_prompts,
    train_srl,
)
from critiquelab.worlds import Problem, World

K = 8  # pass@k


def _preset(base: dict, rl: dict, passk: dict) -> dict:
    """A cft-vs-sft preset (same world, splits and cached base) plus RL. SRL takes RL's settings,
    completion length included (room for reasoning lines before the step), in a group of its
    own, so `--set srl.<key>=...` changes SRL alone."""
    return {**base, "rl": rl, "srl": dict(rl), "passk": passk}


SMOKE = _preset(
    PRESETS["smoke"],
    rl={"steps": 2, "batch_size": 16, "num_generations": 8, "learning_rate": 2e-4, "beta": 0.0,
        "temperature": 1.0, "max_completion_length": 48, "format_bonus": 0.0},
    passk={"n": K, "problems": 8, "temperature": 1.0})
# RL at lr 1e-4 halves the base's greedy validation solving within 10 steps; 1e-5 and 3e-5
# keep it (benchmarks/results/rl_calibration.jsonl, docs/experiments/sequencing.md).
# Supervised stages at half of the shared chain default's steps: more arms and stages.
DEFAULT = {**_preset(
    half_budget(PRESETS["default"]),
    rl={"steps": 12, "batch_size": 16, "num_generations": 8, "learning_rate": 3e-5,
        "beta": 0.0, "temperature": 1.0, "max_completion_length": 160, "format_bonus": 0.0},
    passk={"n": K, "problems": 100, "temperature": 1.0}),
    "max_new_tokens": 160}  # leaves room for the longest gold solution of any evaluation split

PIPELINES = {"base": "", "sft": "sft", "rlvr": "rlvr", "srl": "srl",
             "sft-then-rlvr": "sft -> rlvr", "srl-then-rlvr": "srl -> rlvr",
             "cft-then-rlvr": "cft -> rlvr"}
# What each arm's last stage must have learned: RLVR solves validation problems better than
# the model it started from (its training reward can rise while validation falls,
# benchmarks/results/rl_calibration.jsonl); SRL's step similarity rises from the first
# quarter of steps to the last; SFT solves validation problems better than the base.
RL_GATE = Gate("solve_accuracy", "entry")
GATES = {"sft": SOLVE_GATE, "rlvr": RL_GATE, "srl": Gate("srl_reward", "start")}


def rl_config(opts: dict, seed: int) -> RLConfig:
    return RLConfig(learning_rate=opts["learning_rate"], max_steps=opts["steps"],
                    batch_size=opts["batch_size"], num_generations=opts["num_generations"],
                    beta=opts["beta"], temperature=opts["temperature"],
                    max_completion_length=opts["max_completion_length"], seed=seed)


def passk_scores(world: World, fmt: PromptFormat, problems: list[Problem], model, tok,
                 params: dict, seed: int) -> list[float]:
    """Unbiased pass@K per problem from n sampled solutions."""
    pk = params["passk"]
    samples = generate(model, tok, [fmt.solve_prompt(p.text) for p in problems],
                       params["max_new_tokens"], n=pk["n"], temperature=pk["temperature"],
                       seed=seed)
    return sample_scores(world, problems, samples, (K,))[f"pass_at_{K}"]


@register_experiment
class Sequencing(Experiment):
    name = "sequencing"
    title = "The order of training stages: SFT, SRL, CFT and RLVR on the chain world"
    question = ("Does what precedes RL with verifiable rewards (imitation, step-wise supervised "
                "RL, critique, or nothing) change what the model solves, at matched budgets "
                "per stage?")
    arm_table = tuple(Arm(a, spec.split(" -> ")[0], spec.split(" -> ")[-1], "pipeline",
                          GATES[spec.split(" -> ")[-1]]) if spec else Arm(a)
                      for a, spec in PIPELINES.items())
    presets = {"smoke": SMOKE, "default": DEFAULT}
    metrics = ("solve_accuracy", "format_rate", f"pass_at_{K}")
    splits = EVAL
    baseline = "rlvr"
    seed_invariant_arms = ("base",)

    def comparisons(self) -> tuple[Comparison, ...]:
        pairs = [("sft-then-rlvr", "sft"), ("srl-then-rlvr", "srl"),
                 ("srl-then-rlvr", "sft-then-rlvr"), ("cft-then-rlvr", "sft-then-rlvr"),
                 ("cft-then-rlvr", "srl-then-rlvr")]
        return (*(Comparison(a, "rlvr") for a in self.arms if a not in ("rlvr", "base")),
                *(Comparison(a, b, ("solve_accuracy",)) for a, b in pairs))

    def setup(self, ctx: RunContext) -> ChainState:
        return chain_setup(ctx)

    def trivial(self, ctx: RunContext, state: ChainState) -> dict:
        return trivial_baselines(state)

    def run_cell(self, ctx: RunContext, state: ChainState, arm: str, seed: int) -> CellResult:
        root = ctx.work_dir(f"seed{seed}")
        base = state.base_dirs[ctx.base_of(seed)]
        if PIPELINES[arm]:
            model, tok, stages = run_pipeline(PIPELINES[arm], self.stages(ctx, state, seed),
                                              base, root)
        else:
            model, tok = load_model(str(base))
            stages = []
        ev = evaluate(state, model, tok, ctx.params, critique=False)
        if self.arm(arm).gate and self.arm(arm).gate.reference == "entry":
            items = entry_validation(state, stages[-2].path / "model" if len(stages) > 1
                                     else base, ctx.params)
            ev.validation_items.update(items)
            ev.validation.update({k: sum(v) / len(v) for k, v in items.items()})
        n = ctx.params["passk"]["problems"]
        ev.scores[f"pass_at_{K}"] = {sp: passk_scores(state.world, state.fmt,
                                                      state.splits[sp][:n], model, tok,
                                                      ctx.params, seed)
                                     for sp in EVAL}
        budget, curves = _merge(stages)
        extra = {"stages": [{"name": s.name, "reused": s.skipped} for s in stages]}
        return CellResult(ev.scores, budget, ev.groups, curves, extra, ev.validation,
                          generations=ev.generations, validation_items=ev.validation_items)

    def stages(self, ctx: RunContext, state: ChainState, seed: int) -> dict[str, StageFn]:
        """Every stage kind, each depending only on (stage, seed), so arms may share them."""
        p, progress = ctx.params, ctx.progress

        def supervised(source: str) -> StageFn:
            def run(model, tok, work: Path) -> StageResult:
                spec = FinetuneSpec.of(p["finetune"])
                records = take_examples(arm_records(state, source, seed, p["error_rate"]),
                                        spec.examples, source)
                done = finetune(ctx, self.name, source, seed, model, tok, records, spec,
                                probe(state, p), "solve_accuracy", work)
                return StageResult(done.budget, done.curves)
            return run

        def rlvr(model, tok, work: Path) -> StageResult:
            r = train_rlvr(model, tok, state.world, state.splits["train"], state.fmt,
                           rl_config(p["rl"], seed), work, p["rl"]["format_bonus"], progress)
            return StageResult({"steps": r.steps, "generations": r.generations,
                                "tokens": r.tokens, "wall_s": r.wall_s},
                               {"reward": [list(pt) for pt in r.reward_curve],
                                "accuracy": [list(pt) for pt in r.accuracy_curve]})

        def srl(model, tok, work: Path) -> StageResult:
            cfg = rl_config(p["srl"], seed)
            prompts = srl_prompts(state.world, state.splits["train"], state.fmt)
            needed = cfg.max_steps * cfg.batch_size // cfg.num_generations
            kept, sampled = informative_prompts(model, tok, prompts, needed, cfg.num_generations,
                                                cfg.max_completion_length, cfg.temperature, seed)
            r = train_srl(model, tok, kept, cfg, work, progress)
            reasoning = {f"reasoning_{u}": r.component_curves[f"reasoning_{u}"]
                         for u in REASONING_UNITS}
            return StageResult({"steps": r.steps, "generations": r.generations,
                                "tokens": r.tokens, "filter_generations": sampled,
                                "prompts": len(kept), "wall_s": r.wall_s,
                                **{k: _mean_of(pts) for k, pts in reasoning.items()}},
                               {"reward": [list(pt) for pt in r.reward_curve],
                                **{k: [list(pt) for pt in pts] for k, pts in reasoning.items()}})

        return {"sft": supervised("gold"), "cft": supervised("cft"), "rlvr": rlvr,
                "srl": srl}

    def conclusions(self, results: dict) -> list[str]:
        b, p = results["budget"], results["params"]
        if not {"sft", "cft-then-rlvr", "srl"} <= set(b):
            return []
        srl = b["srl"]
        first, last = _ends(results["curves"]["srl"].get("srl_reasoning_chars", []))
        return [
            f"Budget per stage, the same in every arm: sft and cft {b['sft']['sft_steps']:,.0f} "
            f"and {b['cft-then-rlvr']['cft_steps']:,.0f} optimizer steps of "
            f"{p['finetune']['batch_size']} ({b['sft']['sft_tokens']:,.0f} and "
            f"{b['cft-then-rlvr']['cft_tokens']:,.0f} tokens); rlvr {p['rl']['steps']} steps x "
            f"{p['rl']['batch_size']} completions; srl {p['srl']['steps']} steps x "
            f"{p['srl']['batch_size']} completions of at most "
            f"{p['srl']['max_completion_length']} tokens ({srl['srl_tokens']:,.0f} tokens) after "
            f"{srl['srl_filter_generations']:,.0f} filtering samples.",
            f"SRL reasoning before the step (free, unrewarded): "
            f"{srl['srl_reasoning_lines']:.2f} lines and {srl['srl_reasoning_chars']:.1f} "
            f"characters per completion over the srl stage, {first:.1f} characters at its first "
            f"step and {last:.1f} at its last (seeds averaged); 0 means the model wrote its step "
            f"directly."]

    def extra_plots(self, results: dict, out_dir: Path) -> list[tuple[str, str]]:
        from critiquelab.reporting.lines import step_curves

        made = [step_curves(results, "rlvr_accuracy", out_dir, "RLVR reward (answer right)"),
                step_curves(results, "srl_reward", out_dir, "SRL reward (step similarity)")]
        return [m for m in made if m]


def entry_validation(state: ChainState, model_dir: Path, params: dict) -> dict[str, list[float]]:
    """Per-item validation solving of the model an arm's last stage started from, under the
    "entry" keys its RL gate compares against."""
    model, tok = load_model(str(model_dir))
    got = solve_scores(state.world, model, tok, state.fmt, state.splits["validation"],
                       params["max_new_tokens"])
    return {entry_key(m): v for m, v in got.scores.items()}


def _merge(stages: list[StageRecord]) -> tuple[dict[str, float], dict[str, list]]:
    """A cell's budget and curves from its stages: `<stage>_<key>`, plus total steps and time."""
    budget: dict[str, float] = {"steps": 0, "wall_s": 0.0}
    curves: dict[str, list] = {}
    for s in stages:
        for k, v in s.result.budget.items():
            budget[f"{s.name}_{k}"] = v
        budget["steps"] += s.result.budget.get("steps", 0)
        budget["wall_s"] += s.result.budget.get("wall_s", 0.0)
        for k, v in s.result.curves.items():
            curves[k if k == "train_loss" else f"{s.name}_{k}"] = v
    return budget, curves


def _mean_of(points: list[tuple[int, float]]) -> float:
    """Mean value of a [(step, value)] curve (0 for an empty one)."""
    return sum(v for _, v in points) / max(len(points), 1)


def _ends(runs: list[list]) -> tuple[float, float]:
    """Mean over seeds of a curve's first and of its last value."""
    runs = [r for r in runs if r]
    n = max(len(runs), 1)
    return sum(r[0][1] for r in runs) / n, sum(r[-1][1] for r in runs) / n
