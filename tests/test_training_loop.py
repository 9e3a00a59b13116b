"""The fast training loop: the same loss curve and counts as TRL's SFTTrainer on a fixed seed
(cosine and the annealing warmup-stable-decay schedule), a resumed run equal to an
uninterrupted one (also one stopped mid-schedule), and TensorBoard events from the fast path."""

from __future__ import annotations

import pytest
import torch

from critiquelab.models import load_model
from critiquelab.training import TrainConfig, train
from critiquelab.training.loop import epoch_batches, update_steps
from critiquelab.training.sft import uses_fast_loop

RECORDS = [{"prompt": f"Q{i}: {i}+{i}=", "completion": f"{2 * i} so {i}*2={2 * i}\n"}
           for i in range(16)]


def _train(tmp_path, loop: str, **kw):
    model, tok = load_model("tiny-xs", seed=0)
    cfg = TrainConfig(**{"learning_rate": 1e-3, "batch_size": 16, "logging_steps": 1,
                         "max_steps": 8, "precision": "fp32", "loop": loop, **kw})
    return model, train(model, tok, RECORDS, cfg, tmp_path)


@pytest.mark.parametrize("schedule", [{}, {"lr_scheduler": "warmup_stable_decay",
                                           "decay_ratio": 0.5}])
def test_fast_loop_matches_the_trl_loss_curve(tmp_path, schedule):
    # one batch holds every record, so both loops see the same data at every step
    _, fast = _train(tmp_path / "fast", "fast", **schedule)
    _, trl = _train(tmp_path / "trl", "trl", **schedule)
    assert [s for s, _ in fast.loss_curve] == [s for s, _ in trl.loss_curve] == list(range(1, 9))
    for (_, a), (_, b) in zip(fast.loss_curve, trl.loss_curve, strict=True):
        assert a == pytest.approx(b, rel=2e-3)
    assert fast.loss_curve[-1][1] < fast.loss_curve[0][1]
    assert (fast.steps, fast.tokens, fast.loss_tokens) == (trl.steps, trl.tokens, trl.loss_tokens)


def test_a_resumed_fast_run_equals_an_uninterrupted_one(tmp_path):
    # a constant schedule, so a run stopped at step 5 is a run killed there
    kw = {"batch_size": 4, "save_steps": 3, "lr_scheduler": "constant", "warmup_ratio": 0.0}
    straight, whole = _train(tmp_path / "a", "fast", **kw)
    _train(tmp_path / "b", "fast", max_steps=5, **kw)
    resumed, rest = _train(tmp_path / "b", "fast", **kw)
    assert rest.loss_curve == whole.loss_curve and rest.tokens == whole.tokens
    want = straight.state_dict()
    assert all(torch.equal(want[k], v) for k, v in resumed.state_dict().items())


@pytest.mark.parametrize("loop", ["fast", "trl"])
def test_stopping_mid_schedule_and_resuming_equals_one_decaying_run(tmp_path, loop):
    kw = {"batch_size": 4, "save_steps": 3, "lr_scheduler": "linear", "warmup_ratio": 0.0}
    straight, whole = _train(tmp_path / "a", loop, **kw)
    stopped, first = _train(tmp_path / "b", loop, stop_step=3, **kw)
    assert first.steps == 3 and first.loss_curve == whole.loss_curve[:3]
    short, _ = _train(tmp_path / "c", loop, **{**kw, "max_steps": 3})  # decays within 3 steps
    got = short.state_dict()
    assert not all(torch.equal(got[k], v) for k, v in stopped.state_dict().items())
    resumed, rest = _train(tmp_path / "b", loop, stop_step=8, **kw)
    assert rest.steps == 8 and rest.loss_curve == whole.loss_curve
    want = straight.state_dict()
    assert all(torch.allclose(want[k], v) for k, v in resumed.state_dict().items())


def test_fast_loop_writes_tensorboard_events(tmp_path):
    _train(tmp_path, "fast", max_steps=2, report_to="tensorboard", run_name="e/arm/seed0")
    assert list((tmp_path / "runs").rglob("events.out.tfevents.*"))


def test_batches_are_seeded_and_cover_each_record_once():
    lengths = [(i * 7) % 23 for i in range(130)]
    batches = epoch_batches(lengths, 8, seed=3, epoch=0)
    assert sorted(i for b in batches for i in b) == list(range(130))
    assert len(batches) == 17 and batches == epoch_batches(lengths, 8, seed=3, epoch=0)
    assert batches != epoch_batches(lengths, 8, seed=3, epoch=1)
    assert update_steps(130, 8, 2, 1.5, None) == 14 and update_steps(130, 8, 1, 1, 5) == 5


def test_lora_and_other_trackers_take_the_trl_path():
    assert uses_fast_loop(TrainConfig()) and not uses_fast_loop(TrainConfig(loop="trl"))
    assert not uses_fast_loop(TrainConfig(report_to="wandb"))
    assert not uses_fast_loop(TrainConfig(), peft_config=object())
