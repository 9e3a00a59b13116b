"""`python -m critiquelab.cli`."""

from critiquelab.cli import main

main()
