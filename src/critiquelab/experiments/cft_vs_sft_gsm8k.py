"""cft-vs-sft-gsm8k: the cft-vs-sft arms on GSM8K with a pretrained model (default
SmolLM2-135M-Instruct), prompts in the model's chat template, graded by final answer.

GSM8K's model-written answers (example_model_solutions.jsonl) are for test problems, so
the test problems are halved by hash: the candidates of one half train sft-raw,
sft-verified and cft; the other half is the test split. sft-gold trains on train.jsonl.
"""

from __future__ import annotations

import os
import random
import shutil
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from itertools import cycle
from pathlib import Path

from critiquelab.critics.format import parse_verdict
from critiquelab.critics.gsm8k import GSM8KCritic, gsm8k_problem
from critiquelab.data.schema import CandidateRecord, ProblemRecord, load_candidates, load_problems
from critiquelab.errors import UsageError
from critiquelab.experiments import register_experiment
from critiquelab.experiments.finetune import take_examples
from critiquelab.experiments.spec import Arm, CellResult, Experiment, RunContext
from critiquelab.formats import ALPACA, critique_record, solve_record
from critiquelab.grading import extract_answer, grade
from critiquelab.io import stable_hash
from critiquelab.models import load_model, save_model
from critiquelab.models.backends import choose_backend, close_backend, make_backend
from critiquelab.models.chat import chat_prompt, chat_record
from critiquelab.training import TrainConfig, train
from critiquelab.training.lora import lora_config

DATA_ENV = "CRITIQUELAB_GSM8K"
SPLIT = "test"

SMOKE = {
    "data": None,  # a GSM8K directory: train.jsonl, example_model_solutions.jsonl
    "model": "smollm2-135m", "data_seed": 1234, "n_eval": 4, "n_critique_eval": 4,
    "critic": "gsm8k",  # or URL::MODEL of an OpenAI-compatible teacher
    # LoRA keeps CPU checkpoints small; no warm-up, whose first step has a learning rate of 0
    # Every trained arm takes the same optimizer steps at the same batch size (equal examples).
    "finetune": {"steps": 4, "learning_rate": 1e-4, "batch_size": 1, "max_length": 512,
                 "warmup_ratio": 0.0, "lora": {"r": 8, "alpha": 16}},
    "max_new_tokens": 32, "critique_max_new_tokens": 16, "batch_size": 8, "backend": "auto",
}
DEFAULT = {
    **SMOKE,
    "n_eval": 659, "n_critique_eval": 659,  # the whole held-out half of the 1,319 test problems
    "finetune": {"steps": 160, "learning_rate": 1e-5, "batch_size": 32,  # ~1.5M tokens
                 "max_length": 1024, "warmup_ratio": 0.05, "lora": None},
    "max_new_tokens": 384, "critique_max_new_tokens": 384, "batch_size": 64,
}


def question_hash(question: str) -> str:
    """The hash that keeps test problems out of training: whitespace- and case-insensitive."""
    return stable_hash(" ".join(question.lower().split()))


@dataclass
class GSM8KState:
    gold: list[ProblemRecord]  # train.jsonl problems with reference solutions
    candidates: list[CandidateRecord]  # model-written answers to the training half
    test: list[ProblemRecord]
    critique_test: list[CandidateRecord]  # one held-out candidate per test problem
    critiques: dict[str, str]  # candidate key -> critique text


def data_dir(params: dict) -> Path:
    """The GSM8K directory: the `data` parameter (--data), else $CRITIQUELAB_GSM8K."""
    where = params.get("data") or os.environ.get(DATA_ENV)
    if not where:
        raise UsageError(f"cft-vs-sft-gsm8k needs GSM8K: pass --data DIR or set {DATA_ENV} to "
                         "a directory with train.jsonl and example_model_solutions.jsonl")
    path = Path(where)
    for name in ("train.jsonl", "example_model_solutions.jsonl"):
        if not (path / name).is_file():
            raise UsageError(f"{path}: no {name} (need GSM8K's train.jsonl and "
                             "example_model_solutions.jsonl)")
    return path


def split_test_problems(candidates: Sequence[CandidateRecord], seed: int
                        ) -> tuple[list[str], list[str]]:
    """The test questions halved by a seeded hash: (training half, held-out half)."""
    questions = sorted({question_hash(c.question) for c in candidates},
                       key=lambda h: stable_hash([seed, h]))
    half = len(questions) // 2
    return questions[:half], questions[half:]


