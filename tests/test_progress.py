"""The CLI's progress bar counts every advance, from any thread, and can be switched off."""

from __future__ import annotations

import threading

from critiquelab.cli.progress import progress_bar


def test_bar_counts_advances_from_threads(capsys):
    with progress_bar("requests", 8) as advance:
        threads = [threading.Thread(target=advance, args=(1,)) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    err = capsys.readouterr().err
    assert "requests" in err and "8/8" in err
    with progress_bar("quiet", 2, enabled=False) as advance:
        advance(2)
    assert capsys.readouterr().err == ""
