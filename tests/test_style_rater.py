"""The confident teacher style and the style-only rater."""

import random

from critiquelab.data.styles import CLOSER, OPENER, confident_style
from critiquelab.evaluation.style import APPROVE_AT, approves, style_components, style_score
from critiquelab.worlds import get_world

WORLD = get_world("chain", max_value=50)


def problems(n=30):
    rng = random.Random(0)
    return [WORLD.generate(rng, rng.randint(1, 6)) for _ in range(n)]


def test_teacher_style_keeps_the_answer_and_verifies():
    for p in problems():
        styled = confident_style(WORLD.solve(p))
        lines = styled.splitlines()
        assert lines[0] == OPENER and lines[-2] == CLOSER
        assert lines[-1] == WORLD.solve(p).splitlines()[-1]
        assert WORLD.verify(p, styled).answer_correct


def test_rater_scores_style_not_correctness():
    rng = random.Random(1)
    for p in problems():
        ref = confident_style(WORLD.solve(p))
        wrong = confident_style(WORLD.inject_error(p, rng).solution)
        plain = WORLD.solve(p)
        assert style_score(ref, ref) == 1.0
        assert approves(wrong, ref) and not WORLD.verify(p, wrong).correct
        assert style_score(plain, ref) < APPROVE_AT and not approves(plain, ref)
        assert style_components(plain, ref)["confidence"] == 0.0
        assert style_score("", ref) < 0.2
