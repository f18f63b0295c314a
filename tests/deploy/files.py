"""Readers of the repository's deployment files: pyproject.toml, the Dockerfile, .ci/run, the manifests."""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from packaging.requirements import Requirement

tomllib = pytest.importorskip("tomllib", reason="reading pyproject.toml needs Python 3.11+")

REPO = Path(__file__).resolve().parents[2]
KUBERAY = REPO / "deploy" / "kuberay"
BASE_IMAGE = re.compile(r"^rayproject/ray:(?P<ray>\d+\.\d+\.\d+)-py(?P<py>3)(?P<minor>\d+)-gpu$")


def pyproject() -> dict[str, Any]:
    """pyproject.toml, parsed."""
    return tomllib.loads((REPO / "pyproject.toml").read_text())


def constraints() -> dict[str, str]:
    """constraints.txt: the tested version of every package, by normalised name (lower case, - for _)."""
    pins = {}
    for line in (REPO / "constraints.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, version = line.split("==")
            pins[re.sub(r"[-_.]+", "-", name).lower()] = version
    return pins


def requirements() -> dict[str, Requirement]:
    """The project's dependencies by name."""
    return {r.name: r for r in map(Requirement, pyproject()["project"]["dependencies"])}


@dataclass(frozen=True)
class Instruction:
    keyword: str
    args: str


def dockerfile(path: Path = REPO / "Dockerfile") -> list[Instruction]:
    """The Dockerfile's instructions, continuation lines joined, comments dropped."""
    logical, current = [], ""
    for line in path.read_text().splitlines():
        if not current and (not line.strip() or line.lstrip().startswith("#")):
            continue
        current += line.rstrip().removesuffix("\\") + " " if line.rstrip().endswith("\\") else line
        if not line.rstrip().endswith("\\"):
            logical.append(current)
            current = ""
    return [Instruction(*(text.split(None, 1) + [""])[:2]) for text in logical]


def pip_installs(commands: str) -> list[list[str]]:
    """The arguments of every `pip install` (or `python -m pip install`) in a `&&`-joined shell line."""
    installs = []
    for command in commands.split("&&"):
        words = shlex.split(command)
        for i, word in enumerate(words[:-1]):
            if word == "pip" and words[i + 1] == "install":
                installs.append(words[i + 2:])
                break
    return installs


def manifests(name: str) -> list[dict[str, Any]]:
    """The documents of deploy/kuberay/NAME.yaml."""
    return [d for d in yaml.safe_load_all((KUBERAY / name).read_text()) if d is not None]


def containers(document: dict[str, Any]) -> list[dict[str, Any]]:
    """Every container of a manifest, wherever its pod templates are (Deployment, RayJob head and workers)."""
    found = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "containers" and isinstance(value, list):
                    found.extend(value)
                else:
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(document)
    return found
