"""What each evaluation split holds and how much of it training already computes: sizes,
difficulties, computations shared with training, and the most-common-answer baseline."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence

from critiquelab.worlds.base import Problem, World


def audit(world: World, splits: Mapping[str, Sequence[Problem]], evals: Sequence[str],
          trained: Sequence[str] = ("train", "pretrain")) -> dict:
    """Per evaluation split: size, problems per difficulty, how many share their computation
    (signature) with a training problem, and the share a constant answer gets right."""
    seen = {world.signature(p) for sp in trained for p in splits[sp]}
    out = {}
    for sp in evals:
        problems = splits[sp]
        answer, hits = Counter(p.answer for p in problems).most_common(1)[0]
        out[sp] = {"n": len(problems),
                   "difficulties": _count(p.difficulty for p in problems),
                   "shared": _count(p.difficulty for p in problems if world.signature(p) in seen),
                   "trivial": {"answer": answer, "share": round(hits / len(problems), 4)}}
    return out


def _count(values) -> dict[str, int]:
    counts = Counter(values)
    return {str(k): counts[k] for k in sorted(counts)}


def markdown(report: Mapping[str, dict]) -> str:
    """The audit as a table: one row per split."""
    rows = ["| split | problems | by difficulty | computation seen in training | "
            "most common answer |", "|---|---|---|---|---|"]
    for sp, r in report.items():
        by = ", ".join(f"{d}: {k}" for d, k in r["difficulties"].items())
        shared = sum(r["shared"].values())
        per = ", ".join(f"{d}: {r['shared'].get(d, 0)}/{k}" for d, k in r["difficulties"].items())
        t = r["trivial"]
        rows.append(f"| `{sp}` | {r['n']} | {by} | {shared} of {r['n']} ({per}) | "
                    f"{t['share']:.1%} (`{t['answer']}`) |")
    return "\n".join(rows)
