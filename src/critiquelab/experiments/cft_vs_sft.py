"""cft-vs-sft: the published CFT set-up (CLAIMS.md C1) in miniature on the chain world.

Stage 0 pretrains a tiny base (or `bases` independent ones) on mixed-quality solutions and
some critique text, annealing the learning rate at the end. Stage 1 fine-tunes that base for
the same optimizer steps at the same batch size by imitation (sft-raw, sft-verified,
sft-gold), by critique (cft), or on more of stage 0's own mixture (continued-pretraining, the
control a fine-tuning gain must beat); validation picks the checkpoint. At test time every arm
solves directly.
"""

from __future__ import annotations

from itertools import islice

from critiquelab.experiments import register_experiment
from critiquelab.experiments.aggregate import gate_text, gate_value
from critiquelab.experiments.chain_common import (
    ARM_SOURCES,
    BASE,
    CFT,
    CONTINUED,
    CRITIQUE,
    EVAL,
    PRESETS,
    SIZED_DEFAULT,
    SOLVE,
    ChainState,
    arm_records,
    chain_setup,
    evaluate,
    probe,
    sft_arm,
    trivial_baselines,
)
from critiquelab.experiments.finetune import FinetuneSpec, finetune, take_examples
from critiquelab.experiments.spec import (
    OBJECTIVE_FIT,
    CellResult,
    Comparison,
    Experiment,
    RunContext,
)
from critiquelab.models import load_model
from critiquelab.reporting.report import fit_direction


class ChainFinetune(Experiment):
    """A chain-world experiment whose trained arms fine-tune the cached base on a record
    stream named by the arm's `data`; subclasses declare arms and may override `records`."""

    presets = PRESETS
    metrics = SOLVE + CRITIQUE
    splits = EVAL
    seed_invariant_arms = ("base",)

    def setup(self, ctx: RunContext) -> ChainState:
        return chain_setup(ctx)

    def trivial(self, ctx: RunContext, state: ChainState) -> dict:
        return trivial_baselines(state)

    def records(self, ctx: RunContext, state: ChainState, arm: str, seed: int):
        """The arm's endless seeded record stream (the budget takes its first examples)."""
        return arm_records(state, self.arm(arm).data, seed, ctx.params["error_rate"])

    def heldout(self, ctx: RunContext, state: ChainState, arm: str) -> list[dict]:
        """Records like the arm's training records, one per validation problem and the same for
        every seed, on which its fit is measured (none where the arm's data is not a source
        of `arm_records`; subclasses with their own record streams override this)."""
        data = self.arm(arm).data
        if data not in ARM_SOURCES:
            return []
        stream = arm_records(state, data, 0, ctx.params["error_rate"], split="validation")
        return list(islice(stream, len(state.splits["validation"])))

    def extra(self, ctx: RunContext, state: ChainState, arm: str, seed: int,
              records: list[dict], scores: dict) -> dict:
        """Experiment-specific facts about a trained cell (its records, its scores)."""
        return {}

    def run_cell(self, ctx: RunContext, state: ChainState, arm: str, seed: int) -> CellResult:
        model, tok = load_model(str(state.base_dirs[ctx.base_of(seed)]))
        critique = any(m in self.metrics for m in CRITIQUE)
        gate = self.arm(arm).gate
        critique_gate = gate is not None and gate.metric in CRITIQUE
        sound = "sound_solution" in self.metrics
        if not self.arm(arm).trained:
            ev = evaluate(state, model, tok, ctx.params, critique, sound=sound)
            return CellResult(ev.scores, {"steps": 0, "examples": 0, "tokens": 0,
                                          "loss_tokens": 0, "wall_s": 0.0}, ev.groups,
                              validation=ev.validation, generations=ev.generations,
                              validation_items=ev.validation_items)
        spec = FinetuneSpec.of(ctx.params["finetune"])
        records = take_examples(self.records(ctx, state, arm, seed), spec.examples, arm)
        done = finetune(ctx, self.name, arm, seed, model, tok, records, spec,
                        probe(state, ctx.params, critique_gate), "solve_accuracy",
                        heldout=self.heldout(ctx, state, arm),
                        fit_gate=gate is not None and gate.metric == OBJECTIVE_FIT)
        ev = evaluate(state, done.model, done.tokenizer, ctx.params, critique, done.validation,
                      critique_gate, sound, done.outputs, done.validation_items)
        return CellResult(ev.scores, done.budget, ev.groups, done.curves,
                          self.extra(ctx, state, arm, seed, records, ev.scores),
                          validation=ev.validation, checkpoints=done.checkpoints,
                          generations=ev.generations, validation_items=ev.validation_items)


# Raw candidates come from a student who gets a fifth of the arithmetic facts wrong, always the
# same ones: with random slips alone they were what stage 0 had already fitted, so `sft-raw`
# had nothing to learn (docs/experiments/cft-vs-sft.md, "A student with misconceptions").
MISCONCEPTIONS = 0.2
CFT_VS_SFT_PRESETS = {name: {**preset, "misconceptions": MISCONCEPTIONS}
                      for name, preset in {**PRESETS, "default": SIZED_DEFAULT}.items()}


