"""`critiquelab train` (SFT or CFT on a file of records) and `critiquelab solve` (generate and
grade answers to problems). Both take any --model that load_model resolves.

Multi-GPU or multi-node: `accelerate launch --config_file CONFIG -m critiquelab.cli train ...`
with a config from `critiquelab configs`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from critiquelab.cli.progress import progress_bar
from critiquelab.errors import UsageError

MODEL_HELP = ("A tiny preset, smollm2-135m, a local Hugging Face directory, a .gguf file or a "
              "Hub id ORG/NAME (needs the network).")


def register(app: typer.Typer) -> None:
    app.command("train")(train_cmd)
    app.command("solve")(solve)
    app.command("configs")(configs)


def train_cmd(
    data: Annotated[str, typer.Option(help="Records: prompt/completion, messages, text, CFT "
                                           "instruction/input/output, or problems with "
                                           "solutions (JSONL, Parquet, dataset dir, hf:NAME).")],
    out: Annotated[Path, typer.Option(help="Output dir: model/ (safetensors), checkpoints/, "
                                           "train.json.")],
    model: Annotated[str, typer.Option(help=MODEL_HELP)] = "smollm2-135m",
    lora: Annotated[bool, typer.Option(help="Train LoRA adapters (merged into model/ at "
                                            "the end) instead of every weight.")] = False,
    lora_r: Annotated[int, typer.Option(help="LoRA rank.")] = 16,
    lora_alpha: Annotated[float, typer.Option(help="LoRA alpha.")] = 32.0,
    lora_dropout: Annotated[float, typer.Option(help="LoRA dropout.")] = 0.05,
    lora_targets: Annotated[str, typer.Option(help="all-linear, or module names such as "
                                                   "q_proj,v_proj.")] = "all-linear",
    lr: Annotated[float, typer.Option(help="Peak learning rate.")] = 1e-5,
    epochs: Annotated[float, typer.Option(help="Passes over the data.")] = 1.0,
    max_steps: Annotated[int | None, typer.Option(help="Stop after N steps (overrides "
                                                       "--epochs).")] = None,
    batch_size: Annotated[int, typer.Option(help="Examples per device per step.")] = 8,
    grad_accum: Annotated[int, typer.Option(help="Gradient accumulation steps.")] = 1,
    max_length: Annotated[int, typer.Option(help="Longest sequence, in tokens.")] = 1024,
    truncation: Annotated[str, typer.Option(help="A record over --max-length: right (keep its "
                                                 "start), left (keep its end) or drop.")
                          ] = "right",
    precision: Annotated[str, typer.Option(help="auto, bf16 or fp32.")] = "auto",
    chat_template: Annotated[bool, typer.Option(help="Render records in the model's chat "
                                                     "template when it has one.")] = True,
    split: Annotated[str | None, typer.Option(help="Split of a dataset dict.")] = None,
    save_steps: Annotated[int, typer.Option(help="Checkpoint every N steps.")] = 500,
    seed: Annotated[int, typer.Option(help="Seed for initialisation and data order.")] = 0,
    quiet: Annotated[bool, typer.Option(help="No progress output.")] = False,
    report_to: Annotated[str, typer.Option(help="Track the run: none, tensorboard (event "
                                                "files under checkpoints/runs/), wandb or "
                                                "trackio; the run is named after --out.")
                         ] = "none",
    save_adapter: Annotated[bool, typer.Option(help="With --lora: export the PEFT adapter "
                                                    "alone to adapter/ instead of merged "
                                                    "weights in model/.")] = False,
    dtype: Annotated[str, typer.Option(help="Exported weights: fp32 or bf16 (half the "
                                            "size).")] = "fp32",
    push_to_hub: Annotated[str | None, typer.Option(help="Also upload the exported model (or "
                                                         "adapter) to this Hub repository "
                                                         "ORG/NAME.")] = None,
) -> None:
    """Fine-tune a model on a file of records (loss on completions only); rerun to resume."""
    from critiquelab.training import TrainConfig
    from critiquelab.training.finetune import finetune_file
    from critiquelab.training.lora import lora_config
    from critiquelab.training.sft import TRUNCATIONS
    from critiquelab.training.tracking import check_tracker

    if truncation not in TRUNCATIONS:
        raise UsageError(f"--truncation must be one of {', '.join(TRUNCATIONS)}, "
                         f"got '{truncation}'")
    for name, value in (("--lr", lr), ("--epochs", epochs), ("--batch-size", batch_size),
                        ("--grad-accum", grad_accum), ("--max-length", max_length),
                        ("--save-steps", save_steps)):
        if value <= 0:
            raise UsageError(f"{name} must be positive, got {value}")
    if max_steps is not None and max_steps < 1:
        raise UsageError(f"--max-steps must be at least 1, got {max_steps}")
    config = TrainConfig(learning_rate=lr, epochs=epochs, max_steps=max_steps,
                         batch_size=batch_size, grad_accum=grad_accum, max_length=max_length,
                         seed=seed, save_steps=save_steps, precision=precision,
                         logging_steps=min(10, max_steps or 10), truncation=truncation,
                         report_to=check_tracker(report_to), run_name=out.name)
    peft = lora_config(lora_r, lora_alpha, lora_dropout, lora_targets) if lora else None
    summary = finetune_file(model, data, out, config, peft, split=split,
                            use_chat_template=chat_template, progress=not quiet, dtype=dtype,
                            adapter_only=save_adapter)
    if summary is not None:
        keys = ("records_in", "records_trained", "dropped", "truncated", "processes", "steps",
                "tokens", "loss_tokens", "wall_s", "tokens_per_s", "final_loss")
        typer.echo(" ".join(f"{k}={summary[k]}" for k in keys))
        exported = out / ("adapter" if save_adapter else "model")
        typer.echo(f"{exported.name}: {exported}")
        if push_to_hub is not None:
            from critiquelab.hub import push

            typer.echo(f"pushed: {push(exported, push_to_hub, 'model')}")


def solve(
    data: Annotated[str, typer.Option(help="Problems: GSM8K form or the project schema.")],
    out: Annotated[Path, typer.Option(help="Predictions JSONL: id, prediction, correct.")],
    model: Annotated[str, typer.Option(help=MODEL_HELP)] = "smollm2-135m",
    backend: Annotated[str, typer.Option(help="auto (vLLM on a GPU when installed), "
                                              "transformers or vllm.")] = "auto",
    max_new_tokens: Annotated[int, typer.Option(help="Longest answer, in tokens.")] = 512,
    temperature: Annotated[float, typer.Option(help="0 is greedy.")] = 0.0,
    top_p: Annotated[float, typer.Option(help="Nucleus sampling mass.")] = 1.0,
    batch_size: Annotated[int, typer.Option(help="Prompts per batch (transformers).")] = 32,
    limit: Annotated[int | None, typer.Option(help="Only the first N problems.")] = None,
    chat_template: Annotated[bool, typer.Option(help="Use the model's chat template.")] = True,
    split: Annotated[str | None, typer.Option(help="Split of a dataset dict.")] = None,
    seed: Annotated[int, typer.Option(help="Sampling seed.")] = 0,
) -> None:
    """Answer each problem (the `alpaca` solve prompt, in the chat template), grade the final
    answers, write predictions and print accuracy."""
    from critiquelab.data.schema import load_problems, write_rows
    from critiquelab.evaluation.scoring import score
    from critiquelab.formats import ALPACA
    from critiquelab.models.chat import chat_prompt

    if max_new_tokens < 1 or batch_size < 1 or (limit is not None and limit < 0):
        raise UsageError("--max-new-tokens and --batch-size must be at least 1, --limit >= 0")
    if temperature < 0 or not 0 < top_p <= 1:
        raise UsageError("--temperature must be >= 0 and --top-p in (0, 1]")
    problems = load_problems(data, split)[:limit]
    runner, tokenizer, name = open_backend(model, backend, seed)
    prompts = [chat_prompt(tokenizer, ALPACA.solve_prompt(p.question), chat_template)
               for p in problems]
    # vLLM schedules every prompt at once; transformers goes batch by batch, so the bar moves.
    chunk = len(prompts) if name == "vllm" else batch_size
    texts: list[str] = []
    with progress_bar("solving", len(prompts)) as advance:
        for start in range(0, len(prompts), chunk):
            part = prompts[start:start + chunk]
            texts += [o[0] for o in runner.generate(part, max_new_tokens, temperature=temperature,
                                                     top_p=top_p, batch_size=batch_size,
                                                     seed=seed + start)]
            advance(len(part))
    rows = score(problems, texts, [p.id for p in problems], data)
    write_rows(out, [{**r, "prediction": t} for r, t in zip(rows, texts, strict=True)])
    correct = sum(r["correct"] for r in rows)
    typer.echo(f"accuracy: {correct / len(rows) if rows else 0.0:.4f} ({correct}/{len(rows)}) "
               f"backend={name}")


def open_backend(spec: str, backend: str, seed: int):
    """(backend, tokenizer, backend name) for a --model: vLLM reads the weights from disk,
    transformers from memory; a tiny preset, having no files, always uses transformers."""
    from critiquelab.models import TINY_PRESETS, load_model
    from critiquelab.models.backends import VLLMBackend, choose_backend
    from critiquelab.models.generate import HFBackend

    name = choose_backend(backend)
    if spec in TINY_PRESETS and name == "vllm":
        if backend == "vllm":
            raise UsageError(f"the vllm backend needs model files; '{spec}' is a preset")
        name = "transformers"
    if name == "vllm":
        from transformers import AutoTokenizer

        from critiquelab.models.sources import pretrained_location

        location = pretrained_location(spec)
        return VLLMBackend(location, seed=seed), AutoTokenizer.from_pretrained(location), name
    model, tokenizer = load_model(spec, seed=seed)
    return HFBackend(model, tokenizer), tokenizer, name


def configs(
    lm_eval: Annotated[bool, typer.Option("--lm-eval", help="Print the directory of the "
                                                            "lm-evaluation-harness tasks "
                                                            "(critiquelab_chain, "
                                                            "critiquelab_countdown) instead, "
                                                            "for lm_eval --include_path.")
                       ] = False,
) -> None:
    """Print the paths of the shipped accelerate configs (DDP, DeepSpeed ZeRO-3, FSDP)."""
    from importlib.resources import files

    if lm_eval:
        typer.echo(str(files("critiquelab") / "configs" / "lm_eval"))
        return
    for path in sorted((files("critiquelab") / "configs").iterdir(), key=lambda p: p.name):
        if path.name.endswith(".yaml"):
            typer.echo(str(path))
