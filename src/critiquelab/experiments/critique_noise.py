"""critique-noise: how much critique noise the advantage of CFT survives (CLAIMS.md C1:
published teacher critiques are at least 20% wrong).

The protocol is cft-vs-sft's (same base, optimizer steps, training and evaluation); only the
critic changes. Every `cft-noise-p` arm critiques the same candidate stream with a NoisyCritic
of rate p seeded by the cell seed, so the wrong critiques at a lower p are a subset of those at
a higher p. `sft-gold` and `sft-raw` are the imitation reference lines.
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import islice
from pathlib import Path

from critiquelab.critics.base import Critic, ExactCritic, NoisyCritic
from critiquelab.data.builders import cft_records
from critiquelab.experiments import register_experiment
from critiquelab.experiments.cft_vs_sft import CFT_VS_SFT_PRESETS, ChainFinetune
from critiquelab.experiments.chain_common import (
    BASE,
    FIT_GATE,
    SOLVE,
    ChainState,
    candidate_writer,
    sft_arm,
    stream_rng,
)
from critiquelab.experiments.spec import Arm, CellResult, RunContext

NOISE_LEVELS = (0.0, 0.1, 0.2, 0.3, 0.5)
PREFIX = "cft-noise-"


def noise_of(arm: str) -> float:
    return float(arm.removeprefix(PREFIX))


def critique_stream(state: ChainState, critic: Critic, seed: int, params: dict,
                    split: str = "train") -> Iterator[dict]:
    """Critique records by `critic` of the candidate stream of `seed`, shared by every arm
    (on `split`'s problems: "validation" for the held-out fit)."""
    rng = stream_rng(f"critique-noise:{seed}", split)
    problems = list(state.splits[split])
    rng.shuffle(problems)
    return cft_records(candidate_writer(state), problems, state.fmt, rng, critic,
                       params["error_rate"])


@register_experiment
class CritiqueNoise(ChainFinetune):
    name = "critique-noise"
    title = "Critique fine-tuning with imperfect critics on the chain world"
    question = ("How wrong can the teacher's critiques be before fine-tuning on them stops "
                "teaching a model to solve better than imitating correct solutions, at the same "
                "optimizer steps?")
    arm_table = (BASE, *(Arm(f"{PREFIX}{p}", f"noise-{p}", "critique", "sft", FIT_GATE)
                   for p in NOISE_LEVELS), sft_arm("gold"), sft_arm("raw"))
    presets = {k: CFT_VS_SFT_PRESETS[k] for k in ("smoke", "default")}
    metrics = SOLVE  # no critique metrics on test: they cost most of a cell
    baseline = "sft-gold"

    def records(self, ctx: RunContext, state: ChainState, arm: str, seed: int):
        if not arm.startswith(PREFIX):
            return super().records(ctx, state, arm, seed)
        return critique_stream(state, NoisyCritic(state.world, noise_of(arm), seed), seed,
                               ctx.params)

    def heldout(self, ctx: RunContext, state: ChainState, arm: str) -> list[dict]:
        if not arm.startswith(PREFIX):
            return super().heldout(ctx, state, arm)
        stream = critique_stream(state, NoisyCritic(state.world, noise_of(arm), 0), 0,
                                 ctx.params, split="validation")
        return list(islice(stream, len(state.splits["validation"])))

    def run_cell(self, ctx: RunContext, state: ChainState, arm: str, seed: int) -> CellResult:
        """cft-vs-sft's cell, plus the measured share of wrong training critiques."""
        cell = super().run_cell(ctx, state, arm, seed)
        if arm.startswith(PREFIX):
            n = int(cell.budget["examples"])
            noisy = critique_stream(state, NoisyCritic(state.world, noise_of(arm), seed), seed,
                                    ctx.params)
            exact = critique_stream(state, ExactCritic(state.world), seed, ctx.params)
            pairs = list(islice(zip(noisy, exact, strict=True), n))
            cell.extra["wrong_critiques"] = sum(a["completion"] != b["completion"]
                                                for a, b in pairs) / n
            cell.extra["wrong_verdicts"] = sum(a["verdict"] != b["verdict"] for a, b in pairs) / n
        return cell

    def conclusions(self, results: dict) -> list[str]:
        comps = {(c["arm"], c["split"]): c for c in results["comparisons"]
                 if c["metric"] == "solve_accuracy"}
        out = []
        for sp in self.splits:
            if any((f"{PREFIX}{p}", sp) not in comps for p in NOISE_LEVELS):
                continue
            read = [p for p in NOISE_LEVELS if comps[f"{PREFIX}{p}", sp]["verdict"] == "ok"]
            withheld = [p for p in NOISE_LEVELS if p not in read]
            held = f" (withheld at p in {withheld}: failed gates)" if withheld else ""
            beats = [p for p in read if comps[f"{PREFIX}{p}", sp]["ci95"][0] > 0]
            stops = next((p for p in read if beats and p > beats[0] and p not in beats), None)
            if not read:
                out.append(f"On {sp}, no noise level can be read: every CFT arm's comparison "
                           "with sft-gold is withheld.")
            elif not beats:
                out.append(f"On {sp}, CFT does not beat sft-gold at any noise level read, "
                           f"p in {read}{held}.")
            elif stops is None:
                out.append(f"On {sp}, CFT beats sft-gold at every noise level read, p in "
                           f"{read}{held}.")
            else:
                out.append(f"On {sp}, CFT beats sft-gold (95% CI above zero) at p in {beats}; "
                           f"it stops beating it at p = {stops}{held}.")
        for p in NOISE_LEVELS:
            runs = results["extra"].get(f"{PREFIX}{p}")
            if not runs:
                continue
            wrong = sum(r["wrong_critiques"] for r in runs) / len(runs)
            flips = sum(r["wrong_verdicts"] for r in runs) / len(runs)
            out.append(f"At p = {p}, {100 * wrong:.1f}% of training critiques differ from the "
                       f"exact critic's ({100 * flips:.1f}% with the wrong verdict).")
        return out

    def extra_plots(self, results: dict, out_dir: Path) -> list[tuple[str, str]]:
        from critiquelab.reporting.lines import sweep_plot

        made = sweep_plot(results, "solve_accuracy", [(p, f"{PREFIX}{p}") for p in NOISE_LEVELS],
                          ("sft-gold", "sft-raw"), out_dir, "critique noise rate p")
        return [made] if made else []
