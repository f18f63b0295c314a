"""Study files: what is accepted, how names map onto RunConfig, and errors naming file, key, value, allowed."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from deligan_core import RunConfig
from deligan_core.resolve import resolve_config
from study.spec import SpecError, config_key, load_spec, parse_spec
from tests.study.conftest import NULL, SPACES, study_file

SHIPPED = sorted(p.name for p in SPACES.glob("*.yaml"))


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_study_files_validate_and_every_cell_builds_a_run_config(name: str) -> None:
    spec = load_spec(SPACES / name)
    assert spec.name and spec.cells()
    for cell in spec.cells():
        resolve_config(RunConfig.from_dict(spec.run_dict(cell.values), source=name))


def test_shipped_set_is_complete() -> None:
    assert {"smoke.yaml", "toy.yaml", "small_data.yaml", "paper_mnist.yaml"} <= set(SHIPPED)


def test_grid_cells_are_the_product_in_file_order_and_map_onto_run_config(tmp_path: Path) -> None:
    spec = load_spec(study_file(tmp_path, grid={"per_class": [10, 50], "model": ["gan", "deligan"]},
                                data={"dataset": "digits"}))
    keys = [c.key for c in spec.cells()]
    assert keys == ["per_class=10,model=gan", "per_class=10,model=deligan",
                    "per_class=50,model=gan", "per_class=50,model=deligan"]
    run = spec.run_dict({**spec.cells()[3].values, "lr_g": 3e-4, "sigma_reg": 0.5})
    assert run["data"]["per_class"] == 50 and run["model"]["model"] == "deligan"
    assert run["optim"]["lr_g"] == 3e-4 and run["model"]["sigma_reg"] == 0.5


def test_short_and_dotted_names() -> None:
    assert config_key("components") == "model.components"
    assert config_key("lr_g") == "optim.lr_g"
    assert config_key("per_class") == "data.per_class"
    assert config_key("train.seed") == "train.seed"
    with pytest.raises(KeyError, match="seed"):  # in data and train: must be dotted
        config_key("seed")


def test_a_plain_search_without_grid_has_one_cell(tmp_path: Path) -> None:
    spec = load_spec(study_file(tmp_path, grid=None, search={
        "per_class": {"choice": [5, 10]}, "lr_g": {"float": [1e-4, 1e-3], "log": True}},
        data={"dataset": "digits"}))
    assert [c.key for c in spec.cells()] == ["all"]


def test_seeds_confirm_and_comparison_defaults(tmp_path: Path) -> None:
    spec = load_spec(study_file(tmp_path, seeds=3, confirm=None))
    assert spec.seeds.count == 3 and spec.seed_vary == ["init", "data", "eval"] and spec.seed_indices() == (0, 1, 2)
    assert spec.confirm.seeds == 5 and spec.confirm.eval_samples is None  # confirmation is on by default
    assert spec.comparison() == ("model", "gan")  # each model against GAN
    explicit = load_spec(study_file(tmp_path, seeds={"count": 2, "vary": ["init"]}, confirm={"seeds": 3},
                                    compare={"model": "deligan"}))
    assert explicit.seed_vary == ["init"] and explicit.comparison() == ("model", "deligan")
    off = yaml.safe_load(study_file(tmp_path).read_text())
    off["confirm"] = None
    assert parse_spec(off, source="off.yaml").confirm is None


def _error(tmp_path: Path, **changes) -> str:
    path = study_file(tmp_path, **changes)
    with pytest.raises(SpecError) as info:
        load_spec(path)
    message = str(info.value)
    assert message.startswith(str(path)), message
    return message


SMOKE = yaml.safe_load((SPACES / "smoke.yaml").read_text())


@pytest.mark.parametrize("changes, expected", [
    ({"objective": {"metric": "m_is", "mode": "maximise"}}, ["objective.mode", "'maximise'", "'max' or 'min'"]),
    ({"objective": {"metric": "m-is", "mode": "max"}}, ["objective.metric", "'m-is'", "coverage"]),
    ({"objective": {"metric": "m_is", "mode": "max"}},  # a toy study: m-IS needs a classifier
     ["objective.metric", "'m_is'", "never reported for data set 'toy-unimodal' (toy2d)", "modes_covered"]),
    ({"objective": [{"metric": "coverage", "mode": "max"}, {"metric": "high_quality", "mode": "max"}]},
     ["scheduler.type = 'asha'", "2 objectives", "'fifo'"]),
    ({"objective": [{"metric": "coverage", "mode": "max"}, {"metric": "high_quality", "mode": "max"}],
      "scheduler": {"type": "fifo"}, "sampler": "cmaes"}, ["sampler.type = 'cmaes'", "'tpe'"]),
    ({"search": {"sigma_reg": {"float": [0.01, 1.0]}, "sigma_mode": {"choice": ["learned", "fixed"]}}},
     ["search.sigma_reg.when", "'fixed'", "sigma_mode: learned"]),
    ({"data": {"dataset": "nope"}}, ["unknown data set 'nope'", "ring8"]),
    ({"model": {"model": "ensemble-gan", "components": 50}, "data": {"dataset": "digits"}},
     ["ensemble-gan", "at least 2 rows"]),
    ({"confirm": {"seeds": 1}}, ["confirm.seeds", "greater than or equal to 2"]),
    ({"trials_per_cell": 0}, ["trials_per_cell = 0 runs no search", "no `search` section", "search ['components'"]),
    ({"trials_per_cell": 0, "search": None, "confirm": NULL}, ["trials_per_cell = 0", "confirm none"]),
    ({"trials_per_cell": -1}, ["trials_per_cell", "greater than or equal to 0"]),
    ({"seeds": {"count": 2, "vary": ["init", "noise"]}}, ["seeds.vary", "'noise'", "'eval'"]),
    ({"compare": {"model": "wgan"}}, ["compare", "wgan", "grid"]),
    ({"sheduler": {"type": "asha"}}, ["unknown key 'sheduler'", "scheduler"]),
    ({"scheduler": {"type": "asha", "grace": 10}}, ["'scheduler.grace'", "grace_period"]),
    ({"scheduler": {"type": "hyperband"}}, ["scheduler.type", "'hyperband'", "'asha' or 'fifo'"]),
    ({"train": {"steps": 60, "eval_evry": 20}}, ["eval_evry", "train", "eval_every"]),
    ({"train": {"steps": "many"}}, ["train.steps", "'many'", "int"]),
    ({"model": {"model": "deligan", "threads": 2}}, ["threads", "model", "components"]),
    ({"train": {"steps": 60, "threads": 2}}, ["train.threads", "set by the study"]),
    ({"grid": {"model": ["gan", "delligan"]}}, ["grid.model[1]", "'delligan'", "deligan", "ensemble-gan"]),
    ({"grid": {"modle": ["gan"]}}, ["grid.modle", "'modle'", "model", "per_class"]),
    ({"search": {"lr_x": {"float": [1e-4, 1e-3]}}}, ["search.lr_x", "'lr_x'", "lr_g"]),
    ({"search": {"lr_g": {"float": [1e-3, 1e-4]}}}, ["search.lr_g", "low <= high"]),
    ({"search": {"lr_g": {"float": [0.0, 1e-3], "log": True}}}, ["search.lr_g", "low > 0"]),
    ({"search": {"lr_g": {"float": [1e-4, 1e-3], "int": [1, 2]}}}, ["search.lr_g", "exactly one of"]),
    ({"search": {"lr_g": {"float": [1e-4, 1e-3], "wehn": {}}}}, ["'search.lr_g.wehn'", "when", "baseline"]),
    ({"search": {"components": {"float": [2, 9]}}}, ["search.components.float", "not a float field", "int"]),
    ({"search": {"components": {"int": [0, 9]}}}, ["search.components.int[0]", "model.components", ">= 1"]),
    ({"search": {"sigma_mode": {"choice": ["learned", "frozen"]}}},
     ["search.sigma_mode.choice[1]", "'frozen'", "unpenalised"]),
    ({"search": {"components": {"int": [2, 9], "when": {"modell": "deligan"}}}},
     ["search.components.when.modell", "'modell'", "allowed"]),
    ({"search": {"components": {"int": [2, 9], "when": {"lr_g": 1e-4}}, "lr_g": {"float": [1e-4, 1e-3]}}},
     ["search.components.when.lr_g", "listed before it"]),
    ({"search": {"model": {"choice": ["gan"]}}}, ["search.model", "already a grid dimension"]),
    ({"search": {"components": {"int": [10, 20]}}}, ["model.components", "baseline", "8", "int in [10, 20]"]),
    ({"search": {"lr_g": {"float": [1e-4, 1e-3], "baseline": 0.5}}}, ["search.lr_g.baseline", "0.5", "0.001"]),
    ({"sampler": "bayes"}, ["sampler.type", "'bayes'", "'tpe'", "'grid'"]),
    ({"sampler": "grid"}, ["sampler.type = 'grid'", "choice", "lr_g"]),
    ({"resources": {"cpu": 0}}, ["resources.cpu", "0", "greater than 0"]),
    ({"resources": {"cpu": 1, "gpu": 1.5}}, ["resources", "whole number"]),
    ({"seeds": 1.5}, ["seeds", "1.5"]),
    ({"scheduler": {"type": "asha", "grace_period": 1000}}, ["scheduler.grace_period", "1000", "train.steps"]),
    ({"grid": {"steps": [40, 60]}}, ["scheduler.type", "'asha'", "grid.steps", "'fifo'"]),
    ({"name": "my study"}, ["name", "'my study'", "pattern"]),
    ({"name": None}, ["name is required"]),
])
def test_errors_name_file_key_value_and_allowed(tmp_path: Path, changes: dict, expected: list[str]) -> None:
    message = _error(tmp_path, **changes)
    for part in expected:
        assert part in message, f"{part!r} missing from: {message}"


def test_unreadable_and_non_mapping_files(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="cannot read"):
        load_spec(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: [unclosed\n")
    with pytest.raises(SpecError, match="not valid YAML"):
        load_spec(bad)
    with pytest.raises(SpecError, match="must be a mapping"):
        parse_spec(["a", "list"], source="list.yaml")


def test_a_relative_data_root_is_taken_from_the_study_file(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    path = study_file(tmp_path / "sub", data={"dataset": "ring8", "root": "../data"})
    assert load_spec(path).data["root"] == str((tmp_path / "data").resolve())
