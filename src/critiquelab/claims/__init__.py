"""The claims report: each published claim, the comparison that checks it, and a verdict."""

from critiquelab.claims.assess import Run, assess
from critiquelab.claims.catalog import CLAIMS, Check, Claim, claim_experiments
from critiquelab.claims.verdict import VERDICTS, judge_check, sign_verdict

__all__ = ["CLAIMS", "VERDICTS", "Claim", "Run", "Check", "assess", "claim_experiments",
           "judge_check", "sign_verdict"]