def gsm8k_setup(params: dict) -> GSM8KState:
    """Problems, candidates and splits; raises if a test problem would train (by hash)."""
    root = data_dir(params)
    seed = params["data_seed"]
    cands = load_candidates(root / "example_model_solutions.jsonl")
    train_half, test_half = split_test_problems(cands, seed)
    train_set = set(train_half)
    by_question: dict[str, list[CandidateRecord]] = {}
    for c in cands:
        by_question.setdefault(question_hash(c.question), []).append(c)
    rng = random.Random(f"critique-test:{seed}")
    held = test_half[:params["n_eval"]]
    test = [ProblemRecord(by_question[h][0].question, by_question[h][0].answer, id=h)
            for h in held]
    critique_test = [rng.choice(by_question[h]) for h in test_half[:params["n_critique_eval"]]]
    held_out = set(test_half)
    gold = [p for p in load_problems(root / "train.jsonl")
            if p.solution is not None and question_hash(p.question) not in held_out]
    training = [c for c in cands if question_hash(c.question) in train_set]
    state = GSM8KState(gold, training, test, critique_test, {})
    assert_no_leak(state)
    state.critiques = critique_texts(training, params["critic"], params)
    return state


def assert_no_leak(state: GSM8KState) -> None:
    """Raise if any evaluated question appears in any training pool."""
    evaluated = {question_hash(p.question) for p in state.test}
    evaluated |= {question_hash(c.question) for c in state.critique_test}
    trained = {question_hash(p.question) for p in state.gold}
    trained |= {question_hash(c.question) for c in state.candidates}
    if leaked := evaluated & trained:
        raise AssertionError(f"{len(leaked)} test problems are in the training data")


def critique_texts(candidates: Sequence[CandidateRecord], critic: str, params: dict
                   ) -> dict[str, str]:
    """A critique for every training candidate: the GSM8K step critic, or a teacher model
    (URL::MODEL, key from $OPENAI_API_KEY, answers cached); failed ones are left out."""
    if critic == "gsm8k":
        step_critic = GSM8KCritic()
        return {c.key: step_critic.critique(gsm8k_problem(c.question, c.answer), c.solution).text
                for c in candidates}
    from critiquelab.critics import teacher
    from critiquelab.models.sources import cache_root

    spec = teacher.TeacherSpec.parse(critic)
    client = teacher.ChatClient(spec, spec.api_key("OPENAI_API_KEY"),
                                teacher.ResponseCache(cache_root() / "teacher"),
                                teacher.Sampling(0.0, 1024, 1.0, params["data_seed"]))
    pairs = [(c.question, c.solution) for c in candidates]
    texts = teacher.TeacherCritic(client).critique_texts(pairs)
    return {c.key: t for c, t in zip(candidates, texts, strict=True)
            if t is not None and parse_verdict(t) is not None}


def arm_records(state: GSM8KState, arm: str, rng: random.Random) -> Iterator[dict]:
    """The arm's records (ALPACA layout), cycling over its pool in a seeded order."""
    if arm == "sft-gold":
        gold = list(state.gold)
        rng.shuffle(gold)
        return (solve_record(ALPACA, p.question, p.solution) for p in cycle(gold))
    pool = list(state.candidates)
    if arm == "sft-verified":
        pool = [c for c in pool if c.label]
    if arm == "cft":
        pool = [c for c in pool if c.key in state.critiques]
    if not pool:
        raise UsageError(f"arm {arm}: no training candidates")
    rng.shuffle(pool)
    if arm == "cft":
        return (critique_record(ALPACA, c.question, c.solution, state.critiques[c.key])
                for c in cycle(pool))
    return (solve_record(ALPACA, c.question, c.solution) for c in cycle(pool))


def evaluate(backend, tokenizer, state: GSM8KState, params: dict) -> tuple[dict, list[str]]:
    """Per-item solve_accuracy, format_rate and critique_accuracy on the test split (greedy),
    and the solve outputs."""
    solve = [chat_prompt(tokenizer, ALPACA.solve_prompt(p.question)) for p in state.test]
    outs = [o[0] for o in backend.generate(solve, params["max_new_tokens"],
                                           batch_size=params["batch_size"])]
    critique = [chat_prompt(tokenizer, ALPACA.critique_prompt(c.question, c.solution))
                for c in state.critique_test]
    verdicts = [o[0] for o in backend.generate(critique, params["critique_max_new_tokens"],
                                               batch_size=params["batch_size"])]
    return {
        "solve_accuracy": {SPLIT: [float(grade(o, p.answer).correct)
                                   for o, p in zip(outs, state.test, strict=True)]},
        "format_rate": {SPLIT: [float(extract_answer(o, last_number=False) is not None)
                                for o in outs]},
        "critique_accuracy": {SPLIT: [float(parse_verdict(v) == ("right" if c.label else "wrong"))
                                      for v, c in zip(verdicts, state.critique_test,
                                                      strict=True)]},
    }, outs


