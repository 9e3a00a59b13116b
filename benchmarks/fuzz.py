"""Generated and hostile input for every parser, critic and grader, and the CLI fuzz cases.

Run: .venv/bin/python benchmarks/fuzz.py [--scale 1.0] [--out benchmarks/results/fuzz.json]
Counts what was tried and what went wrong: wrong steps judged right, hedges credited,
exceptions (a traceback in the CLI), calls over the time bound on 10^6-character lines.
`--doc docs/RELIABILITY.md` rewrites that page's generated table from the results
(`--from-json` renders an existing results file without rerunning).
"""

from __future__ import annotations

import argparse
import json
import random
import re
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from critiquelab.arith import ArithError, evaluate
from critiquelab.critics import ExactCritic, parse_first_error, parse_verdict
from critiquelab.critics.gsm8k import GSM8KCritic, gsm8k_problem
from critiquelab.grading import extract_answer, grade
from critiquelab.worlds import get_world

BOUND_S = 20.0  # a call on a 10^6-character line slower than this counts as a hang
LINE = 10**6
FORMATS = ["{eq}", "Step {k}: {eq}", "Total: {eq}", "{k}. {eq}", "{k}) {eq}", "- {eq}",
           "* {eq}", "• {eq}", "({eq})", "{eq} (dollars)", "{eq} dollars.", "So {eq}",
           "{ok}, {eq}", "{ok} and {eq}", "She pays {eq}.", "He has 5 apples: {eq}",
           "{eq}, so the total is {c}"]
OPS = {"+": lambda a, b: a + b, "-": lambda a, b: a - b, "*": lambda a, b: a * b,
       "x": lambda a, b: a * b, "/": lambda a, b: a / b}
HEDGES = ["The answer is {a}, not {b}.", "#### {a} or {b}", "#### {a} (or maybe {b})",
          "A: {a} or perhaps {b}", "The answer is {a}; actually {b}.", "#### {a}-{b}",
          "#### {a}, {b}", "\\boxed{{{a} \\text{{ or }} {b}}}", "#### either {a} or {b}",
          "#### {a} but {b}", "#### {a}? {b}", "#### between {a} and {b}"]
PLAIN = ["#### {a}", "The answer is {a}.", "A: {a}", "\\boxed{{{a}}}", "#### {a} dollars",
         "#### ${a}", "so in all {a}"]
GARBAGE = "0123456789 .,=+-*/()<>#:$%xXAanswerisStepConclusion\n\\{}[]@|goalfail"


def gsm8k_wrong_steps(n: int, rng: random.Random) -> dict:
    """One arithmetic error per solution, in every line format: never judged right."""
    critic, passed, alarms = GSM8KCritic(), 0, 0
    for i in range(n):
        fmt, op = FORMATS[i % len(FORMATS)], rng.choice(sorted(OPS))
        a, b = rng.randint(1, 999), rng.randint(1, 99)
        if op == "-" and a < b:
            a, b = b, a
        if op == "/":
            a = a * b
        true = int(OPS[op](a, b))
        sep = rng.choice(["", " "]) if op != "x" else " "
        for value, wrong in ((true + rng.randint(1, 50), True), (true, False)):
            eq = f"{a}{sep}{op}{sep}{b}{sep}={sep}{value}"
            line = fmt.format(eq=eq, k=rng.randint(1, 9), ok=f"{a} + 1 = {a + 1}", c=value)
            solution = f"{a} + 1 = {a + 1}\n{line}\n#### {value}"
            verdict = critic.critique(gsm8k_problem("q", str(value)), solution).verdict
            passed += wrong and verdict == "right"
            alarms += not wrong and verdict == "wrong"
    return {"wrong_steps": n, "judged_right": passed, "right_steps": n,
            "right_judged_wrong": alarms}


def _number(rng: random.Random) -> str:
    return rng.choice([str(rng.randint(0, 10**6)), f"{rng.randint(0, 9999)}.{rng.randint(1, 99)}"])


def grading_hedges(n: int, rng: random.Random) -> dict:
    """Two different numbers offered as alternatives: never credited; one number: credited."""
    credited, missed = 0, 0
    for i in range(n):
        a, b = _number(rng), _number(rng)
        if float(a) == float(b):
            continue
        text = HEDGES[i % len(HEDGES)].format(a=a, b=b)
        credited += grade(text, a).correct or grade(text, b).correct
        missed += not grade(PLAIN[i % len(PLAIN)].format(a=a), a).correct
    return {"hedges": n, "hedges_credited": credited, "plain_answers": n,
            "plain_not_credited": missed}


