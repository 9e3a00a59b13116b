"""structure-vs-content: which part of a demonstration does imitation transfer (CLAIMS.md C6)?

Every arm fine-tunes the cached chain-world base (the one cft-vs-sft starts from) on the same
number of tokens of canonical solutions: clean, or perturbed in content (numbers corrupted) or
in structure (steps shuffled, deleted, or irrelevant steps inserted). The final `Answer:` line
is never perturbed. Chain-world solutions hold no reflection or transition words, so the
`keywords-removed` arm of the paper has nothing to remove here and is left out.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from itertools import cycle
from pathlib import Path

from critiquelab.data.perturb import perturb_texts
from critiquelab.evaluation.stats import paired_difference
from critiquelab.experiments import register_experiment
from critiquelab.experiments.cft_vs_sft import ChainFinetune
from critiquelab.experiments.chain_common import BASE, PRESETS, SOLVE_GATE, ChainState
from critiquelab.experiments.spec import Arm, Comparison, RunContext
from critiquelab.formats import solve_record
from critiquelab.reporting.differences import difference_bars
from critiquelab.worlds import Problem

PERTURBATIONS: dict[str, tuple[str, float] | None] = {
    "clean": None, "numbers-0.5": ("numbers", 0.5), "shuffle-0.67": ("shuffle", 0.67),
    "delete-0.33": ("delete", 0.33), "insert-0.33": ("insert", 0.33)}
CONTENT = ("numbers-0.5",)
STRUCTURE = ("shuffle-0.67", "delete-0.33", "insert-0.33")



def training_solutions(state: ChainState, arm: str, seed: int) -> list[tuple[Problem, str]]:
    """Every training problem in a seeded order with its canonical solution, perturbed as the
    arm says; `insert` draws its steps from the other training solutions."""
    problems = list(state.splits["train"])
    random.Random(f"{arm}:{seed}").shuffle(problems)
    texts = [state.world.solve(p) for p in problems]
    if PERTURBATIONS[arm]:
        kind, rate = PERTURBATIONS[arm]
        texts = perturb_texts(texts, kind, rate, seed)
    return list(zip(problems, texts, strict=True))


def demonstrations(state: ChainState, arm: str, seed: int) -> Iterator[dict]:
    """Solve records cycling over the arm's solutions, each marked with the verifier's verdict."""
    records = [solve_record(state.fmt, p.text, s, problem_id=p.id,
                            sound=float(state.world.verify(p, s).correct))
               for p, s in training_solutions(state, arm, seed)]
    return cycle(records)


@register_experiment
class StructureVsContent(ChainFinetune):
    name = "structure-vs-content"
    title = "Structure vs content: fine-tuning on perturbed demonstrations (chain world)"
    question = ("When a model imitates step-by-step solutions, does breaking their structure "
                "(shuffled, deleted or inserted steps) hurt more than corrupting their content "
                "(wrong numbers), at the same training budget?")
    arm_table = (BASE, *(Arm(a, a, "solve", "sft", SOLVE_GATE) for a in PERTURBATIONS))
    presets = {"smoke": PRESETS["smoke"], "default": PRESETS["default"]}
    metrics = ("solve_accuracy", "sound_solution", "format_rate")
    baseline = "clean"

    def comparisons(self) -> tuple[Comparison, ...]:
        return tuple(Comparison(a, "clean") for a in PERTURBATIONS if a != "clean")

    def records(self, ctx: RunContext, state: ChainState, arm: str, seed: int):
        return demonstrations(state, arm, seed)

    def extra(self, ctx: RunContext, state: ChainState, arm: str, seed: int,
              records: list[dict], scores: dict) -> dict:
        return {"solve_accuracy": scores["solve_accuracy"],
                "demonstrations_sound": sum(r["sound"] for r in records) / len(records),
                "example": records[0]["completion"]}

    def conclusions(self, results: dict) -> list[str]:
        if not all(results["extra"].get(a) for a in (*STRUCTURE, *CONTENT)):
            return []
        out = []
        for sp in self.splits:
            c = structure_minus_content(results, sp)
            lo, hi = c["ci95"]
            verdict = ("structure perturbations cost more than content ones" if hi < 0 else
                       "content perturbations cost more than structure ones" if lo > 0 else
                       "no difference between structure and content perturbations is resolved")
            out.append(f"On {sp}, mean solve_accuracy of the structure arms minus the content arm: "
                       f"{100 * c['mean']:+.1f} points [{100 * lo:+.1f}, {100 * hi:+.1f}] "
                       f"(paired bootstrap): {verdict}.")
        sound = {a: sum(r["demonstrations_sound"] for r in results["extra"][a])
                 / len(results["extra"][a]) for a in PERTURBATIONS if results["extra"].get(a)}
        out.append("Share of training demonstrations the verifier still judges correct in every "
                   "line: " + ", ".join(f"{a} {100 * v:.0f}%" for a, v in sound.items()) + ".")
        out.append("keywords-removed is not run: chain-world solutions hold no reflection "
                   "or transition words (`critiquelab perturb --kind keywords` leaves them as "
                   "they are).")
        return out

    def extra_plots(self, results: dict, out_dir: Path) -> list[tuple[str, str]]:
        made = difference_bars(results, "solve_accuracy", out_dir, "drops.png")
        return [made] if made else []


def structure_minus_content(results: dict, split: str) -> dict:
    """Paired difference (seeds x items) between the mean of the structure arms and the content
    arm, on solve_accuracy."""
    extra = results["extra"]
    n_seeds = len(results["seeds"])
    structure = [[sum(vals) / len(STRUCTURE) for vals in zip(
        *(extra[a][s]["solve_accuracy"][split] for a in STRUCTURE), strict=True)]
        for s in range(n_seeds)]
    content = [extra[CONTENT[0]][s]["solve_accuracy"][split] for s in range(n_seeds)]
    return paired_difference(structure, content)
