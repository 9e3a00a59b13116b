"""structure-vs-content: which part of a demonstration does imitation transfer (CLAIMS.md C6)?

Every arm fine-tunes the cached chain-world base (the one cft-vs-sft starts from) for the same
optimizer steps on demonstrations of the same problems in the same seeded order: clean, or
with the preset's `unsound_share` of them replaced by solutions perturbed in content (numbers
corrupted) or in structure (steps shuffled, deleted, or irrelevant steps inserted) that the
verifier rejects. So every perturbed arm carries the same dose of unsound demonstrations, and
arms differ in the kind of damage only. The final `Answer:` line is never perturbed.
Chain-world solutions hold no reflection or transition words, so the `keywords-removed` arm
of the paper has nothing to remove here and is left out.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Iterator
from itertools import cycle, islice
from pathlib import Path

from critiquelab.data.perturb import first_draw, step_pools
from critiquelab.errors import UsageError
from critiquelab.evaluation.stats import paired_difference
from critiquelab.experiments import register_experiment
from critiquelab.experiments.cft_vs_sft import ChainFinetune
from critiquelab.experiments.chain_common import (
    BASE,
    FIT_GATE,
    PRESETS,
    SIZED_DEFAULT,
    ChainState,
    stream_rng,
)
from critiquelab.experiments.finetune import FinetuneSpec
from critiquelab.experiments.spec import Arm, Comparison, RunContext
from critiquelab.formats import solve_record
from critiquelab.reporting.differences import difference_bars
from critiquelab.worlds import Problem

PERTURBATIONS: dict[str, tuple[str, float] | None] = {
    "clean": None, "numbers-0.5": ("numbers", 0.5), "shuffle-0.67": ("shuffle", 0.67),
    "delete-0.33": ("delete", 0.33), "insert-0.33": ("insert", 0.33)}
CONTENT = ("numbers-0.5",)
STRUCTURE = ("shuffle-0.67", "delete-0.33", "insert-0.33")
# Seeded perturbations tried on one problem before it is left for a clean slot: a shuffle of
# 2 steps at rate 0.67 moves anything a third of the time, so 20 draws miss under 1 in 1,000.
DRAWS = 20
# The shared chain presets plus the dose: the share of each perturbed arm's demonstrations that
# are unsound. At most about the share of problems every kind can break (shuffle cannot break
# a 1-step solution, and about half of the smoke problems have one step), so the perturbed
# arms train on (nearly) the clean arm's problems.
DOSE = {"unsound_share": 0.5}


def problem_order(state: ChainState, seed: int, split: str = "train") -> list[Problem]:
    """The training problems (or `split`'s) in the seeded order every arm of a seed walks."""
    problems = list(state.splits[split])
    stream_rng(f"structure-vs-content:{seed}", split).shuffle(problems)
    return problems


def unsound_slots(n: int, share: float, seed: int) -> set[int]:
    """The round(share * n) positions of n demonstrations that are unsound, the same in every
    perturbed arm of a seed."""
    if not 0.0 <= share <= 1.0:
        raise UsageError(f"unsound_share must be in [0, 1], got {share}")
    return set(random.Random(f"unsound-slots:{seed}").sample(range(n), round(share * n)))


def training_solutions(state: ChainState, arm: str, seed: int, n: int, share: float,
                       split: str = "train") -> list[tuple[Problem, str]]:
    """The arm's n demonstrations: canonical solutions of the problems in the seed's order,
    except at the unsound slots, where a perturbed arm puts the first of DRAWS seeded
    perturbations of the next problem that the verifier rejects. A problem the kind cannot
    break (a 1-step solution under shuffle) waits for the next clean slot. `insert` draws its
    steps from the other solutions of the same split."""
    order = problem_order(state, seed, split)
    solve = state.world.solve
    if PERTURBATIONS[arm] is None:
        return [(p, solve(p)) for p in islice(cycle(order), n)]
    kind, rate = PERTURBATIONS[arm]
    pools = (dict(zip((p.id for p in order), step_pools([solve(p) for p in order]),
                      strict=True)) if kind == "insert" else {})
    slots = unsound_slots(n, share, seed)
    walk = enumerate(cycle(order))
    waiting: deque[Problem] = deque()
    out: list[tuple[Problem, str]] = []
    for slot in range(n):
        if slot not in slots:
            p = waiting.popleft() if waiting else next(walk)[1]
            out.append((p, solve(p)))
            continue
        for _ in range(len(order) + 1):
            step, p = next(walk)
            broken = first_draw(solve(p), kind, rate, random.Random(f"{arm}:{seed}:{step}"),
                                lambda t, p=p: not state.world.verify(p, t).correct, DRAWS,
                                pools.get(p.id, ()))
            if broken is not None:
                out.append((p, broken))
                break
            waiting.append(p)
        else:
            raise UsageError(f"'{kind}' at rate {rate} makes no training solution unsound "
                             f"in {DRAWS} draws")
    return out


def demonstrations(state: ChainState, arm: str, seed: int, n: int, share: float,
                   split: str = "train") -> Iterator[dict]:
    """The arm's n solve records, each marked with the verifier's verdict."""
    return iter([solve_record(state.fmt, p.text, s, problem_id=p.id,
                              sound=float(state.world.verify(p, s).correct))
                 for p, s in training_solutions(state, arm, seed, n, share, split)])


@register_experiment
class StructureVsContent(ChainFinetune):
    name = "structure-vs-content"
    title = "Structure vs content: fine-tuning on perturbed demonstrations (chain world)"
    question = ("When a model imitates step-by-step solutions, does breaking their structure "
                "(shuffled, deleted or inserted steps) hurt more than corrupting their content "
                "(wrong numbers), at the same training budget and the same share of broken "
                "demonstrations?")
    arm_table = (BASE, *(Arm(a, a, "solve", "sft", FIT_GATE) for a in PERTURBATIONS))
    presets = {"smoke": {**PRESETS["smoke"], **DOSE}, "default": {**SIZED_DEFAULT, **DOSE}}
    metrics = ("solve_accuracy", "sound_solution", "format_rate")
    baseline = "clean"

    def comparisons(self) -> tuple[Comparison, ...]:
        return tuple(Comparison(a, "clean") for a in PERTURBATIONS if a != "clean")

    def records(self, ctx: RunContext, state: ChainState, arm: str, seed: int):
        n = FinetuneSpec.of(ctx.params["finetune"]).examples
        return demonstrations(state, arm, seed, n, ctx.params["unsound_share"])

    def heldout(self, ctx: RunContext, state: ChainState, arm: str) -> list[dict]:
        n = len(state.splits["validation"])
        return list(demonstrations(state, arm, 0, n, ctx.params["unsound_share"], "validation"))

    def extra(self, ctx: RunContext, state: ChainState, arm: str, seed: int,
              records: list[dict], scores: dict) -> dict:
        """The measured dose (share of demonstrations the verifier rejects), the share of
        demonstrations whose problem the clean arm also trains on, and one broken example."""
        clean = {p.id for p in islice(cycle(problem_order(state, seed)), len(records))}
        return {"solve_accuracy": scores["solve_accuracy"],
                "unsound_share": sum(1 - r["sound"] for r in records) / len(records),
                "clean_problems": sum(r["problem_id"] in clean for r in records) / len(records),
                "example": next((r for r in records if not r["sound"]), records[0])["completion"]}

    def conclusions(self, results: dict) -> list[str]:
        if not all(results["extra"].get(a) for a in (*STRUCTURE, *CONTENT)):
            return []
        out = []
        failed = [a for a in (*STRUCTURE, *CONTENT) if results["validity"][a]["passed"] is False]
        gates = "its validity gate" if len(failed) == 1 else "their validity gates"
        for sp in self.splits:
            if failed:
                out.append(f"On {sp}, mean solve_accuracy of the structure arms minus the content "
                           f"arm: withheld ({', '.join(failed)} failed {gates}).")
                continue
            c = structure_minus_content(results, sp)
            lo, hi = c["ci95"]
            verdict = ("structure perturbations cost more than content ones" if hi < 0 else
                       "content perturbations cost more than structure ones" if lo > 0 else
                       "no difference between structure and content perturbations is resolved")
            out.append(f"On {sp}, mean solve_accuracy of the structure arms minus the content arm: "
                       f"{100 * c['mean']:+.1f} points [{100 * lo:+.1f}, {100 * hi:+.1f}] "
                       f"(paired bootstrap): {verdict}.")
        dose = {a: sum(r["unsound_share"] for r in results["extra"][a])
                / len(results["extra"][a]) for a in PERTURBATIONS if results["extra"].get(a)}
        out.append(f"Share of training demonstrations the verifier rejects (the dose, set to "
                   f"{100 * results['params']['unsound_share']:.0f}% for every perturbed arm): "
                   + ", ".join(f"{a} {100 * v:.1f}%" for a, v in dose.items()) + ".")
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
