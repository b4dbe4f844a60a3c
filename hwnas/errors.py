"""Errors a user can act on. The CLI prints their message as one line and exits with code 2."""

from __future__ import annotations

from pathlib import Path


class UsageError(ValueError):
    """Bad input from the user (a flag, a file, an architecture string): what was wrong and what is accepted."""


def check_writable_folder(path: Path, flag: str) -> None:
    """Create the folder `path` (and its parents) now, or say in one line why it cannot be written."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / ".write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as error:
        raise UsageError(f"{flag} {path} is not a folder that can be written: {error.strerror}") from None


def check_writable_file(path: Path, flag: str) -> None:
    """Say in one line why the file `path` could not be written later, before any work is done for it."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.is_dir():
            raise IsADirectoryError(21, "Is a directory")
        with path.open("a", encoding="utf-8"):  # creates nothing new if it exists; an empty file otherwise
            pass
    except OSError as error:
        raise UsageError(f"{flag} {path} cannot be written: {error.strerror}") from None
