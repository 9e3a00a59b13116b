"""Audit the chain testbed's default splits: computations shared with training, sizes and the
most-common-answer baseline, for today's splits and for the old exact-hash scheme.

Writes docs/splits.json and the generated tables in docs/SPLITS.md (about two minutes):
    python benchmarks/split_audit.py
"""

from __future__ import annotations

import random
import re
from pathlib import Path

from critiquelab.data.split_audit import audit, markdown
from critiquelab.data.splits import SplitSpec, generate_problems
from critiquelab.experiments import get_experiment
from critiquelab.experiments.chain_common import EVAL, chain_splits
from critiquelab.io import atomic_write_json, atomic_write_text
from critiquelab.worlds import get_world

DOCS = Path(__file__).resolve().parent.parent / "docs"
OLD_OOD = (4, 5, 6)  # the old default's out-of-distribution lengths
OLD_PRETRAIN = (1, 2, 3)  # the old default's pretraining lengths, at any depth


def old_scheme(params: dict):
    """The splits as drawn before signatures: id and validation over every trained length,
    ood three to five operations longer, training kept out by exact problem hash only, and no
    limit on depth."""
    world = get_world("chain", **{k: v for k, v in params["world"].items() if k != "depths"})
    trained = tuple(params["id_difficulties"])
    specs = {"validation": SplitSpec(params["n_validation"], trained),
             "id": SplitSpec(params["n_eval"], trained),
             "ood": SplitSpec(params["n_eval"], OLD_OOD),
             "train": SplitSpec(params["n_train"], trained),
             "pretrain": SplitSpec(params["n_pretrain"], OLD_PRETRAIN)}
    splits, held = {}, set()
    for i, name in enumerate(specs):
        rng = random.Random(f"{params['data_seed']}:{name}:{i}")
        splits[name] = generate_problems(world, specs[name], rng, exclude=held)
        held |= {p.id for p in splits[name]}
    return world, splits


def main() -> None:
    params = get_experiment("cft-vs-sft").presets["default"]
    world, splits = chain_splits(params)
    old_world, old = old_scheme(params)
    result = {"preset": "cft-vs-sft/default",
              "splits": audit(world, splits, ("validation", *EVAL)),
              "old_scheme": audit(old_world, old, ("validation", "id", "ood"))}
    atomic_write_json(DOCS / "splits.json", result)
    write_tables(result)
    print(markdown(result["splits"]), markdown(result["old_scheme"]), sep="\n\n")


def write_tables(result: dict) -> None:
    """Replace each `<!-- audit:KEY -->` ... `<!-- /audit -->` block of docs/SPLITS.md."""
    doc = DOCS / "SPLITS.md"
    text = doc.read_text()
    for key in ("splits", "old_scheme"):
        text = re.sub(rf"(<!-- audit:{key} -->\n)(?:.*?\n)?(<!-- /audit -->)",
                      lambda m, k=key: m.group(1) + markdown(result[k]) + "\n" + m.group(2),
                      text, flags=re.DOTALL)
    atomic_write_text(doc, text)


if __name__ == "__main__":
    main()
