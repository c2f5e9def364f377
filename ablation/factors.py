"""The factors an ablation varies, their defaults, and the grid of cells they span.

A *cell* fixes the value of every factor given on the command line; the others keep
their defaults (:class:`Conditions`). Every ``--factor`` is crossed with every other, so
two factors of 5 and 3 values make 15 cells.

The defaults are the realistic synthetic rig psface renders by default: four lights 30
degrees off the camera axis, room light, cast shadows, highlights, a little
inter-reflection, sensor noise and no calibration error, solved by the default solver.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, fields, replace

from photostereo.integrate import INTEGRATORS
from photostereo.solvers import SOLVERS
from psbase.errors import ConfigError

#: Where a factor applies: rendered people, real many-light captures, or both.
SYNTH, REAL = "synth", "real"


@dataclass(frozen=True)
class Conditions:
    """One cell's settings.

    ``lights``: how many lights the rig has; ``spread``: the half-angle (degrees) of the
    cone around the camera axis the lights sit on, evenly spaced in azimuth;
    ``calib_deg``: the RMS error (degrees) of the light directions the solver is told,
    drawn per light; ``intensity_err``: the relative RMS error of the intensities it is
    told; ``noise``: sensor read noise (a fraction of full scale; shot noise is 1.5
    times it, as on the default camera); ``ambient``: room light relative to one lamp
    at normal incidence; ``shadows``: whether the face casts shadows on itself;
    ``specular``: the skin's shine (1 realistic, 0 matt); ``bounce``: light the face
    reflects onto itself (inter-reflection); ``solver`` and ``integrator``: as
    ``psface reconstruct`` names them; ``size``: the side of the square crop (pixels)
    the maps are made at.
    """

    lights: int = 4
    spread: float = 30.0
    calib_deg: float = 0.0
    intensity_err: float = 0.0
    noise: float = 0.002
    ambient: float = 0.1
    shadows: bool = True
    specular: float = 1.0
    bounce: float = 0.1
    solver: str = "shadow"
    integrator: str = "masked"
    size: int = 96

    def with_cell(self, cell: Mapping[str, object]) -> Conditions:
        """These conditions with the cell's values in place of the defaults."""
        return replace(self, **dict(cell))  # type: ignore[arg-type]  # parse_factor typed them

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


@dataclass(frozen=True)
class Factor:
    """How to read one factor's values, and where it applies."""

    name: str
    parse: Callable[[str], object]
    applies: frozenset[str]
    help: str


def _number(low: float, high: float, *, integer: bool = False) -> Callable[[str], object]:
    def parse(text: str) -> object:
        value = int(text) if integer else float(text)
        if not low <= value <= high:
            raise ValueError(f"must be between {low:g} and {high:g}")
        return value

    return parse


def _choice(options: Sequence[str]) -> Callable[[str], object]:
    def parse(text: str) -> object:
        if text not in options:
            raise ValueError(f"must be one of {', '.join(options)}")
        return text

    return parse


def _switch(text: str) -> object:
    words = {"on": True, "off": False, "true": True, "false": False, "1": True, "0": False}
    if text.lower() not in words:
        raise ValueError("must be on or off")
    return words[text.lower()]


BOTH = frozenset({SYNTH, REAL})
FACTORS: dict[str, Factor] = {
    f.name: f
    for f in (
        Factor("lights", _number(3, 64, integer=True), BOTH, "number of lights, 3 to K"),
        Factor("spread", _number(1, 80), BOTH, "cone half-angle of the rig, degrees"),
        Factor("calib_deg", _number(0, 45), BOTH, "error of the told directions, degrees"),
        Factor("intensity_err", _number(0, 0.9), BOTH, "relative error of told intensities"),
        Factor("noise", _number(0, 0.5), BOTH, "sensor read noise, fraction of full scale"),
        Factor("ambient", _number(0, 2), frozenset({SYNTH}), "room light, x one lamp"),
        Factor("shadows", _switch, frozenset({SYNTH}), "cast shadows on or off"),
        Factor("specular", _number(0, 5), frozenset({SYNTH}), "skin shine, x realistic"),
        Factor("bounce", _number(0, 1), frozenset({SYNTH}), "inter-reflection strength"),
        Factor("solver", _choice(SOLVERS), BOTH, "photometric-stereo solver"),
        Factor("integrator", _choice(INTEGRATORS), BOTH, "normal integrator"),
        Factor("size", _number(32, 512, integer=True), BOTH, "crop side, pixels"),
    )
}
assert set(FACTORS) == {f.name for f in fields(Conditions)}  # noqa: S101 - a typo guard


def parse_factor(text: str, data_kind: str) -> tuple[str, list[object]]:
    """``NAME=V1,V2,...`` as (name, values), checked against ``data_kind``."""
    name, sep, values = text.partition("=")
    name = name.strip()
    if not sep or not values.strip():
        raise ConfigError(f"--factor {text!r}: write NAME=V1,V2,... (for example lights=3,4,6)")
    if name not in FACTORS:
        raise ConfigError(f"--factor {name!r}: unknown factor; choose from {', '.join(FACTORS)}")
    factor = FACTORS[name]
    if data_kind not in factor.applies:
        raise ConfigError(
            f"--factor {name}: applies to synthetic data only (synth:PEOPLExSESSIONS)"
        )
    parsed = []
    for item in (v.strip() for v in values.split(",")):
        try:
            parsed.append(factor.parse(item))
        except ValueError as error:
            raise ConfigError(f"--factor {name}={item}: {error}") from None
    if len(set(map(repr, parsed))) != len(parsed):
        raise ConfigError(f"--factor {name}: a value is given twice")
    return name, parsed


def grid(factors: Sequence[tuple[str, list[object]]]) -> list[dict[str, object]]:
    """Every cell: one value of each factor, every factor crossed with every other."""
    names = [name for name, _ in factors]
    if len(set(names)) != len(names):
        raise ConfigError("each factor may be given once; list its values after one =")
    return [
        dict(zip(names, combo, strict=True))
        for combo in itertools.product(*(v for _, v in factors))
    ]


def cell_key(cell: Mapping[str, object], repeat: int) -> str:
    """A file-name-safe name of one cell and repeat, e.g. ``lights=4,solver=plain#r0``."""
    parts = ",".join(f"{name}={value}" for name, value in cell.items())
    return f"{parts or 'defaults'}#r{repeat}"
