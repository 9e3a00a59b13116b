"""Tokenizer, tiny models, save/load, SFT training (masking, resume) and generation."""

from __future__ import annotations

import string

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from critiquelab.errors import UsageError
from critiquelab.models import build_char_tokenizer, load_model, save_model
from critiquelab.models.generate import cut_at_stop, generate
from critiquelab.training import TrainConfig, record_logprobs, train
from critiquelab.training.sft import last_checkpoint, prepare_dataset

TOK = build_char_tokenizer()
PRINTABLE = "".join(chr(c) for c in range(32, 127)) + "\n"
MEMO = [{"prompt": "A:", "completion": "1+2=3\n"}, {"prompt": "B:", "completion": "7*6=42\n"}]


@settings(max_examples=60, deadline=None)
@given(st.text(alphabet=PRINTABLE, max_size=200))
def test_tokenizer_round_trips_printable_text(text):
    ids = TOK(text)["input_ids"]
    assert ids[0] == TOK.bos_token_id and len(ids) == len(text) + 1
    assert TOK.decode(ids, skip_special_tokens=True) == text


def test_tokenizer_saves_and_loads(tmp_path):
    from transformers import AutoTokenizer

    TOK.save_pretrained(tmp_path)
    loaded = AutoTokenizer.from_pretrained(tmp_path)
    text = string.printable[:90]
    assert loaded(text)["input_ids"] == TOK(text)["input_ids"]
    assert (loaded.pad_token_id, loaded.eos_token_id) == (TOK.pad_token_id, TOK.eos_token_id)


def test_presets_are_seeded_and_unknown_spec_is_a_usage_error():
    a, _ = load_model("tiny-xs", seed=1)
    b, _ = load_model("tiny-xs", seed=1)
    c, _ = load_model("tiny-xs", seed=2)
    assert all(torch.equal(x, y) for x, y in zip(a.parameters(), b.parameters(), strict=True))
    assert not torch.equal(a.model.embed_tokens.weight, c.model.embed_tokens.weight)
    with pytest.raises(UsageError, match="unknown model 'nope'"):
        load_model("nope")


def test_save_load_round_trip_gives_identical_logits(tmp_path):
    model, tok = load_model("tiny-xs", seed=3)
    save_model(model, tok, tmp_path / "m")
    save_model(model, tok, tmp_path / "m")  # replacing an existing directory works too
    loaded, tok2 = load_model(str(tmp_path / "m"))
    x = tok2(["Q: 12+30?\n"], return_tensors="pt").to(model.device)
    with torch.no_grad():
        assert torch.equal(model(**x).logits, loaded(**x).logits)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]  # no temp dirs left behind


def test_labels_mask_the_prompt_and_match_trl(tmp_path):
    from trl import SFTConfig, SFTTrainer

    records = [{"prompt": "Q: 1+1\n", "completion": "2\n"}, {"prompt": "Hi", "completion": "yo"}]
    ours, _ = prepare_dataset(TOK, records, max_length=64)
    for rec, labels in zip(records, ours["labels"], strict=True):
        n_prompt = len(rec["prompt"]) + 1  # + <bos>
        assert labels[:n_prompt] == [-100] * n_prompt
        assert labels[n_prompt:] == TOK(rec["completion"] + TOK.eos_token,
                                         add_special_tokens=False)["input_ids"]
    model, _ = load_model("tiny-xs")
    import datasets

    trl = SFTTrainer(model=model, processing_class=TOK,
                     train_dataset=datasets.Dataset.from_list(records),
                     args=SFTConfig(str(tmp_path), report_to="none", bf16=False,
                                    use_cpu=True, activation_checkpointing=False)).train_dataset
    assert ours["input_ids"] == trl["input_ids"] and ours["labels"] == trl["labels"]


def _train(records, tmp_path, **kw):
    model, tok = load_model("tiny-xs", seed=0)
    cfg = TrainConfig(**{"learning_rate": 3e-3, "batch_size": 4, "logging_steps": 1,
                         "warmup_ratio": 0.0, **kw})
    return model, tok, train(model, tok, records, cfg, tmp_path)


