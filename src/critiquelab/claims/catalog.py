"""The eight published claims and the comparison that checks each one here (docs/CLAIMS.md)."""

from __future__ import annotations

from dataclasses import dataclass

GREATER, LESS, EQUIVALENT = "greater", "less", "equivalent"
EQUIVALENCE_MARGIN = 0.05  # "about as well": within 5 points of the baseline, CI included


@dataclass(frozen=True)
class Check:
    """One paired comparison of results.json and the sign the claim predicts for it.

    direction: `greater` (arm above baseline), `less` (below), or `equivalent` (the whole CI
    within +-margin). published: the paper's effect in points of the same contrast, when the
    paper reports both numbers.
    """

    arm: str
    baseline: str
    metric: str
    split: str
    direction: str
    published: float | None = None
    margin: float = EQUIVALENCE_MARGIN

    @property
    def label(self) -> str:
        return f"{self.arm} - {self.baseline}, {self.metric} on {self.split}"


@dataclass(frozen=True)
class Claim:
    """A published claim, its source and published number, and the checks that check it."""

    id: str
    title: str
    source: str
    published: str
    experiment: str
    checks: tuple[Check, ...]


CLAIMS: tuple[Claim, ...] = (
    Claim("C1", "Critique fine-tuning beats imitation",
          "Wang, Yue, Chen 2025 (Critique Fine-Tuning)",
          "Qwen2.5-Math-7B, six-benchmark average: best SFT 50.4, CFT 57.1 (+6.7)",
          "cft-vs-sft",
          (Check("cft", "sft-gold", "solve_accuracy", "id", GREATER, 0.067),)),
    Claim("C2", "Imitating a stronger model copies its style, not its capability",
          "Gudibande et al. 2023 (The False Promise of Imitating Proprietary LLMs)",
          "imitation models rated close to ChatGPT close little of the gap on targeted "
          "evaluations (no single number)",
          "imitation-style",
          (Check("imitation", "base", "style_score", "broad", GREATER),
           Check("imitation", "sft-gold", "style_score", "broad", GREATER),
           Check("imitation", "base", "solve_accuracy", "broad", EQUIVALENT))),
    Claim("C3", "Instruction tuning teaches the output format",
          "Kung & Peng 2023 (Do Models Really Learn to Follow Instructions?)",
          "simplified and delusive instructions do about as well as real ones; a random "
          "guesser in the output space reaches 42.6% exact match against 43.0% (-0.4)",
          "instructions",
          (Check("simplified", "full", "solve_accuracy", "unseen", EQUIVALENT),
           Check("random-guess", "full", "solve_accuracy", "unseen", EQUIVALENT, -0.004))),
    Claim("C4", "Critique fine-tuning on one problem rivals RLVR and beats SFT",
          "Wang et al. 2025 (One-shot CFT)",
          "Qwen2.5-Math-7B: 1-shot CFT 42.2 against SFT on a full dataset 28.9 (+13.3); "
          "1-shot RLVR 40.2",
          "oneshot-cft",
          (Check("cft-1shot", "sft-full", "solve_accuracy", "id", GREATER, 0.133),
           Check("cft-1shot", "rlvr-1shot", "solve_accuracy", "id", EQUIVALENT, 0.020))),
    Claim("C5", "Critique in the self-training loop counters tail narrowing",
          "Xi et al. 2024; Ding et al. 2024",
          "more hard problems in the self-generated data and larger gains on hard problems "
          "(no single number)",
          "self-train",
          (Check("critique-in-loop", "vanilla-same-budget", "coverage", "train-hard", GREATER),)),
    Claim("C6", "Imitated reasoning transfers structure more than content",
          "Li et al. 2025 (Structure, not content, is what matters)",
          "AIME24 after long-CoT SFT: shuffled steps cost 13.3 points, 50% wrong numbers 3.2",
          "structure-vs-content",
          (Check("shuffle-0.67", "clean", "solve_accuracy", "id", LESS, -0.133),
           Check("numbers-0.5", "clean", "solve_accuracy", "id", EQUIVALENT, -0.032))),
    Claim("C7", "Imitating search beats imitating optimal paths",
          "Gandhi et al. 2024 (Stream of Search)",
          "Countdown, 250M model from scratch: about 50% against about 25% (+25; the baseline "
          "figure is inferred)",
          "sos",
          (Check("stream-of-search", "optimal-path", "solve_accuracy", "held-out-targets",
                GREATER, 0.25),)),
    Claim("C8", "Imitation first, then exploration: SRL then RLVR beats either alone",
          "Deng et al. 2025 (Supervised Reinforcement Learning)",
          "Qwen2.5-7B-Instruct, AMC23: SRL then RLVR 57.5 against SRL alone 50.0 (+7.5)",
          "sequencing",
          (Check("srl-then-rlvr", "rlvr", "solve_accuracy", "id", GREATER),
           Check("srl-then-rlvr", "srl", "solve_accuracy", "id", GREATER, 0.075))),
)


def claim_experiments() -> list[str]:
    """The experiments the claims need, each once, in claim order."""
    return list(dict.fromkeys(c.experiment for c in CLAIMS))


def claim_arms(experiment: str) -> list[str]:
    """The arms the claims' checks on one experiment compare."""
    return list(dict.fromkeys(a for c in CLAIMS if c.experiment == experiment
                              for k in c.checks for a in (k.arm, k.baseline)))
