"""The searcher and scheduler driven through the calls Tune makes, with real Optuna studies.

Shows: the same budget per cell, a trial as a whole seed group, the baseline first, conditional
parameters per cell, ASHA-stopped trials told to Optuna as PRUNED (not COMPLETE), errors and divergence
as FAIL, the Optuna studies kept in a journal that `optuna.load_study` opens, state surviving a
save/restore, a study extended with more trials, multi-objective suggestions, and ASHA comparing trials
only within a cell, on the group's mean.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState
from ray.tune.experiment import Trial
from ray.tune.search import Searcher

from study.protocol import TrialConfig, group_result
from study.results.records import optuna_storage
from study.run.search import PerCellScheduler, StudySearch
from study.run.space import baseline_point
from study.spec import load_spec
from tests.study.conftest import study_file

optuna.logging.set_verbosity(optuna.logging.WARNING)


@pytest.fixture
def spec(tmp_path: Path):
    return load_spec(study_file(tmp_path, trials_per_cell=3, seeds=2, optim={"lr_g": 2e-4},
                                objective={"metric": "d_fake", "mode": "max"}))


def _suggest_all(search: StudySearch, start: int = 0) -> dict[str, dict]:
    configs, i = {}, start
    while (config := search.suggest(f"t{i}")) != Searcher.FINISHED:
        configs[f"t{i}"] = config
        i += 1
    return configs


def test_every_cell_gets_the_same_budget_and_a_trial_carries_its_seed_group(spec) -> None:
    configs = _suggest_all(StudySearch(spec))
    assert len(configs) == 2 * 3
    assert Counter(c["cell"] for c in configs.values()) == {"model=gan": 3, "model=deligan": 3}
    for raw in configs.values():
        trial = TrialConfig.from_dict(raw)
        assert trial.seeds == (0, 1) and trial.vary == ("init", "data", "eval") and trial.phase == "search"
        first, second = trial.seed_run(0), trial.seed_run(1)
        assert second["train"]["seed"] == first["train"]["seed"] + 1
        assert second["data"]["seed"] == first["data"]["seed"] + 1  # a fresh subset per seed
        assert second["train"]["eval_seed"] == first["train"]["eval_seed"] + 1  # and fresh evaluation noise


def test_baseline_first_and_conditional_parameters_per_cell(spec) -> None:
    configs = _suggest_all(StudySearch(spec))
    firsts = {}
    for c in configs.values():
        firsts.setdefault(c["cell"], c)
        assert ("components" in c["params"]) == (c["cell"] == "model=deligan")
        assert c["run"]["model"]["model"] == c["cell"].split("=")[1]
    for cell in spec.cells():
        assert firsts[cell.key]["params"] == baseline_point(spec, cell)
    assert firsts["model=deligan"]["params"] == {"components": 8, "lr_g": 2e-4}
    assert firsts["model=gan"]["params"] == {"lr_g": 2e-4}


@pytest.mark.parametrize("sampler", ["tpe", "random", "cmaes", "grid"])
def test_every_sampler_suggests_points_inside_the_space(sampler, tmp_path: Path) -> None:
    search_space = {"lr_g": {"choice": [1e-4, 3e-4]},
                    "sigma_reg": {"choice": [0.01, 0.1], "when": {"model": "deligan"}}}
    if sampler != "grid":
        search_space = {"lr_g": {"float": [1e-4, 1e-3], "log": True},
                        "sigma_reg": {"float": [0.01, 1.0], "when": {"model": "deligan"}}}
    spec = load_spec(study_file(tmp_path, trials_per_cell=4, search=search_space, sampler={"type": sampler, "seed": 3},
                                objective={"metric": "d_fake", "mode": "max"}))
    search = StudySearch(spec)
    configs = _suggest_all(search)
    assert len(configs) == 2 * 4
    for trial_id, config in configs.items():
        assert 1e-4 <= config["params"]["lr_g"] <= 1e-3
        assert ("sigma_reg" in config["params"]) == (config["cell"] == "model=deligan")
        search.on_trial_complete(trial_id, _result(config["params"]["lr_g"], True))
    trials = search.optuna_study("model=deligan").trials
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 4
    assert len({(t.params["lr_g"], t.params["sigma_reg"]) for t in trials}) >= 3  # it explores


def _result(value: float, final: bool, **extra) -> dict:
    return {"d_fake": value, "step": 60 if final else 20, "is_final": final, **extra}


def test_asha_stopped_trials_reach_optuna_as_pruned_not_complete(spec) -> None:
    search = StudySearch(spec)
    configs = _suggest_all(search)
    first, second, third = [i for i, c in configs.items() if c["cell"] == "model=gan"]
    search.on_trial_complete(first, _result(0.5, True))
    search.on_trial_complete(second, _result(0.7, False))  # stopped early by ASHA: its last result is not final
    search.on_trial_complete(third, None, error=True)
    a, b, c = (search.optuna_trial(t) for t in (first, second, third))
    assert a.state == TrialState.COMPLETE and a.value == pytest.approx(0.5)
    assert b.state == TrialState.PRUNED and b.value is None
    assert c.state == TrialState.FAIL
    assert search.optuna_study("model=deligan").trials[0].state == TrialState.RUNNING  # other cell untouched


def test_divergence_is_a_failed_trial(spec) -> None:
    search = StudySearch(spec)
    ids = list(_suggest_all(search))
    search.on_trial_complete(ids[0], {"d_fake": float("nan"), "step": 20, "is_final": False, "diverged": True})
    assert search.optuna_trial(ids[0]).state == TrialState.FAIL


def test_optuna_studies_persist_in_the_journal_and_a_study_can_be_extended(spec, tmp_path: Path) -> None:
    storage = optuna_storage(tmp_path)
    search = StudySearch(spec, storage=storage)
    configs = _suggest_all(search)
    for trial_id, config in configs.items():
        search.on_trial_complete(trial_id, _result(config["params"]["lr_g"], True))
    reopened = optuna.load_study(study_name="model=deligan", storage=optuna_storage(tmp_path))
    assert [t.state for t in reopened.trials] == [TrialState.COMPLETE] * 3
    assert reopened.best_value == pytest.approx(max(c["params"]["lr_g"] for c in configs.values()
                                                    if c["cell"] == "model=deligan"))
    bigger = load_spec(study_file(tmp_path, filename="bigger.yaml", trials_per_cell=5, seeds=2,
                                  optim={"lr_g": 2e-4}, objective={"metric": "d_fake", "mode": "max"}))
    extended = StudySearch(bigger, storage=optuna_storage(tmp_path), done={"model=gan": 3, "model=deligan": 3})
    more = _suggest_all(extended, start=100)
    assert Counter(c["cell"] for c in more.values()) == {"model=gan": 2, "model=deligan": 2}
    baseline = baseline_point(bigger, bigger.cell("model=gan"))
    assert all(c["params"] != baseline for c in more.values())  # the baseline is not run again
    assert len(extended.optuna_study("model=deligan").trials) == 3 + 2  # the same Optuna study continues


def test_state_survives_save_and_restore(spec, tmp_path: Path) -> None:
    search = StudySearch(spec)
    first = [search.suggest(f"t{i}") for i in range(3)]
    search.on_trial_complete("t0", _result(0.4, True))
    search.save(str(tmp_path / "searcher.pkl"))
    restored = StudySearch.__new__(StudySearch)
    restored.restore(str(tmp_path / "searcher.pkl"))
    rest = _suggest_all(restored, start=3)
    assert len(first) + len(rest) == 6  # total unchanged across the restore
    restored.on_trial_complete("t1", _result(0.6, True))
    assert restored.optuna_trial("t0").state == TrialState.COMPLETE
    assert restored.optuna_trial("t1").state == TrialState.COMPLETE


def test_multi_objective_trials_are_told_every_objective(tmp_path: Path) -> None:
    spec = load_spec(study_file(tmp_path, trials_per_cell=2, scheduler={"type": "fifo"},
                                objective=[{"metric": "d_fake", "mode": "max"}, {"metric": "loss_g", "mode": "min"}]))
    search = StudySearch(spec)
    configs = _suggest_all(search)
    for i, trial_id in enumerate(configs):
        search.on_trial_complete(trial_id, {"d_fake": 0.1 * i, "loss_g": 1.0 + i, "step": 60, "is_final": True})
    study = search.optuna_study("model=gan")
    assert [d.name for d in study.directions] == ["MAXIMIZE", "MINIMIZE"]
    assert [t.values for t in study.trials] == [[0.0, 1.0], [0.2, 3.0]]
    assert len(study.best_trials) == 2  # neither dominates the other: both on the Pareto front


def test_asha_judges_the_group_mean_and_compares_trials_only_within_their_cell() -> None:
    scheduler = PerCellScheduler(metric="m", mode="max", max_t=100, grace_period=10, reduction_factor=2, brackets=1)
    strong, weak_same_cell, weak_other_cell = (Trial("__fake", config={"cell": c}, stub=True) for c in "aab")
    for trial in (strong, weak_same_cell, weak_other_cell):
        scheduler.on_trial_add(None, trial)

    def at(step: int, *seeds: float) -> dict:
        return {"step": step, **group_result({k: {"m": v} for k, v in enumerate(seeds)}, ["m"])}

    # one seed of the weak group beats the strong group's mean; its group mean does not
    assert scheduler.on_trial_result(None, strong, at(10, 5.0, 5.0)) == "CONTINUE"
    assert scheduler.on_trial_result(None, weak_same_cell, at(10, 6.0, 1.0)) == "STOP"
    assert scheduler.on_trial_result(None, weak_other_cell, at(10, 1.0, 1.0)) == "CONTINUE"
