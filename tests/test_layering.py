"""The import layering of the two packages, read from their source (no import runs): deligan_core knows
nothing of Ray, Optuna, MLflow or the harness; in study/, each concern imports only the ones below it."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
HARNESS_LIBRARIES = {"ray", "optuna", "mlflow"}
# what each part of study/ may import from study/ (besides itself)
ALLOWED = {
    "study.protocol": set(),
    "study.spec": set(),
    "study.results": {"study.protocol", "study.spec"},
    "study.tracking": {"study.protocol", "study.spec"},
    "study.report": {"study.protocol", "study.spec", "study.results", "study.tracking"},
    "study.run": {"study.protocol", "study.spec", "study.results", "study.tracking", "study.report"},
    "study.launch": {"study.run", "study.spec"},
    "study.best": {"study.protocol", "study.results"},
    "study": set(),  # the package's lazy re-exports name modules as strings only
}


def module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path, module: str) -> set[str]:
    """Every module an import statement of `path` (module `module`) names, relative imports resolved, at any
    depth."""
    found: set[str] = set()
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join([*package.split(".")[:len(package.split(".")) - node.level + 1], *filter(None, [base])])
            found.add(base)
            found |= {f"{base}.{alias.name}" for alias in node.names}  # `from study.report import figures`
    return found


def part_of(module: str) -> str:
    """The concern a study module belongs to: its sub-package, or the top-level module itself."""
    return ".".join(module.split(".")[:2])


def layer_violations(path: Path, module: str) -> list[str]:
    """The parts of study/ that module `module` (source `path`) imports but may not."""
    part = part_of(module)
    assert part in ALLOWED, f"{path}: {part} is not in the layering; add it to ALLOWED"
    used = {part_of(name) for name in imports(path, module) if name.split(".")[0] == "study" and "." in name}
    return sorted(used - ALLOWED[part] - {part})


def modules(package: str) -> list[Path]:
    return sorted((REPO / package).rglob("*.py"))


@pytest.mark.parametrize("path", modules("deligan_core"), ids=lambda p: str(p.relative_to(REPO)))
def test_core_imports_no_harness_library_and_nothing_of_the_harness(path: Path) -> None:
    roots = {name.split(".")[0] for name in imports(path, module_name(path))}
    forbidden = roots & (HARNESS_LIBRARIES | {"study"})
    assert not forbidden, f"{path} imports {sorted(forbidden)}"


@pytest.mark.parametrize("path", modules("study"), ids=lambda p: str(p.relative_to(REPO)))
def test_each_part_of_study_imports_only_the_parts_below_it(path: Path) -> None:
    above = layer_violations(path, module_name(path))
    assert not above, f"{path} imports {above}; it may import only {sorted(ALLOWED[part_of(module_name(path))])}"


def test_the_layering_check_sees_a_violation(tmp_path: Path) -> None:
    bad = REPO / "study" / "spec" / "schema.py"
    text = bad.read_text() + "\nfrom study.run.search import StudySearch\n"
    copy = tmp_path / "schema.py"
    copy.write_text(text)
    assert layer_violations(copy, "study.spec.schema") == ["study.run"]
    copy.write_text(bad.read_text() + "\n\ndef late():\n    from ..results import records\n")  # relative, in a function
    assert layer_violations(copy, "study.spec.schema") == ["study.results"]