def world_injected(name: str, n: int, rng: random.Random) -> dict:
    """Every injected error is judged wrong by the exact critic; canonical solutions right."""
    world = get_world(name)
    critic, passed, alarms = ExactCritic(world), 0, 0
    for _ in range(n):
        p = world.generate(rng, rng.choice(world.difficulties()))
        bad = world.inject_error(p, rng)
        passed += critic.critique(p, bad.solution).verdict == "right"
        alarms += critic.critique(p, world.solve(p)).verdict == "wrong"
    return {"injected_errors": n, "judged_right": passed, "canonical_judged_wrong": alarms}


def chain_commuted(n: int, rng: random.Random) -> dict:
    """Canonical chain solutions with every `+`/`*` substitution commuted stay right."""
    world = get_world("chain")
    wrong = 0
    for _ in range(n):
        p = world.generate(rng, rng.choice(world.difficulties()))
        lines = []
        for line in world.solve(p).splitlines():
            parts = line.split(" = ")
            if len(parts) == 4 and (m := re.fullmatch(r"(\S+) ([+*]) (\S+)", parts[2])):
                parts[2] = f"{m[3]} {m[2]} {m[1]}"
            lines.append(" = ".join(parts))
        wrong += not world.verify(p, "\n".join(lines)).correct
    return {"commuted_solutions": n, "judged_wrong": wrong}


def _parsers() -> dict[str, Callable[[str], object]]:
    chain, countdown = get_world("chain"), get_world("countdown")
    cp = chain.generate(random.Random(0), 3)
    dp = countdown.parse_problem("24 from 8 5 8 3")
    gp = gsm8k_problem("q", "13")

    def arith(text: str) -> None:
        try:
            evaluate(text)
        except ArithError:
            pass

    return {"gsm8k critic": lambda t: GSM8KCritic().critique(gp, t),
            "grading": lambda t: grade(t, "13"),
            "answer extraction": extract_answer,
            "chain critic": lambda t: ExactCritic(chain).critique(cp, t),
            "countdown critic": lambda t: ExactCritic(countdown).critique(dp, t),
            "critique parser": lambda t: (parse_verdict(t), parse_first_error(t)),
            "arithmetic": arith}


