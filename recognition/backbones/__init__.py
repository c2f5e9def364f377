"""Backbones by name: ``build_backbone("iresnet18", in_channels=3, size=64)``."""

from __future__ import annotations

from collections.abc import Callable

from psbase.errors import ConfigError
from recognition.backbones.iresnet import IResNet, iresnet18, iresnet34, iresnet50

BACKBONES: dict[str, Callable[..., IResNet]] = {
    "iresnet18": iresnet18,
    "iresnet34": iresnet34,
    "iresnet50": iresnet50,
}


def build_backbone(name: str, **kwargs) -> IResNet:
    """The backbone ``name`` built with ``kwargs`` (in_channels, size, width, ...)."""
    try:
        factory = BACKBONES[name]
    except KeyError:
        raise ConfigError(
            f"unknown backbone {name!r}; known: {', '.join(sorted(BACKBONES))}"
        ) from None
    return factory(**kwargs)
