"""The Dockerfile agrees with the project: the Ray image of the Ray version the constraints file pins and of a
Python pyproject allows, the CUDA build of the torch CI tests, dependencies installed from pyproject held at
constraints.txt before the code is copied (a code change rebuilds only the last layers), the optional data
sets as .ci/run installs them, its non-root user, no secrets, and a .dockerignore that keeps local state out.
(No container daemon here: the image is linted by hadolint in .ci/run, never built.)"""

from __future__ import annotations

import fnmatch
import re

from packaging.specifiers import SpecifierSet
from packaging.version import Version

from tests.deploy.files import BASE_IMAGE, REPO, constraints, dockerfile, pip_installs, pyproject, requirements


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


def test_the_base_image_is_rays_gpu_image_at_the_pinned_ray_and_an_allowed_python() -> None:
    base = _base()
    pinned = constraints()["ray"]  # the tested set, not whatever pip resolves on the day
    assert base["ray"] == pinned
    assert Version(pinned) in requirements()["ray"].specifier
    python = Version(f"{base['py']}.{base['minor']}")
    assert python in SpecifierSet(pyproject()["project"]["requires-python"])


def test_torch_is_the_cuda_build_of_the_version_ci_tests() -> None:
    pins = {name: v for args in _installs() for name, v in _pins(args).items()}
    ci = re.search(r"pip install -q torch==(?P<version>\S+)", (REPO / ".ci" / "run").read_text())
    assert ci, ".ci/run pins torch"
    assert "torch" in pins and "+" not in pins["torch"]  # PyPI's Linux wheel: the CUDA build (not +cpu)
    assert pins["torch"] == ci["version"].split("+")[0] == constraints()["torch"]
    assert Version(pins["torch"]) in requirements()["torch"].specifier
    text = (REPO / "Dockerfile").read_text()
    assert "whl/cpu" not in text and "+cpu" not in re.sub(r"#.*", "", text)


def test_dependencies_install_from_pyproject_at_the_constraints_before_the_code_is_copied() -> None:
    instructions = dockerfile()
    copies = [(i, i_.args.split()[1:-1]) for i, i_ in enumerate(instructions) if i_.keyword == "COPY"]
    first_run = next(i for i, i_ in enumerate(instructions) if i_.keyword == "RUN")
    assert [sources for i, sources in copies if i < first_run] == [["constraints.txt", "pyproject.toml"]]
    assert all(i > first_run for i, sources in copies if "deligan_core/" in sources or "study/" in sources)
    installs = _installs()
    dependencies = [args for args in installs if "-r" in args]
    assert len(dependencies) == 1 and "/tmp/requirements.txt" in dependencies[0]  # pyproject's dependencies
    assert _pins(dependencies[0]) == {"ray": _base()["ray"]}  # ray[tune] held at the image's version
    project = [args for args in installs if "." in args]
    assert project == [["--no-cache-dir", "--no-deps", "."]]  # the code alone, last
    assert all("-c" in args and args[args.index("-c") + 1] == "constraints.txt"
               for args in installs if args != project[0])
    no_deps = [args for args in installs if "--no-deps" in args and args != project[0]]
    ci = re.search(r"pip install -q --no-deps -c constraints.txt (?P<packages>[^#\n]+)",
                   (REPO / ".ci" / "run").read_text())
    assert ci and len(no_deps) == 1
    assert _pins(no_deps[0]) == _pins(ci["packages"].split()) == {n: constraints()[n] for n in _pins(no_deps[0])}
    assert all("--no-cache-dir" in args for args in installs)


def test_the_constraints_pin_every_dependency_inside_pyprojects_ranges() -> None:
    pinned = constraints()
    for name, requirement in requirements().items():
        key = re.sub(r"[-_.]+", "-", name).lower()
        assert key in pinned, name
        assert Version(pinned[key]) in requirement.specifier, (name, pinned[key], str(requirement.specifier))


def test_it_runs_as_the_images_non_root_user_and_carries_no_secrets() -> None:
    users = [i.args for i in dockerfile() if i.keyword == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0")
    for i in dockerfile():
        if i.keyword in ("ENV", "ARG"):
            assert not re.search(r"TOKEN|SECRET|PASSWORD|KEY", i.args, re.IGNORECASE), i.args


def test_dockerignore_keeps_local_state_out_and_copied_sources_in() -> None:
    patterns = [p.strip() for p in (REPO / ".dockerignore").read_text().splitlines()
                if p.strip() and not p.startswith("#")]

    def matches(path: str, p: str) -> bool:
        return fnmatch.fnmatch(path, p) or fnmatch.fnmatch(path, p.removeprefix("**/")) or \
            path.startswith(p.rstrip("/") + "/")

    def ignored(path: str) -> bool:  # the last matching line decides; "!" lines take a path back in
        decision = False
        for p in patterns:
            if matches(path, p.removeprefix("!")):
                decision = not p.startswith("!")
        return decision

    for local in ("studies", "runs", "mlruns", ".cache", "mlflow.db", ".venv", ".git", "tests",
                  "deligan_core/__pycache__"):
        assert ignored(local), local
    copies = [i.args.split() for i in dockerfile() if i.keyword == "COPY"]
    sources = [s for args in copies for s in args[:-1] if not s.startswith("--")]
    assert {"deligan_core/", "study/", "search_spaces/", "pyproject.toml"} <= set(sources)
    for source in sources:
        assert (REPO / source).exists() and not ignored(source.rstrip("/")), source
    networks = sorted((REPO / "deligan_core" / "metrics" / "networks").glob("*.pt"))
    assert networks and not any(ignored(str(n.relative_to(REPO))) for n in networks)  # the shipped rulers go in
    assert ignored("checkpoint.pt") and ignored("runs/x/checkpoint.pt")
