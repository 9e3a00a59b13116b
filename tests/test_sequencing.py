"""End to end: the smoke preset of sequencing through the runner API, in temporary directories."""

from critiquelab.experiments import get_experiment
from critiquelab.experiments.chain_common import PRESETS
from critiquelab.experiments.runner import make_context, run_experiment


def test_smoke_end_to_end(tmp_path, base_cache):
    exp = get_experiment("sequencing")
    ctx = make_context(exp, "smoke", 1, tmp_path / "run", base_cache, progress=False)
    res = run_experiment(exp, ctx)
    assert res["params"]["finetune"] == PRESETS["smoke"]["finetune"]
    assert set(res["arms"]) == set(exp.arms)
    for arm in exp.arms:
        for metric in exp.metrics:
            for split in exp.splits:
                cell = res["arms"][arm][metric][split]
                assert 0.0 <= cell["ci95"][0] <= cell["mean"] <= cell["ci95"][1] <= 1.0
    b, rl = res["budget"], res["params"]["rl"]
    for arm in ("rlvr", "sft-then-rlvr", "srl-then-rlvr", "cft-then-rlvr"):
        assert b[arm]["rlvr_steps"] == rl["steps"]
        assert b[arm]["rlvr_generations"] == rl["steps"] * rl["batch_size"]
    assert b["srl"]["srl_steps"] == b["srl-then-rlvr"]["srl_steps"] == rl["steps"]
    assert res["params"]["srl"]["max_completion_length"] == rl["max_completion_length"]
    for key in ("srl_reasoning_lines", "srl_reasoning_chars"):  # shared stage, same numbers
        assert b["srl"][key] == b["srl-then-rlvr"][key] >= 0.0
    reasoning = res["curves"]["srl"]["srl_reasoning_lines"][0]
    assert [pt[0] for pt in reasoning] == list(range(1, rl["steps"] + 1))
    steps = res["params"]["finetune"]["steps"]
    assert b["sft"]["sft_tokens"] == b["sft-then-rlvr"]["sft_tokens"] > 0
    assert b["sft"]["sft_steps"] == b["cft-then-rlvr"]["cft_steps"] == steps
    assert set(res["validity"]) == set(exp.arms) - {"base"}
    rl_gates = [res["validity"][a] for a in ("rlvr", "sft-then-rlvr", "cft-then-rlvr")]
    assert all(g["against"] == "entry" and "difference" in g for g in rl_gates)
    # rlvr enters its only stage from the base, which sft's gate reads too
    assert res["validity"]["rlvr"]["reference"] == res["validity"]["sft"]["reference"]
    assert "difference" in res["validity"]["sft"] and "difference" not in res["validity"]["srl"]
    stages = {arm: cells[0]["stages"] for arm, cells in res["extra"].items()}
    assert stages["srl-then-rlvr"] == [{"name": "srl", "reused": True},
                                       {"name": "rlvr", "reused": False}]
    assert stages["base"] == [] and stages["rlvr"] == [{"name": "rlvr", "reused": False}]
    curve = res["curves"]["srl-then-rlvr"]["rlvr_accuracy"][0]
    assert [pt[0] for pt in curve] == list(range(1, rl["steps"] + 1))
    assert all(0.0 <= pt[1] <= 1.0 for pt in curve)
    assert any("Budget per stage" in c for c in res["conclusions"])
    assert any("SRL reasoning before the step" in c for c in res["conclusions"])
    for name in ("report.md", "pass_at_8.png", "rlvr_accuracy.png", "srl_reward.png"):
        assert (ctx.out_dir / name).stat().st_size > 0
