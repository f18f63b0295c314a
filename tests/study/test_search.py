"""The searcher and scheduler driven through the calls Tune makes, with real Optuna studies.

Shows: the same budget per cell, seeds as repeats of one suggestion, the baseline first, conditional
parameters per cell, ASHA-stopped trials told to Optuna as PRUNED (not COMPLETE), errors and
divergence as FAIL, state surviving a save/restore, and ASHA comparing trials only within a cell.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState
from ray.tune.experiment import Trial
from ray.tune.search import Searcher

from study.search import PerCellScheduler, StudySearch
from study.space import baseline_point
from study.spec import load_spec
from tests.study.conftest import study_file

optuna.logging.set_verbosity(optuna.logging.WARNING)


@pytest.fixture
def spec(tmp_path: Path):
    return load_spec(study_file(tmp_path, trials_per_cell=3, seeds=2, optim={"lr_g": 2e-4},
                                objective={"metric": "d_fake", "mode": "max"}))


def _suggest_all(search: StudySearch) -> dict[str, dict]:
    configs, i = {}, 0
    while (config := search.suggest(f"t{i}")) != Searcher.FINISHED:
        configs[f"t{i}"] = config
        i += 1
    return configs


def test_every_cell_gets_the_same_budget_and_seeds_repeat_one_suggestion(spec) -> None:
    configs = _suggest_all(StudySearch(spec))
    assert len(configs) == 2 * 3 * 2
    assert Counter(c["cell"] for c in configs.values()) == {"model=gan": 6, "model=deligan": 6}
    ids = list(configs)
    for first, second in zip(ids[::2], ids[1::2]):  # a group's seeds are handed out back to back
        a, b = configs[first], configs[second]
        assert (a["cell"], a["params"]) == (b["cell"], b["params"])
        assert (a["seed"], b["seed"]) == (0, 1)
        assert b["run"]["train"]["seed"] == a["run"]["train"]["seed"] + 1


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
    ids = [i for i, c in configs.items() if c["cell"] == "model=gan"]
    g1, g2, g3 = ids[0:2], ids[2:4], ids[4:6]
    search.on_trial_complete(g1[0], _result(0.4, True))
    search.on_trial_complete(g1[1], _result(0.6, True))
    search.on_trial_complete(g2[0], _result(0.9, True))
    search.on_trial_complete(g2[1], _result(0.7, False))  # stopped early by ASHA: its last result is not final
    search.on_trial_complete(g3[0], _result(0.5, True))
    search.on_trial_complete(g3[1], None, error=True)
    first, second, third = (search.optuna_trial(g[0]) for g in (g1, g2, g3))
    assert first.state == TrialState.COMPLETE and first.value == pytest.approx(0.5)
    assert second.state == TrialState.PRUNED and second.value is None
    assert third.state == TrialState.FAIL
    assert search.optuna_trial(g1[1]).number == first.number  # seeds share one Optuna trial
    assert search.optuna_study("model=deligan").trials[0].state == TrialState.RUNNING  # other cell untouched


def test_divergence_is_a_failed_trial(spec) -> None:
    search = StudySearch(spec)
    ids = list(_suggest_all(search))
    search.on_trial_complete(ids[0], {"d_fake": float("nan"), "step": 20, "is_final": False, "diverged": True})
    search.on_trial_complete(ids[1], _result(0.5, True))
    assert search.optuna_trial(ids[0]).state == TrialState.FAIL


def test_state_survives_save_and_restore(spec, tmp_path: Path) -> None:
    search = StudySearch(spec)
    first = [search.suggest(f"t{i}") for i in range(5)]
    search.on_trial_complete("t0", _result(0.4, True))
    search.save(str(tmp_path / "searcher.pkl"))
    restored = StudySearch.__new__(StudySearch)
    restored.restore(str(tmp_path / "searcher.pkl"))
    assert restored.suggest("t5")["params"] == first[4]["params"]  # second seed of the open group
    rest = _suggest_all_from(restored, start=6)
    assert len(first) + 1 + len(rest) == 12  # total unchanged across the restore
    restored.on_trial_complete("t1", _result(0.6, True))
    assert restored.optuna_trial("t0").state == TrialState.COMPLETE


def _suggest_all_from(search: StudySearch, start: int) -> list[dict]:
    out, i = [], start
    while (config := search.suggest(f"t{i}")) != Searcher.FINISHED:
        out.append(config)
        i += 1
    return out


def test_asha_compares_trials_only_within_their_cell() -> None:
    scheduler = PerCellScheduler(metric="m", mode="max", max_t=100, grace_period=10, reduction_factor=2, brackets=1)
    strong, weak_same_cell, weak_other_cell = (Trial("__fake", config={"cell": c}, stub=True) for c in "aab")
    for trial in (strong, weak_same_cell, weak_other_cell):
        scheduler.on_trial_add(None, trial)
    assert scheduler.on_trial_result(None, strong, {"step": 10, "m": 5.0}) == "CONTINUE"
    assert scheduler.on_trial_result(None, weak_same_cell, {"step": 10, "m": 1.0}) == "STOP"
    assert scheduler.on_trial_result(None, weak_other_cell, {"step": 10, "m": 1.0}) == "CONTINUE"
