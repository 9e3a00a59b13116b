"""docs/RELIABILITY.md shows exactly what benchmarks/fuzz.py made of the committed results."""

import importlib.util
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_reliability_figures_come_from_the_committed_results():
    spec = importlib.util.spec_from_file_location("fuzz", ROOT / "benchmarks" / "fuzz.py")
    fuzz = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(fuzz)
    result = json.loads((ROOT / "benchmarks" / "results" / "fuzz.json").read_text())
    doc = (ROOT / "docs" / "RELIABILITY.md").read_text()
    block = doc.split(fuzz.BEGIN, 1)[1].split(fuzz.END, 1)[0]
    assert block.strip() == fuzz.render(result).strip()
    assert result["gsm8k_critic"]["judged_right"] == result["grading"]["hedges_credited"] == 0
    assert all(r["hangs"] == 0 for r in result["long_lines"].values())