@register_experiment
class CftVsSft(ChainFinetune):
    name = "cft-vs-sft"
    presets = CFT_VS_SFT_PRESETS
    title = "Critique fine-tuning vs imitation on the chain world"
    question = ("Does fine-tuning on critiques of noisy solutions teach a model to solve "
                "better than fine-tuning on solutions, at the same training budget?")
    arm_table = (BASE, CONTINUED, sft_arm("raw"), sft_arm("verified"), sft_arm("gold"), CFT)
    baseline = "sft-gold"
    metrics = ("solve_accuracy", "sound_solution", "format_rate", *CRITIQUE)

    def comparisons(self) -> tuple[Comparison, ...]:
        """Every arm against sft-gold, and both methods against more of stage 0's training."""
        return (*super().comparisons(), Comparison("cft", CONTINUED.name),
                Comparison("sft-gold", CONTINUED.name))

    def conclusions(self, results: dict) -> list[str]:
        if not {"base", "sft-gold", "cft"} <= set(results["arms"]):
            return []
        arms, trivial = results["arms"], results.get("trivial", {}).get("solve_accuracy", {})
        base = arms["base"]
        out = []
        if "sound_solution" in base and "id" in base["sound_solution"]:
            out.append(f"The base writes a sound solution (every line right) for "
                       f"{_pct(base['sound_solution']['id']['mean'])} of id problems (the "
                       "testbed's target: at least 50%).")
        for sp in (s for s in self.splits if s.startswith("ood") and s in trivial):
            gap = base["solve_accuracy"][sp]["mean"] - trivial[sp]
            out.append(f"On {sp} the base solves {_pct(base['solve_accuracy'][sp]['mean'])} "
                       f"against {_pct(trivial[sp])} for always giving the most common answer "
                       f"({100 * gap:+.1f} points; the target: at least +10).")
        failed = [a for a, g in results.get("validity", {}).items() if g["passed"] is False]
        out.append("Every gated arm passed its validity gate." if not failed else
                   f"Failed their validity gate (their comparisons are withheld): "
                   f"{', '.join(failed)}.")
        for arm in failed:
            out += gate_curve(results, arm) + fit_sentence(results, arm)
        for arm in ("sft-gold", "cft"):
            for sp in self.splits:
                a, b = arms[arm]["solve_accuracy"][sp], base["solve_accuracy"][sp]
                out.append(f"{arm} solves {_pct(a['mean'])} of {sp} problems against the "
                           f"base's {_pct(b['mean'])}.")
        if "critique_accuracy" in arms["cft"]:
            judged = ", ".join(
                f"{sp} {_pct(arms['cft']['critique_accuracy'][sp]['mean'])} vs "
                f"{_pct(base['critique_accuracy'][sp]['mean'])}"
                for sp in self.splits if sp in arms["cft"]["critique_accuracy"])
            out.append(f"cft's verdicts on held-out candidates, right against the base's: "
                       f"{judged}.")
        fr = {a: arms[a]["format_rate"]["id"]["mean"] for a in arms}
        worst = min(fr, key=fr.get)
        out.append(f"Lowest format_rate on id: {worst} at {_pct(fr[worst])} "
                   "(a drop against the base means fine-tuning overwrote the solution format).")
        return out


def gate_curve(results: dict, arm: str) -> list[str]:
    """Where along its budget a gated arm stood on its gate metric (seeds averaged)."""
    gate = results["validity"][arm]
    runs = results.get("curves", {}).get(arm, {}).get(f"validation_{gate['metric']}", [])
    if not runs:
        return []
    unit = f" {gate['unit']}" if gate.get("unit") else ""
    points = ", ".join(f"step {step:.0f} {gate_value(gate, sum(r[i][1] for r in runs) / len(runs))}"
                       f"{unit}" for i, (step, _) in enumerate(runs[0]))
    return [f"{arm}'s validation {gate['metric']} along its budget: {points} (its gate, against "
            f"{gate['against']}: {gate_text(gate)})."]


def fit_sentence(results: dict, arm: str) -> list[str]:
    """Whether an arm fits its own kind of training records, held out, better than the model
    it started from: what separates 'learned nothing' from 'learned what does not help'."""
    fit = results.get("objective_fit", {}).get(arm)
    if not fit or not fit.get("difference"):
        return []
    d = fit["difference"]
    lo, hi = d["ci95"]
    reading = {"higher": "it fits them better, so it learned its objective without passing its "
                         "gate",
               "lower": "it fits them worse",
               "not resolved": "no change is resolved, so the model it started from already "
                               "fitted them as well"}[fit_direction(fit)]
    return [f"{arm}'s held-out log-likelihood of its own kind of training records (validation "
            f"problems): {fit['value']:.4f} nats/token against {fit['reference']:.4f} for the "
            f"model it started from, {d['mean']:+.4f} [{lo:+.4f}, {hi:+.4f}]: {reading}."]


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"
