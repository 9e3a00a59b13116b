"""The one exception type that means "bad input": the CLI prints it as one line and exits 2."""


class UsageError(Exception):
    """Bad input from the user: an unknown name, an invalid value, a malformed file."""