@register_experiment
class CftVsSftGsm8k(Experiment):
    name = "cft-vs-sft-gsm8k"
    title = "Critique fine-tuning vs imitation on GSM8K with a pretrained model"
    question = ("On GSM8K, does fine-tuning a pretrained model on critiques of model-written "
                "answers teach it to solve better than fine-tuning on answers, at the same "
                "training budget?")
    # No validation split: GSM8K's held-out half is the test, so the arms carry no gates.
    arm_table = (Arm("base"), *(Arm(a, a, "solve", "sft") for a in ("sft-raw", "sft-verified",
                                                                      "sft-gold")),
                 Arm("cft", "cft", "critique", "sft"))
    presets = {"smoke": SMOKE, "default": DEFAULT}
    metrics = ("solve_accuracy", "format_rate", "critique_accuracy")
    splits = (SPLIT,)
    baseline = "sft-gold"
    seed_invariant_arms = ("base",)

    def setup(self, ctx: RunContext) -> GSM8KState:
        state = gsm8k_setup(ctx.params)
        load_model(ctx.params["model"])  # fetch or convert the base once, before any cell
        return state

    def run_cell(self, ctx: RunContext, state: GSM8KState, arm: str, seed: int) -> CellResult:
        p, ft = ctx.params, ctx.params["finetune"]
        model, tok = load_model(p["model"], seed=seed)
        budget: dict[str, float] = {"tokens": 0, "loss_tokens": 0, "steps": 0, "examples": 0,
                                    "wall_s": 0.0}
        curves = {}
        work = ctx.work_dir(f"{arm}__seed{seed}")
        if arm != "base":
            rendered = (chat_record(tok, r) for r in arm_records(state, arm, random.Random(
                f"{arm}:{seed}")))
            records = take_examples(rendered, ft["steps"] * ft["batch_size"], arm)
            cfg = TrainConfig(learning_rate=ft["learning_rate"], max_steps=ft["steps"],
                              batch_size=ft["batch_size"], max_length=ft["max_length"],
                              warmup_ratio=ft["warmup_ratio"], seed=seed,
                              report_to=ctx.report_to, run_name=f"{self.name}/{arm}/seed{seed}")
            peft = lora_config(**ft["lora"]) if ft["lora"] else None
            result = train(model, tok, records, cfg, work / "train", progress=ctx.progress,
                           peft_config=peft)
            budget = {"tokens": result.tokens, "loss_tokens": result.loss_tokens,
                      "steps": result.steps, "examples": len(records), "wall_s": result.wall_s}
            curves["train_loss"] = [list(pt) for pt in result.loss_curve]
            shutil.rmtree(work / "train")  # the cell's result is what is kept, not its optimizer
        backend_name = choose_backend(p["backend"])
        model_path = None
        if backend_name == "vllm":
            model_path = str(work / "model")
            save_model(model, tok, model_path)
            model.to("cpu")
        backend = make_backend(backend_name, model, tok, model_path, seed=seed)
        try:
            scores, outs = evaluate(backend, tok, state, p)
        finally:
            close_backend(backend)
        right = sum(bool(c.label) for c in state.critique_test) / len(state.critique_test)
        gens = [{"item": question_hash(q.question), "split": SPLIT, "metric": m,
                 "prompt": ALPACA.solve_prompt(q.question), "output": o, "score": sc}
                for m in ("solve_accuracy", "format_rate")
                for q, o, sc in zip(state.test, outs, scores[m][SPLIT], strict=True)]
        return CellResult(scores, budget, curves=curves,
                          extra={"backend": backend_name, "critique_test_right_share": right,
                                 "sample_output": outs[0] if outs else ""}, generations=gens)

    def conclusions(self, results: dict) -> list[str]:
        out = []
        for arm in results["arms"]:
            ci = results["arms"][arm]["solve_accuracy"][SPLIT]
            lo, hi = ci["ci95"]
            out.append(f"{arm} solves {100 * ci['mean']:.1f}% of held-out GSM8K test problems "
                       f"(95% CI {100 * lo:.1f}-{100 * hi:.1f}%).")
        return out
