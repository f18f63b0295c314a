"""Reading a study file: bytes to YAML to `StudySpec`, every problem a `SpecError` naming file, key, value
and what is allowed."""

from __future__ import annotations

import typing
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from deligan_core.cli import did_you_mean
from study.spec.rules import check_spec
from study.spec.schema import SpecError, StudySpec
from study.spec.strict_yaml import StrictYAMLError, decode, parse_yaml


def load_spec(path: str | Path) -> StudySpec:
    """Read and validate a study file; any problem raises SpecError naming file, key, value, allowed."""
    path = Path(path)
    try:
        text = decode(path.read_bytes())
        raw = parse_yaml(text)
    except OSError as err:
        raise SpecError(f"{path}: cannot read the study file ({err.strerror})") from err
    except StrictYAMLError as err:
        raise SpecError(f"{path}: {err}") from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise SpecError(f"{path}: not valid YAML{where}: {problem}") from None
    root = raw.get("data", {}).get("root") if isinstance(raw, dict) and isinstance(raw.get("data"), dict) else None
    if isinstance(root, str) and not Path(root).expanduser().is_absolute():
        # trials run in their own directories (and on other nodes): a relative root is taken from the study file
        raw["data"]["root"] = str((path.parent / root).resolve())
    return parse_spec(raw, source=str(path), text=text)


def parse_spec(raw: Any, *, source: str = "study", text: str = "") -> StudySpec:
    """Validate an already-parsed study mapping; errors name `source`."""
    if not isinstance(raw, dict):
        got = "an empty file" if raw is None else type(raw).__name__
        raise SpecError(f"{source}: a study file must be a mapping of keys (name, objective, ...), got {got}")
    try:
        spec = StudySpec.model_validate(raw)
    except ValidationError as err:
        raise SpecError(_explain(err, source, single_objective=isinstance(raw.get("objective"), dict))) from None
    spec._source, spec._text = source, text or yaml.safe_dump(raw, sort_keys=False)
    check_spec(spec)
    return spec


def _explain(err: ValidationError, source: str, *, single_objective: bool = False) -> str:
    lines = []
    for e in err.errors():
        loc = [str(p) for p in e["loc"] if not str(p).startswith(("function-", "tuple[", "list["))]
        if single_objective and loc[:2] == ["objective", "0"]:  # written as one mapping, not a list
            loc = ["objective", *loc[2:]]
        key = ".".join(loc) or "(top level)"
        if e["type"] == "extra_forbidden":
            allowed = _allowed_keys(e["loc"][:-1])
            lines.append(f"{source}: unknown key {key!r}{did_you_mean(str(e['loc'][-1]), allowed)}; "
                         f"allowed: {allowed}")
        elif e["type"] == "missing":
            lines.append(f"{source}: {key} is required")
        else:
            msg = e["msg"].removeprefix("Value error, ")
            lines.append(f"{source}: {key} = {e.get('input')!r}: {msg}")
    return "\n".join(dict.fromkeys(lines))


def _allowed_keys(loc: tuple) -> list[str]:
    model: Any = StudySpec
    for part in loc:
        if isinstance(model, type) and issubclass(model, BaseModel):
            fields = {f.alias or n: f for n, f in model.model_fields.items()}
            model = fields[part].annotation if part in fields else None
        elif typing.get_origin(model) is dict:
            model = typing.get_args(model)[1]
        args = [a for a in typing.get_args(model) if a is not type(None)]
        if typing.get_origin(model) is not dict and len(args) == 1:
            model = args[0]
    if isinstance(model, type) and issubclass(model, BaseModel):
        return [f.alias or n for n, f in model.model_fields.items()]
    return []

