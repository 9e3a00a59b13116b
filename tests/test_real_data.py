"""Real-data schemas, readers, the public CFT format and the `data convert` / `score` CLIs."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from critiquelab.data.cft import CFTExample, build_cft, cft_from_row, load_cft
from critiquelab.data.schema import (
    CandidateRecord,
    load_candidates,
    load_problems,
    write_rows,
)
from critiquelab.errors import UsageError
from critiquelab.formats import ALPACA

FIXTURES = Path(__file__).parent / "fixtures" / "gsm8k"


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "critiquelab.cli", *args],
                          capture_output=True, text=True, timeout=120)


def write(path: Path, rows: list) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_gsm8k_problems_split_answer_and_solution():
    p = load_problems(FIXTURES / "train_head.jsonl")[0]
    assert p.answer == "72" and p.solution.endswith("#### 72") and p.id is None


def test_example_model_solutions_give_four_labelled_candidates_each():
    cands = load_candidates(FIXTURES / "example_model_solutions_head.jsonl")
    assert len(cands) == 12
    assert [c.source for c in cands[:4]] == ["6b_finetuning", "6b_verification",
                                             "175b_finetuning", "175b_verification"]
    assert cands[0].answer == "18" and cands[3].label is True and cands[0].label is False


def test_schema_candidates_accept_candidate_or_solution_and_labels(tmp_path):
    src = write(tmp_path / "c.jsonl", [
        {"question": "q", "answer": 3, "candidate": "A: 3", "label": "right", "id": 7},
        {"question": "q", "answer": "x\n#### 4", "solution": "A: 5", "is_correct": False}])
    a, b = load_candidates(src)
    assert (a.answer, a.solution, a.label, a.id) == ("3", "A: 3", True, "7")
    assert (b.answer, b.reference_solution, b.label) == ("4", "x\n#### 4", False)


@pytest.mark.parametrize(
    ("row", "needle"),
    [({"answer": "1"}, "missing field 'question'"),
     ({"question": "q"}, "missing field 'answer'"),
     ({"question": "q", "answer": ["1"]}, "field 'answer' must be a string"),
     ({"question": " ", "answer": "1"}, "field 'question' is empty"),
     ({"question": "q", "answer": "steps\n#### "}, "no answer after it"),
     ({"question": "q", "answer": "1", "candidate": "A: 1", "label": "maybe"}, "field 'label'"),
     ({"question": "q", "ground_truth": "A: 1", "m": {"solution": "A: 1"}}, "'m.is_correct'"),
     ({"question": "q", "answer": "1"}, "missing field 'solution'")],
)
def test_bad_rows_name_file_line_and_field(tmp_path, row, needle):
    src = write(tmp_path / "bad.jsonl", [{"question": "fine", "answer": "1", "solution": "s"},
                                         row])
    loader = load_candidates if needle in ("missing field 'solution'", "field 'label'",
                                           "'m.is_correct'") else load_problems
    with pytest.raises(UsageError) as e:
        loader(src)
    assert f"{src}:2: " in str(e.value) and needle in str(e.value)


def test_parquet_and_saved_dataset_sources(tmp_path):
    from datasets import Dataset, DatasetDict

    rows = [{"question": "q1", "answer": "1"}, {"question": "q2", "answer": "2"}]
    write_rows(tmp_path / "p.parquet", rows)
    assert [p.answer for p in load_problems(tmp_path / "p.parquet")] == ["1", "2"]
    DatasetDict({"train": Dataset.from_list(rows), "test": Dataset.from_list(rows[:1])}
                ).save_to_disk(str(tmp_path / "ds"))
    assert len(load_problems(tmp_path / "ds", split="test")) == 1
    with pytest.raises(UsageError, match="--split"):
        load_problems(tmp_path / "ds")
    write_rows(tmp_path / "bad.parquet", [{"question": "q", "answer": None}])
    with pytest.raises(UsageError, match=r"bad.parquet:row 1: missing field 'answer'"):
        load_problems(tmp_path / "bad.parquet")
    with pytest.raises(UsageError, match="no such file"):
        load_problems(tmp_path / "nope.jsonl")


def test_cft_round_trip_matches_the_alpaca_prompt_format():
    ex = CFTExample("What is 2+3?", "2+3 = 5\nA: 5", "Step 1: 2+3 = 5 correct.\n"
                    "Conclusion: right [END]")
    record = ex.to_alpaca()
    assert record["input"] == "Question:\nWhat is 2+3?\n\nSolution:\n2+3 = 5\nA: 5"
    assert cft_from_row(record, "x") == ex and ex.verdict == "right"
    train = ex.to_training_record()
    assert train["prompt"] == ALPACA.critique_prompt(ex.question, ex.solution)
    assert train["completion"].endswith("Conclusion: right [END]\n")


def test_cft_rejects_other_layouts():
    with pytest.raises(UsageError, match="x:3: field 'input'"):
        cft_from_row({"instruction": "i", "input": "Solve 2+3", "output": "o"}, "x:3")
    with pytest.raises(UsageError, match="field 'output'"):
        cft_from_row({"instruction": "i", "input": "Question:\nq\n\nSolution:\ns"}, "x:1")


def test_build_cft_drops_unparsed_and_filters_disagreement():
    cands = [CandidateRecord("q", "5", "A: 5", label=True),
             CandidateRecord("q", "5", "A: 6"),  # no label: the answer check says wrong
             CandidateRecord("q", "5", "A: 7", label=False)]
    texts = ["Conclusion: right [END]", "Conclusion: right [END]", "no verdict"]
    built = build_cft(cands, texts, filter_agree=True)
    assert (built.kept, built.unparsed, built.agree) == (1, 1, 1)
    assert built.records[0]["reference_verdict"] == "right"
    assert build_cft(cands, [texts[0], None, texts[0]]).summary()["failed"] == 1


def test_convert_cli_round_trips_cft_through_parquet(tmp_path):
    ex = CFTExample("q", "s", "Step 1: ok correct.\nConclusion: wrong [END]")
    src = write(tmp_path / "cft.jsonl", [ex.to_alpaca()])
    r = cli("data", "convert", str(src), "--to", "cft", "--out", str(tmp_path / "c.parquet"))
    assert r.returncode == 0, r.stderr
    assert load_cft(tmp_path / "c.parquet") == [ex]
    r = cli("data", "convert", str(tmp_path / "c.parquet"), "--to", "cft-train",
            "--out", str(tmp_path / "train.jsonl"))
    assert json.loads((tmp_path / "train.jsonl").read_text()) == ex.to_training_record()
    r = cli("data", "convert", str(src), "--to", "problems", "--out", str(tmp_path / "p.jsonl"))
    assert r.returncode == 2 and "cft.jsonl:1: missing field 'question'" in r.stderr


def test_score_cli(tmp_path):
    data = FIXTURES / "train_head.jsonl"
    preds = write(tmp_path / "p.jsonl", [{"prediction": t} for t in
                                         ["#### 72", "The answer is $10.00.", "\\boxed{6}",
                                          "A: 42", "nothing"]])
    r = cli("score", "--data", str(data), "--predictions", str(preds),
            "--out", str(tmp_path / "o.jsonl"))
    assert r.returncode == 0, r.stderr
    assert "accuracy: 0.6000 (3/5)" in r.stdout
    out = [json.loads(line) for line in (tmp_path / "o.jsonl").read_text().splitlines()]
    assert [o["correct"] for o in out] == [True, True, False, True, False]
    assert out[1]["predicted"] == "$10.00" and out[4]["predicted"] is None

    short = write(tmp_path / "short.jsonl", [{"prediction": "1"}])
    r = cli("score", "--data", str(data), "--predictions", str(short))
    assert r.returncode == 2 and "1 predictions for 5 problems" in r.stderr


def test_score_matches_by_id(tmp_path):
    data = write(tmp_path / "d.jsonl", [{"id": "a", "question": "q", "answer": "1"},
                                        {"id": "b", "question": "q", "answer": "2"}])
    preds = write(tmp_path / "p.jsonl", [{"id": "b", "prediction": "2"},
                                         {"id": "a", "prediction": "1"}])
    r = cli("score", "--data", str(data), "--predictions", str(preds))
    assert "accuracy: 1.0000 (2/2)" in r.stdout, r.stderr
    write(preds, [{"id": "b", "prediction": "2"}, {"id": "c", "prediction": "1"}])
    r = cli("score", "--data", str(data), "--predictions", str(preds))
    assert r.returncode == 2 and "no prediction for id 'a'" in r.stderr