def garbage(n: int, rng: random.Random) -> dict:
    """Random strings from the characters these parsers care about: no exception escapes."""
    out = {}
    for name, parse in _parsers().items():
        errors = 0
        for _ in range(n if name not in ("grading",) else n // 4):
            text = "".join(rng.choice(GARBAGE) for _ in range(rng.randint(0, 200)))
            try:
                parse(text)
            except Exception:  # counted: any exception here is a crash in the lab
                errors += 1
        out[name] = {"inputs": n if name != "grading" else n // 4, "exceptions": errors}
    return out


def long_lines() -> dict:
    """Each parser on 10^6-character lines made of the units behind the reported hangs."""
    units = ["1=1a", "1", " ", ".", "Answer: 5" + " " * 50 + "x", "A: 5 ", "answer is 5 ",
             "Step 1: ", "\n", "(", "<<", "####", "\\boxed{", "3 * 4 = ", ", and ", "9" * 7 + "*"]
    out = {}
    for name, parse in _parsers().items():
        worst, hangs = 0.0, 0
        for unit in units:
            text = (unit * (LINE // len(unit) + 1))[:LINE]
            start = time.perf_counter()
            parse(text)
            took = time.perf_counter() - start
            worst, hangs = max(worst, took), hangs + (took > BOUND_S)
        out[name] = {"lines": len(units), "chars": LINE, "max_s": round(worst, 2),
                     "hangs": hangs}
    return out


def cli_cases() -> dict:
    """The CLI fuzz test (tests/test_cli_fuzz.py), run and counted."""
    root = Path(__file__).resolve().parent.parent
    r = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider",
                        str(root / "tests" / "test_cli_fuzz.py")], capture_output=True,
                       text=True, cwd=root)
    counts = {k: int(v) for v, k in re.findall(r"(\d+) (passed|failed|skipped|error)",
                                                r.stdout)}
    return {"passed": counts.get("passed", 0), "failed": counts.get("failed", 0),
            "skipped": counts.get("skipped", 0), "errors": counts.get("error", 0)}


BEGIN = "<!-- BEGIN GENERATED: benchmarks/fuzz.py -->"
END = "<!-- END GENERATED -->"


def _row(target: str, tried: str, wrong: str) -> str:
    return f"| {target} | {tried} | {wrong} |"


def render(result: dict) -> str:
    """The markdown table docs/RELIABILITY.md shows, from one fuzz.json."""
    g, h = result["gsm8k_critic"], result["grading"]
    c, d = result["chain_critic"], result["countdown_critic"]
    rows = ["| target | inputs tried | went wrong |", "|---|---|---|",
            _row("GSM8K critic", f"{g['wrong_steps']:,} wrong steps in {len(FORMATS)} line "
                 f"formats, {g['right_steps']:,} right ones",
                 f"{g['judged_right']} wrong judged right, {g['right_judged_wrong']} right "
                 "judged wrong"),
            _row("grading", f"{h['hedges']:,} hedges ({len(HEDGES)} forms), "
                 f"{h['plain_answers']:,} plain answers ({len(PLAIN)} forms)",
                 f"{h['hedges_credited']} hedges credited, {h['plain_not_credited']} plain "
                 "answers refused"),
            _row("chain critic", f"{c['injected_errors']:,} injected errors, "
                 f"{c['injected_errors']:,} canonical and {c['commuted_solutions']:,} commuted "
                 "solutions", f"{c['judged_right']} errors judged right, "
                 f"{c['canonical_judged_wrong'] + c['judged_wrong']} right solutions judged wrong"),
            _row("countdown critic", f"{d['injected_errors']:,} injected errors, "
                 f"{d['injected_errors']:,} canonical solutions",
                 f"{d['judged_right']} errors judged right, {d['canonical_judged_wrong']} "
                 "right solutions judged wrong")]
    for name, r in result["garbage"].items():
        rows.append(_row(f"{name} (random text)", f"{r['inputs']:,} strings of 0-200 "
                         "characters", f"{r['exceptions']} exceptions"))
    for name, r in result["long_lines"].items():
        rows.append(_row(f"{name} (long lines)", f"{r['lines']} lines of {r['chars']:,} "
                         f"characters", f"{r['hangs']} over {BOUND_S:.0f} s (slowest "
                         f"{r['max_s']} s)"))
    if cli := result.get("cli"):
        rows.append(_row("CLI (`tests/test_cli_fuzz.py`)", f"{cli['passed'] + cli['failed']:,} "
                         "cases", f"{cli['failed'] + cli['errors']} failed (a traceback, "
                         "another exit code or more than one line)"))
    total = (2 * g["wrong_steps"] + 2 * h["hedges"] + 2 * c["injected_errors"]
             + c["commuted_solutions"] + 2 * d["injected_errors"]
             + sum(r["inputs"] for r in result["garbage"].values())
             + sum(r["lines"] for r in result["long_lines"].values()))
    return "\n".join([f"{total:,} inputs to the parsers, critics and graders (seed "
                      f"{result['seed']}, {result['wall_s']} s on one core of a shared "
                      "machine).", "", *rows])


def write_doc(doc: Path, result: dict) -> None:
    """Replace the generated block of `doc` with the table of `result`."""
    text = doc.read_text()
    head, _, rest = text.partition(BEGIN)
    _, _, tail = rest.partition(END)
    doc.write_text(f"{head}{BEGIN}\n{render(result)}\n{END}{tail}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", type=float, default=1.0, help="multiply every input count")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/fuzz.json"))
    ap.add_argument("--no-cli", action="store_true", help="skip the CLI fuzz test")
    ap.add_argument("--doc", type=Path, help="rewrite this page's generated table")
    ap.add_argument("--from-json", type=Path, help="render this results file; run nothing")
    args = ap.parse_args()
    if args.from_json:
        write_doc(args.doc, json.loads(args.from_json.read_text()))
        return
    rng = random.Random(args.seed)

    def n(base: int) -> int:
        return max(1, int(base * args.scale))

    start = time.perf_counter()
    result = {"seed": args.seed, "scale": args.scale,
              "gsm8k_critic": gsm8k_wrong_steps(n(6000), rng),
              "grading": grading_hedges(n(6000), rng),
              "chain_critic": {**world_injected("chain", n(3000), rng),
                               **chain_commuted(n(1000), rng)},
              "countdown_critic": world_injected("countdown", n(1000), rng),
              "garbage": garbage(n(10000), rng),
              "long_lines": long_lines()}
    if not args.no_cli:
        result["cli"] = cli_cases()
    result["wall_s"] = round(time.perf_counter() - start, 1)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    if args.doc:
        write_doc(args.doc, result)


if __name__ == "__main__":
    main()
