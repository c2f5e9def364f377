"""Argument types and the parser class every ``psface`` command uses.

Each type checks its range (and refuses NaN) while arguments are parsed, so a bad value
is one line naming the option, before any work starts.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable
from typing import NoReturn

from photostereo.response import Response, parse_response


class Parser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose errors are one line, naming where ``--help`` is."""

    def error(self, message: str) -> NoReturn:
        print(f"{self.prog}: error: {message} (see {self.prog} --help)", file=sys.stderr)
        sys.exit(2)


def response_type(text: str) -> Response:
    """``--response``: a camera response (:func:`parse_response`), refused while parsing."""
    try:
        return parse_response(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def integer(low: int | None = None, high: int | None = None) -> Callable[[str], int]:
    """An int type bounded to [low, high] (either end may be open)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if (low is not None and value < low) or (high is not None and value > high):
            raise argparse.ArgumentTypeError(f"{value} is not {_range(low, high)}")
        return value

    return parse


def number(
    low: float | None = None,
    high: float | None = None,
    *,
    low_open: bool = False,
    high_open: bool = False,
) -> Callable[[str], float]:
    """A finite float type bounded to [low, high]; ``*_open`` excludes that end."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"{text} is not a finite number")
        too_low = low is not None and (value <= low if low_open else value < low)
        too_high = high is not None and (value >= high if high_open else value > high)
        if too_low or too_high:
            raise argparse.ArgumentTypeError(
                f"{value:g} is not {_range(low, high, low_open, high_open)}"
            )
        return value

    return parse


def _range(low, high, low_open: bool = False, high_open: bool = False) -> str:
    if low is not None and high is not None:
        return f"in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
    if low is not None:
        return f"{'above' if low_open else 'at least'} {low:g}"
    return f"{'below' if high_open else 'at most'} {high:g}"


#: Common ranges, by what they mean.
positive_int = integer(1)
non_negative_int = integer(0)
positive_number = number(0.0, low_open=True)
probability = number(0.0, 1.0, low_open=True, high_open=True)


#: Help of the --response option of reconstruct and preprocess.
RESPONSE_HELP = (
    "camera response of the captures: linear, srgb or gamma:G (e.g. gamma:2.2); "
    "default: what the session's lights.json declares, else linear. A session that "
    "declares another response fails, naming lights.json and both values"
)
