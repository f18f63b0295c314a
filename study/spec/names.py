"""Parameter names of a study file: RunConfig fields, short (`lr_g`) or dotted (`optim.lr_g`)."""

from __future__ import annotations

import dataclasses
import typing
from typing import Any, Literal

from deligan_core.config import RunConfig

SECTIONS = ("data", "model", "optim", "train")
HARNESS_KEYS = ("train.threads", "train.device")  # set per trial from its Ray resources


def parameter_names() -> dict[str, str]:
    """Names usable in `grid`, `search` and `when`: short field names (when unique) and dotted keys."""
    dotted = [f"{s}.{f.name}" for s in SECTIONS for f in dataclasses.fields(_section_type(s))]
    dotted = [k for k in dotted if k not in HARNESS_KEYS]
    short = [k.split(".")[1] for k in dotted]
    names = {k: k for k in dotted}
    names.update({k.split(".")[1]: k for k in dotted if short.count(k.split(".")[1]) == 1})
    return names


def allowed_names() -> list[str]:
    """Parameter names for error messages: the short ones, dotted only where a short one is ambiguous."""
    names = parameter_names()
    short = {key for name, key in names.items() if "." not in name}
    return sorted(n for n, key in names.items() if "." not in n or key not in short)


def config_key(name: str) -> str:
    """Dotted RunConfig key for a parameter name; unknown names list the allowed ones."""
    names = parameter_names()
    if name not in names:
        raise KeyError(f"unknown parameter {name!r}; allowed: {allowed_names()} (or section.field)")
    return names[name]


def _section_type(section: str) -> type:
    return typing.get_type_hints(RunConfig)[section]


def field_type(key: str) -> Any:
    section, name = key.split(".")
    hint = typing.get_type_hints(_section_type(section))[name]
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    return args[0] if typing.get_origin(hint) is not Literal and len(args) == 1 else hint
