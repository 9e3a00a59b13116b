"""The CLI's progress bar counts every advance, from any thread, shows on terminals only and
can be switched off."""

from __future__ import annotations

import io
import threading

from rich.console import Console

from critiquelab.cli.progress import progress_bar


def test_bar_counts_advances_from_threads(capsys):
    terminal = io.StringIO()
    with progress_bar("requests", 8, console=Console(file=terminal, force_terminal=True)
                      ) as advance:
        threads = [threading.Thread(target=advance, args=(1,)) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert "requests" in terminal.getvalue() and "8/8" in terminal.getvalue()
    with progress_bar("piped", 2) as advance:  # stderr is not a terminal here
        advance(2)
    with progress_bar("off", 2, enabled=False) as advance:
        advance(2)
    assert capsys.readouterr().err.strip() == ""
