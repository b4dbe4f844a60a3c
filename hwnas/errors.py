"""Errors a user can act on. The CLI prints their message as one line and exits with code 2."""


class UsageError(ValueError):
    """Bad input from the user (a flag, a file, an architecture string): what was wrong and what is accepted."""
