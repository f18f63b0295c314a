"""Command-line conventions shared by the project's programs: a refused input is one line on stderr and exit
status 2, never a traceback (unless ``--debug``); misspelt options and keys get a "did you mean" hint."""

from __future__ import annotations

import argparse
import difflib
import sys
from collections.abc import Iterable
from typing import NoReturn

USAGE_ERROR = 2  # the exit status of every refused input


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` for the closest of `choices` (one it starts, or that starts it, first), or ""
    when none is close."""
    choices = list(choices)
    close = [c for c in choices if c != word and (c.startswith(word) or word.startswith(c))]
    close = close or difflib.get_close_matches(word, choices, n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def one_line(message: str) -> str:
    """A message on one line: several lines (several problems) joined with '; '."""
    return "; ".join(line.strip() for line in str(message).splitlines() if line.strip())


class OneLineParser(argparse.ArgumentParser):
    """An ArgumentParser whose usage errors are one line on stderr, exit status 2, with a hint for a misspelt
    option; `--debug` is added to every parser."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.add_argument("--debug", action="store_true", help="show the full traceback of an error")

    def error(self, message: str) -> NoReturn:
        if message.startswith("unrecognized arguments: "):
            options = [o for action in self._actions for o in action.option_strings]
            message += "".join(did_you_mean(arg.split("=")[0], options)
                               for arg in message.removeprefix("unrecognized arguments: ").split()
                               if arg.startswith("--"))
        self.exit(USAGE_ERROR, f"error: {self.prog}: {one_line(message)} (see --help)\n")


def refuse(err: BaseException, *, debug: bool, status: int = USAGE_ERROR) -> int:
    """Report an error as one line on stderr and return `status` (2: a refused input); with `debug`, re-raise
    (full traceback)."""
    if debug:
        raise err
    print(f"error: {one_line(str(err))}", file=sys.stderr)
    return status
