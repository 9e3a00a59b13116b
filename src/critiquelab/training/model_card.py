"""The README.md of every exported model: what it was trained from, on what, for how long,
and how training went, so a model found on a disk or the Hub explains itself."""

from __future__ import annotations


def model_card(summary: dict, adapter_only: bool) -> str:
    """A Hugging Face model card (YAML front matter + Markdown) from train.json's summary."""
    req = summary["request"]
    cfg = req["config"]
    lora = req.get("lora")
    kind = "a LoRA adapter (load it with peft over the base model)" if adapter_only else (
        "full weights" + (" with LoRA adapters merged in" if lora else ""))
    tags = ["critiquelab", "trl", "sft"] + (["lora", "peft"] if lora else [])
    lines = ["---", f"base_model_relation: {'adapter' if adapter_only else 'finetune'}",
             "library_name: " + ("peft" if adapter_only else "transformers"), "tags:"]
    lines += [f"- {t}" for t in tags] + ["---", "",
                                         f"# Fine-tuned from `{req['model']}`", "",
                                         f"Trained with `critiquelab train`; this directory "
                                         f"holds {kind}, saved as safetensors "
                                         f"({req.get('dtype', 'fp32')}).", "",
                                         "## Data", "",
                                         f"- source: `{req['data']}`"
                                         + (f" (split `{req['split']}`)" if req["split"] else ""),
                                         f"- records read: {summary.get('records_in', 'n/a')}, "
                                         f"trained: {summary.get('records_trained', 'n/a')}",
                                         f"- chat template: {req['chat_template']}", "",
                                         "## Budget", "",
                                         f"- optimizer steps: {summary['steps']} at batch size "
                                         f"{cfg['batch_size']} x {cfg['grad_accum']} "
                                         f"(accumulation) x {summary['processes']} process(es)",
                                         f"- tokens processed: {summary['tokens']} "
                                         f"({summary['loss_tokens']} carried loss)",
                                         f"- learning rate {cfg['learning_rate']} "
                                         f"({cfg['lr_scheduler']}), seed {cfg['seed']}, "
                                         f"max length {cfg['max_length']}"]
    if lora:
        lines.append(f"- LoRA: r={lora['r']}, alpha={lora['alpha']}, "
                     f"dropout={lora['dropout']}, targets {lora['target_modules']}")
    curve = summary.get("loss_curve") or []
    lines += ["", "## Metrics", ""]
    if curve:
        lines.append(f"- training loss: {curve[0][1]:.4f} at step {curve[0][0]}, "
                     f"{curve[-1][1]:.4f} at step {curve[-1][0]}")
    else:
        lines.append("- no training loss was logged")
    lines += ["- no evaluation ran in `train`; score the model with `critiquelab solve` or "
              "lm-evaluation-harness (`critiquelab configs --lm-eval`)", ""]
    return "\n".join(lines)