def test_training_lowers_loss_is_deterministic_and_counts_tokens(tmp_path):
    records = [{"prompt": f"Q{i}: ", "completion": f"{i} {i} {i}\n"} for i in range(16)]
    _, _, r1 = _train(records, tmp_path / "a", max_steps=12)
    _, _, r2 = _train(records, tmp_path / "b", max_steps=12)
    assert r1.loss_curve == r2.loss_curve and r1.steps == 12
    assert r1.loss_curve[-1][1] < r1.loss_curve[0][1]
    assert 0 < r1.loss_tokens < r1.tokens
    assert r1.tokens_per_s > 0


def test_prompt_tokens_carry_no_loss():
    """Prompts that differ only in their characters yield the same loss-bearing labels."""
    a = prepare_dataset(TOK, [{"prompt": "xy", "completion": "abc\n"}], 64)[0]["labels"][0]
    b = prepare_dataset(TOK, [{"prompt": "zw", "completion": "abc\n"}], 64)[0]["labels"][0]
    completion = TOK("abc\n" + TOK.eos_token, add_special_tokens=False)["input_ids"]
    assert a == b == [-100] * 3 + completion


def test_text_records_train_on_every_token(tmp_path):
    ds, _ = prepare_dataset(TOK, [{"text": "hello world"}], 64)
    assert ds["labels"][0] == ds["input_ids"][0]
    assert ds["input_ids"][0][-1] == TOK.eos_token_id


LONG = [{"prompt": "p" * 20, "completion": "c" * 5}, {"prompt": "P", "completion": "short"},
        {"prompt": "q" * 4, "completion": "d" * 12}]


@pytest.mark.parametrize("truncation, kept, dropped, truncated, first", [
    ("right", 2, 1, 1, TOK("P")["input_ids"]),  # a 21-token prompt leaves no loss token
    ("left", 3, 0, 2, TOK("p" * 10 + "c" * 5 + TOK.eos_token,
                          add_special_tokens=False)["input_ids"]),
    ("drop", 1, 2, 0, TOK("P")["input_ids"]),
])
def test_truncation_counts_every_record(truncation, kept, dropped, truncated, first):
    ds, counts = prepare_dataset(TOK, LONG, max_length=16, truncation=truncation)
    assert (counts.records_in, counts.records_trained) == (3, kept) == (3, len(ds))
    assert (counts.dropped, counts.truncated) == (dropped, truncated)
    assert ds["input_ids"][0][:len(first)] == first and max(ds["length"]) <= 16
    assert counts.warnings(16, truncation)[0].startswith(f"{dropped + truncated} of 3 records")


def test_unknown_characters_are_counted_and_bad_truncation_refused():
    _, counts = prepare_dataset(TOK, [{"text": "na\u00efve caf\u00e9 \u2603"}], 64)
    assert counts.unknown_tokens == 3 and counts.dropped == counts.truncated == 0
    assert counts.warnings(64, "right") == [
        "3 characters are unknown to the tokenizer and were mapped to its unknown token"]
    with pytest.raises(UsageError, match="unknown truncation 'middle'"):
        prepare_dataset(TOK, LONG, 16, truncation="middle")
    with pytest.raises(UsageError, match="no training record fits"):
        prepare_dataset(TOK, LONG[:1], 16, truncation="drop")


def test_training_warns_when_records_are_lost(tmp_path, caplog):
    records = [{"prompt": "x" * 40, "completion": "y"}] + MEMO * 4
    _, _, result = _train(records, tmp_path, max_steps=1, max_length=24)
    assert (result.records.records_in, result.records.dropped) == (9, 1)
    assert "1 of 9 records are longer than max_length 24 tokens: 1 dropped" in caplog.text


