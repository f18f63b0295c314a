"""The Dockerfile agrees with the project: the Ray image of the Ray version pyproject resolves here and of a
Python it allows, a CUDA torch CI tests, the project and the optional data sets installed as .ci/run installs
them, its non-root user, no secrets, and a .dockerignore that keeps local state out.
(No container daemon here: the image is linted by hadolint in .ci/run, never built.)"""

from __future__ import annotations

import fnmatch
import importlib.metadata
import re

from packaging.specifiers import SpecifierSet
from packaging.version import Version

from tests.deploy.files import BASE_IMAGE, REPO, dockerfile, pip_installs, pyproject, requirements


def _base() -> re.Match:
    froms = [i.args for i in dockerfile() if i.keyword == "FROM"]
    assert len(froms) == 1, froms
    match = BASE_IMAGE.match(froms[0])
    assert match, f"FROM {froms[0]}: expected rayproject/ray:<version>-py3XX-gpu"
    return match


def _installs() -> list[list[str]]:
    return [args for i in dockerfile() if i.keyword == "RUN" for args in pip_installs(i.args)]


def _pins(args: list[str]) -> dict[str, str]:
    return {m["name"].lower(): m["version"] for a in args if (m := re.match(r"(?P<name>[\w.-]+)(\[[\w,]+\])?=="
                                                                          r"(?P<version>[\w.+]+)$", a))}


def test_the_base_image_is_rays_gpu_image_at_the_resolved_ray_and_an_allowed_python() -> None:
    base = _base()
    resolved = importlib.metadata.version("ray")  # what `pip install -e .` resolved from pyproject
    assert base["ray"] == resolved
    assert Version(resolved) in requirements()["ray"].specifier
    python = Version(f"{base['py']}.{base['minor']}")
    assert python in SpecifierSet(pyproject()["project"]["requires-python"])


def test_torch_is_the_cuda_build_of_the_version_ci_tests() -> None:
    pins = {name: v for args in _installs() for name, v in _pins(args).items()}
    ci = re.search(r"pip install -q torch==(?P<version>\S+)", (REPO / ".ci" / "run").read_text())
    assert ci, ".ci/run pins torch"
    assert "torch" in pins and "+" not in pins["torch"]  # PyPI's Linux wheel: the CUDA build (not +cpu)
    assert pins["torch"] == ci["version"].split("+")[0]
    assert Version(pins["torch"]) in requirements()["torch"].specifier
    text = (REPO / "Dockerfile").read_text()
    assert "whl/cpu" not in text and "+cpu" not in re.sub(r"#.*", "", text)


def test_the_project_installs_with_the_images_ray_and_the_optional_data_sets_as_ci_does() -> None:
    installs = _installs()
    project = [args for args in installs if "." in args]
    assert len(project) == 1, installs  # the project itself, with every pyproject dependency
    pinned = _pins(project[0])
    assert pinned == {"ray": _base()["ray"]}  # ray[tune] held at the image's version
    for name, version in pinned.items():
        assert Version(version) in requirements()[name].specifier
    no_deps = [args for args in installs if "--no-deps" in args]
    ci = re.search(r"pip install -q --no-deps (?P<packages>[^#\n]+)", (REPO / ".ci" / "run").read_text())
    assert ci and len(no_deps) == 1
    assert _pins(no_deps[0]) == _pins(ci["packages"].split())
    assert all("--no-cache-dir" in args for args in installs)


def test_it_runs_as_the_images_non_root_user_and_carries_no_secrets() -> None:
    users = [i.args for i in dockerfile() if i.keyword == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0")
    for i in dockerfile():
        if i.keyword in ("ENV", "ARG"):
            assert not re.search(r"TOKEN|SECRET|PASSWORD|KEY", i.args, re.IGNORECASE), i.args


def test_dockerignore_keeps_local_state_out_and_copied_sources_in() -> None:
    patterns = [p.strip() for p in (REPO / ".dockerignore").read_text().splitlines()
                if p.strip() and not p.startswith("#")]

    def ignored(path: str) -> bool:
        return any(fnmatch.fnmatch(path, p) or fnmatch.fnmatch(path, p.removeprefix("**/"))
                   or path.startswith(p.rstrip("/") + "/") for p in patterns)

    for local in ("studies", "runs", "mlruns", ".cache", "mlflow.db", ".venv", ".git", "tests",
                  "deligan_core/__pycache__"):
        assert ignored(local), local
    copies = [i.args.split() for i in dockerfile() if i.keyword == "COPY"]
    sources = [s for args in copies for s in args[:-1] if not s.startswith("--")]
    assert {"deligan_core/", "study/", "search_spaces/", "pyproject.toml"} <= set(sources)
    for source in sources:
        assert (REPO / source).exists() and not ignored(source.rstrip("/")), source