def test_resume_continues_the_step_count(tmp_path):
    records = [{"prompt": f"Q{i}: ", "completion": f"{i}{i}\n"} for i in range(16)]
    _, _, first = _train(records, tmp_path, max_steps=4, save_steps=4)
    assert last_checkpoint(tmp_path).name == "checkpoint-4"
    _, _, second = _train(records, tmp_path, max_steps=8, save_steps=4)
    assert second.steps == 8 and last_checkpoint(tmp_path).name == "checkpoint-8"
    assert [s for s, _ in second.loss_curve] == list(range(1, 9))
    assert second.tokens > first.tokens
    assert len(list(tmp_path.glob("checkpoint-*"))) <= 2


def test_a_finished_run_called_again_trains_no_more(tmp_path):
    records = [{"prompt": f"Q{i}: ", "completion": f"{i}{i}\n"} for i in range(16)]
    trained, _, first = _train(records, tmp_path, max_steps=2, save_steps=2)
    again, _, second = _train(records, tmp_path, max_steps=2, save_steps=2)
    assert second.steps == 2 and last_checkpoint(tmp_path).name == "checkpoint-2"
    assert (second.tokens, second.loss_curve) == (first.tokens, first.loss_curve)
    want = trained.state_dict()
    assert all(torch.equal(want[k], v) for k, v in again.state_dict().items())
    third = _train(records, tmp_path / "e", epochs=1, save_steps=100)[2]
    assert _train(records, tmp_path / "e", epochs=1, save_steps=100)[2].steps == third.steps


def test_generate_is_deterministic_and_cuts_at_stop():
    model, tok = load_model("tiny-xs", seed=5)
    prompts = ["Q: 1+1?\n", "a much longer prompt than the others\n", "x"]
    greedy = generate(model, tok, prompts, 12, n=2)
    assert greedy == generate(model, tok, prompts, 12, n=2)
    assert all(len(outs) == 2 and outs[0] == outs[1] for outs in greedy)
    sampled = generate(model, tok, prompts, 12, n=3, temperature=1.0, seed=7)
    assert sampled == generate(model, tok, prompts, 12, n=3, temperature=1.0, seed=7)
    stop = [greedy[0][0][3:5]] if len(greedy[0][0]) >= 5 else ["\n"]
    cut = generate(model, tok, prompts, 12, stop=stop)
    assert all(stop[0] not in outs[0] for outs in cut)
    assert cut_at_stop("abc\nQ: next", ["\nQ:", "zz"]) == "abc"


def test_trained_model_memorises_and_generates_greedily(tmp_path):
    model, tok, result = _train(MEMO * 8, tmp_path, epochs=100, learning_rate=1e-2,
                                batch_size=16, logging_steps=10, save_steps=1000)
    assert result.loss_curve[-1][1] < result.loss_curve[0][1] / 10
    outs = generate(model, tok, ["A:", "B:"], 12)
    assert [o[0] for o in outs] == ["1+2=3\n", "7*6=42\n"]


def test_held_out_logprobs_score_the_trained_tokens_and_rise_with_training(tmp_path):
    """record_logprobs is minus the trainer's per-record loss (prompt masked, EOS scored)."""
    records = [{"prompt": f"Q{i}: ", "completion": f"{i} {i} {i}\n"} for i in range(8)]
    model, tok = load_model("tiny-xs", seed=0)
    data, _ = prepare_dataset(tok, records, max_length=64)
    ours = record_logprobs(model, tok, records)
    for logp, ids, labels in zip(ours, data["input_ids"], data["labels"], strict=True):
        with torch.no_grad():
            loss = model(torch.tensor([ids]), labels=torch.tensor([labels])).loss.item()
        assert logp == pytest.approx(-loss, abs=1e-5)
    text = record_logprobs(model, tok, [{"text": "1 1 1"}])
    assert len(text) == 1 and text[0] < 0
    assert record_logprobs(model, tok, []) == []
    trained, tok, _ = _train(records, tmp_path, max_steps=12)
    assert sum(record_logprobs(trained, tok, records)) > sum(ours)
