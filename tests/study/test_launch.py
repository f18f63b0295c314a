"""End to end on a local Ray instance with real Optuna and MLflow.

The smoke study (search on seed groups, then the confirmation on fresh seeds) with everything it leaves
behind: records, MLflow runs, Optuna journal, figures, the best checkpoint by every route; ASHA on seed
groups (stopped groups are PRUNED in Optuna); a multi-objective study (Pareto fronts); per_class cells
of one image data set sharing one evaluation classifier; and a study file with an objective its data set
never reports, refused before Ray starts.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import subprocess
import sys
from collections import Counter
from functools import partial
from pathlib import Path

import optuna
import pytest
import ray
import torch
from mlflow.tracking import MlflowClient
from optuna.trial import TrialState

import deligan_core
from deligan_core.checkpoint import BEST_MARKER, CHECKPOINT_NAME, read_checkpoint
from deligan_core.metrics.pinned import manifest
from study.launch import main
from study.protocol import CONFIRM_SEED_BASE, TrialConfig
from study.report.answer import answer
from study.results.analysis import best_search_record, pareto_records
from study.results.best import best_checkpoint
from study.results.records import optuna_storage, trial_records
from study.run.errors import StudyError
from study.run.search import load_search
from study.run.space import baseline_point
from study.run.study_run import run_study
from study.spec import load_spec
from study.tracking.runs import TAG_PARETO, TAG_ROLE, TAG_TRIAL
from tests.study.conftest import NULL, SPACES, study_file

REPO = Path(__file__).resolve().parents[2]
optuna.logging.set_verbosity(optuna.logging.WARNING)


def _runs(uri: str, experiment: str) -> tuple[object, list]:
    client = MlflowClient(uri)
    exp = client.get_experiment_by_name(experiment)
    runs = client.search_runs([exp.experiment_id], max_results=1000)
    parents = [r for r in runs if r.data.tags.get(TAG_ROLE) == "study"]
    assert len(parents) == 1
    return parents[0], [r for r in runs if r.data.tags.get(TAG_ROLE) == "trial"]


def _param(text: str):
    try:
        number = float(text)
    except ValueError:
        return text
    return int(number) if number.is_integer() and "." not in text and "e" not in text else number


def _steps(client: MlflowClient, run_id: str, metric: str) -> list[int]:
    return [m.step for m in sorted(client.get_metric_history(run_id, metric), key=lambda m: (m.step, m.timestamp))]


@pytest.mark.slow
def test_smoke_study_end_to_end(local_ray, study_env: Path) -> None:
    spec = load_spec(SPACES / "smoke.yaml")
    assert spec.seeds.count == 2 and spec.confirm is not None and spec.confirm.seeds == 2
    outcome = run_study(spec)
    study_dir = Path(outcome.study_dir)
    records = outcome.records
    steps, every = spec.train["steps"], spec.train["eval_every"]
    cells = [c.key for c in spec.cells()]

    assert not outcome.interrupted and study_dir == study_env / "studies" / "smoke"
    assert {p.name for p in study_dir.iterdir()} == {"study.yaml", "optuna.journal", "real_reference.json",
                                                     "eval_networks.json", "search", "confirm", "report", BEST_MARKER}
    assert json.loads((study_dir / "eval_networks.json").read_text()) == {}  # a 2-D toy: scored without a network
    assert records == trial_records(study_dir, spec)

    # --- the search: trials_per_cell trials per cell, each one whole seed group
    search = [r for r in records if r.phase == "search"]
    assert Counter(r.cell for r in search) == {cell: spec.trials_per_cell for cell in cells}
    for r in search:
        assert r.role == "search" and r.seeds == (0, 1) and r.outcome in ("complete", "pruned")
        assert r.checkpoint and Path(r.checkpoint).parent.parent == study_dir / "search"
        assert set(r.seed_values) == {0, 1}  # each seed's objective, at the group's last step
        group = [r.seed_values[s]["coverage"] for s in r.seeds]
        assert r.value("coverage") == pytest.approx(sum(group) / len(group))
        assert (r.step == steps) == (r.outcome == "complete")
        for seed in r.seeds:  # one checkpoint per seed, at the group's step
            assert read_checkpoint(Path(r.checkpoint) / f"seed{seed}" / CHECKPOINT_NAME)["step"] == r.step
        assert list(Path(r.checkpoint).glob("*.png"))  # and a samples grid
        first = json.loads((Path(r.checkpoint).parent / "result.json").read_text().splitlines()[0])
        assert list(first)[:2] == ["step", spec.objectives[0].metric]  # the first columns of Tune's progress table
    for cell in cells:  # every cell ran its baseline configuration (in its first trial)
        assert [r.params for r in search if r.cell == cell].count(baseline_point(spec, spec.cell(cell))) >= 1
    search_seeds = {s for r in search for s in r.seeds}

    # --- the confirmation: each cell's best search configuration and its baseline, on fresh seeds
    confirm = [r for r in records if r.phase == "confirm"]
    fresh = [(CONFIRM_SEED_BASE + k,) for k in range(spec.confirm.seeds)]
    expected_roles = {}
    for cell in cells:
        best = best_search_record(records, spec, cell)
        baseline = baseline_point(spec, spec.cell(cell))
        assert best is not None
        roles = {"best": best.params} if best.params == baseline else {"best": best.params, "baseline": baseline}
        expected_roles[cell] = set(roles)
        for role, params in roles.items():
            mine = [r for r in confirm if r.cell == cell and r.role == role]
            assert sorted(r.seeds for r in mine) == fresh, (cell, role)  # one trial per fresh seed
            assert all(r.params == params and r.outcome == "complete" and r.step == steps for r in mine)
    assert len(confirm) == sum(len(roles) for roles in expected_roles.values()) * spec.confirm.seeds
    assert all(s >= CONFIRM_SEED_BASE and s not in search_seeds for r in confirm for s in r.seeds)
    assert all(Path(r.checkpoint).parent.parent == study_dir / "confirm" for r in confirm)

    # --- MLflow: the study's parent run, one child run per trial of both phases
    uri = f"sqlite:///{study_env / 'mlflow.db'}"
    parent, children = _runs(uri, "smoke")
    client = MlflowClient(uri)
    assert parent.info.status == "FINISHED" and parent.data.params["run.data.dataset"] == spec.data["dataset"]
    assert [a.path for a in client.list_artifacts(parent.info.run_id)] == ["report", "smoke.yaml", "summary"]
    summary = [a.path for a in client.list_artifacts(parent.info.run_id, "summary")]
    assert summary == ["summary/real_reference.json", "summary/results.txt"]
    report = {a.path for a in client.list_artifacts(parent.info.run_id, "report")}
    assert {"report/report.html", "report/comparison.png", "report/curves.png"} <= report
    assert report == {f"report/{p.name}" for p in (study_dir / "report").iterdir()}
    real = json.loads((study_dir / "real_reference.json").read_text())
    assert real == outcome.real and set(real) == {"toy-unimodal"} and 0 < real["toy-unimodal"]["coverage"] <= 1
    assert {k: v for k, v in parent.data.metrics.items() if k.startswith("real.")} == {
        f"real.toy-unimodal.{k}": pytest.approx(v) for k, v in real["toy-unimodal"].items()}
    assert (study_dir / "report" / "comparison.png").stat().st_size > 10_000

    assert sorted(r.data.tags[TAG_TRIAL] for r in children) == sorted(r.trial_id for r in records)
    by_trial = {r.trial_id: r for r in records}
    for run in children:
        record = by_trial[run.data.tags[TAG_TRIAL]]
        tags, params, run_id = run.data.tags, run.data.params, run.info.run_id
        assert tags["mlflow.parentRunId"] == parent.info.run_id and run.info.status == "FINISHED"
        assert (tags["cell"], tags["phase"], tags["role"]) == (record.cell, record.phase, record.role)
        assert tags["seeds"] == ",".join(str(s) for s in record.seeds)
        assert tags["outcome"] == record.outcome and tags["device"] == "cpu" and tags["node_id"]
        assert tags["checkpoint_path"] == f"{record.checkpoint}/seed{record.seeds[0]}/{CHECKPOINT_NAME}"
        assert Path(tags["checkpoint_path"]).is_file()
        # params: the searched ones, the resolved run config (no None), the seed group
        assert record.params == {k: _param(v) for k, v in params.items()
                                 if not k.startswith("run.") and k not in ("seeds", "seeds_vary")}
        assert [int(s) for s in re.findall(r"\d+", params["seeds"])] == list(record.seeds)
        assert re.findall(r"\w+", params["seeds_vary"]) == spec.seed_vary
        assert "None" not in params.values(), {k: v for k, v in params.items() if v == "None"}
        assert params["run.model.model"] == record.cell.split("=")[1]
        assert params["run.model.z_dim"].isdigit() and params["run.train.batch_size"].isdigit()
        if record.cell == "model=gan":
            assert params["run.model.components"] == "1"
        else:
            assert params["run.model.components"] == str(record.params["components"])
        # metrics: curves over steps, each seed's objective at every evaluation, the final flag
        reported = list(range(every, record.step + 1, every))
        assert _steps(client, run_id, "loss_d") == reported
        for seed in record.seeds:
            assert _steps(client, run_id, f"seeds/{seed}/coverage")[: len(reported)] == reported
        final = [(m.step, m.value) for m in sorted(client.get_metric_history(run_id, "final"),
                                                   key=lambda m: (m.step, m.timestamp))]
        if record.phase == "confirm":  # trained, then scored once more at the end: the final result
            assert final == [(s, 0.0) for s in reported] + [(steps, 1.0)]
        else:
            assert final == [(s, float(s == steps)) for s in reported]
        assert client.get_metric_history(run_id, "coverage")[-1].value == pytest.approx(record.value("coverage"))
        assert [a.path for a in client.list_artifacts(run_id, "samples")] == [  # one grid per evaluated step
            f"samples/samples_{s:07d}.png" for s in reported]
        checkpoints = [a.path for a in client.list_artifacts(run_id, "checkpoint")]
        if record.outcome == "complete":
            assert checkpoints == [f"checkpoint/seed{s}" for s in record.seeds]
            for seed in record.seeds:
                assert [a.path for a in client.list_artifacts(run_id, f"checkpoint/seed{seed}")] == [
                    f"checkpoint/seed{seed}/{CHECKPOINT_NAME}"]
        else:
            assert checkpoints == []
    confirm_runs = [r for r in children if r.data.tags["phase"] == "confirm"]
    assert {r.data.tags["role"] for r in confirm_runs} == set().union(*expected_roles.values())
    assert all(int(s) >= CONFIRM_SEED_BASE and int(s) not in search_seeds
               for r in confirm_runs for s in r.data.tags["seeds"].split(","))

    # --- Optuna: one study per cell in the journal, with the search's trials and their outcomes
    searcher = load_search(study_dir / "search")
    for cell in cells:
        study = optuna.load_study(study_name=cell, storage=optuna_storage(study_dir))
        mine = [r for r in search if r.cell == cell]
        assert len(study.trials) == len(mine)
        for r in mine:
            trial = study.trials[searcher.optuna_trial(r.trial_id).number]
            if r.outcome == "complete":
                assert trial.state == TrialState.COMPLETE and trial.value == pytest.approx(r.value("coverage"))
            else:
                assert trial.state == TrialState.PRUNED and trial.value is None
            assert {k: trial.params[k] for k in r.params} == r.params

    # --- the best model: the best confirmed configuration's best seed, by every route
    groups: dict[tuple[str, str], list] = {}
    for r in confirm:
        groups.setdefault((r.cell, r.role), []).append(r)
    winner = max(groups.values(), key=lambda rs: sum(r.value("coverage") for r in rs) / len(rs))
    best_run = max(winner, key=lambda r: r.value("coverage"))
    expected = Path(best_run.checkpoint) / f"seed{best_run.seeds[0]}" / CHECKPOINT_NAME
    path = best_checkpoint(study_dir)
    assert path == expected == outcome.best_checkpoint
    assert (study_dir / BEST_MARKER).read_text().strip() == str(path)
    cli = subprocess.run([sys.executable, "-m", "study.best", "studies/smoke"], capture_output=True, text=True,
                         cwd=study_env)  # a relative study directory, as in the README
    assert cli.returncode == 0 and cli.stdout.strip() == str(path), cli.stderr
    not_a_study = subprocess.run([sys.executable, "-m", "study.best", str(study_dir / "search")],
                                 capture_output=True, text=True, cwd=study_env)
    assert not_a_study.returncode == 2 and "not a study" in not_a_study.stderr
    unstarted = study_env / "unstarted"
    unstarted.mkdir()
    shutil.copy(study_dir / "study.yaml", unstarted / "study.yaml")
    nothing_yet = subprocess.run([sys.executable, "-m", "study.best", str(unstarted)], capture_output=True,
                                 text=True, cwd=study_env)
    assert nothing_yet.returncode == 1 and nothing_yet.stderr.strip(), nothing_yet.stderr

    from_dir = deligan_core.load(study_dir)  # follows the best_checkpoint marker
    assert from_dir.path == path and from_dir.sample(5, seed=1).shape == (5, 2)
    run_of = {r.data.tags[TAG_TRIAL]: r.info.run_id for r in children}
    group_record = next(r for r in search if r.outcome == "complete")
    os.environ["MLFLOW_TRACKING_URI"] = uri
    try:
        from_run = deligan_core.load(f"runs:/{run_of[best_run.trial_id]}")
        group_first = deligan_core.load(f"runs:/{run_of[group_record.trial_id]}")  # a seed group: its first seed
    finally:
        del os.environ["MLFLOW_TRACKING_URI"]
    assert from_run.path != path and from_run.path.read_bytes() == path.read_bytes()  # downloaded artifact
    assert torch.equal(from_run.sample(5, seed=1), from_dir.sample(5, seed=1))
    first_seed = Path(group_record.checkpoint) / f"seed{group_record.seeds[0]}" / CHECKPOINT_NAME
    assert group_first.path.read_bytes() == first_seed.read_bytes()

    with pytest.raises(StudyError, match="--resume"):
        run_study(spec)


@pytest.mark.slow
def test_asha_stops_whole_seed_groups_and_they_are_pruned_in_optuna(local_ray, study_env: Path) -> None:
    path = study_file(study_env, trials_per_cell=6, seeds=2, confirm=NULL,
                      search={"lr_g": {"float": [1e-5, 1e-2], "log": True},
                              "components": {"int": [2, 16], "when": {"model": "deligan"}}},
                      scheduler={"type": "asha", "grace_period": 20, "reduction_factor": 2})
    spec = load_spec(path)
    outcome = run_study(spec)
    study_dir = Path(outcome.study_dir)
    steps = spec.train["steps"]
    records = outcome.records
    assert not outcome.interrupted and not (study_dir / "confirm").exists()
    assert len(records) == 2 * 6 and {r.phase for r in records} == {"search"}

    searcher = load_search(f"{study_dir}/search")
    uri = f"sqlite:///{study_env / 'mlflow.db'}"
    client = MlflowClient(uri)
    runs = {r.data.tags[TAG_TRIAL]: r for r in _runs(uri, spec.name)[1]}
    states = Counter()
    for record in records:
        trial = searcher.optuna_trial(record.trial_id)
        states[trial.state] += 1
        # the whole group reported together: every seed's objective at the group's last step ...
        assert record.seeds == (0, 1) and set(record.seed_values) == {0, 1}
        reported = _steps(client, runs[record.trial_id].info.run_id, "coverage")
        assert reported[-1] == record.step
        for seed in record.seeds:  # ... and at every evaluation before it
            assert _steps(client, runs[record.trial_id].info.run_id, f"seeds/{seed}/coverage") == reported
            assert read_checkpoint(Path(record.checkpoint) / f"seed{seed}" / CHECKPOINT_NAME)["step"] == record.step
        if record.step < steps:  # stopped by ASHA before the last evaluation: the group as a whole
            assert record.outcome == "pruned" and trial.state == TrialState.PRUNED, record
        else:
            assert record.outcome == "complete" and trial.state == TrialState.COMPLETE, record
            assert math.isclose(trial.value, record.value("coverage"))
    assert states[TrialState.PRUNED] >= 1 and states[TrialState.COMPLETE] >= 2
    assert set(states) == {TrialState.PRUNED, TrialState.COMPLETE}
    for cell in spec.cells():
        mine = [r for r in records if r.cell == cell.key]
        assert any(r.outcome == "complete" for r in mine), cell.key  # every cell keeps a complete configuration
        study = optuna.load_study(study_name=cell.key, storage=optuna_storage(study_dir))
        assert len(study.trials) == 6 == len(searcher.optuna_study(cell.key).trials)
        assert Counter(t.state for t in study.trials) == Counter(
            TrialState.PRUNED if r.outcome == "pruned" else TrialState.COMPLETE for r in mine)

    # without a confirmation the best model is the best complete search group's best seed
    best = max((r for r in records if r.outcome == "complete"), key=lambda r: r.value("coverage"))
    seed = max(best.seeds, key=lambda s: best.seed_values[s]["coverage"])
    assert best_checkpoint(study_dir) == Path(best.checkpoint) / f"seed{seed}" / CHECKPOINT_NAME


@pytest.mark.slow
def test_multi_objective_study_finds_pareto_fronts(local_ray, study_env: Path) -> None:
    objectives = [{"metric": "coverage", "mode": "max"}, {"metric": "density", "mode": "max"}]
    path = study_file(study_env, name="pareto", objective=objectives, trials_per_cell=4, seeds=1, confirm=NULL,
                      scheduler={"type": "fifo"})
    spec = load_spec(path)
    outcome = run_study(spec)
    study_dir = Path(outcome.study_dir)
    records = outcome.records
    assert not outcome.interrupted and len(records) == 2 * 4
    assert all(r.outcome == "complete" for r in records)
    assert (study_dir / "report" / "pareto.png").stat().st_size > 10_000

    searcher = load_search(study_dir / "search")
    front_ids = set()
    for cell in spec.cells():
        study = optuna.load_study(study_name=cell.key, storage=optuna_storage(study_dir))
        assert [d.name for d in study.directions] == ["MAXIMIZE", "MAXIMIZE"]
        mine = [r for r in records if r.cell == cell.key]
        assert len(study.trials) == len(mine)
        for r in mine:
            trial = study.trials[searcher.optuna_trial(r.trial_id).number]
            assert trial.values == [pytest.approx(r.value("coverage")), pytest.approx(r.value("density"))]
        front = pareto_records(records, spec, cell.key)
        assert front and study.best_trials
        assert {t.number for t in study.best_trials} == {searcher.optuna_trial(r.trial_id).number for r in front}
        front_ids |= {r.trial_id for r in front}

    uri = f"sqlite:///{study_env / 'mlflow.db'}"
    parent, children = _runs(uri, "pareto")
    assert len(children) == len(records)
    tagged = {r.data.tags[TAG_TRIAL] for r in children if r.data.tags.get(TAG_PARETO) == "true"}
    assert tagged == front_ids and len(front_ids) < len(records)  # coverage and density trade off: not all on it
    search_runs = [r for r in children if r.data.tags["phase"] == "search"]
    assert all(r.data.tags[TAG_PARETO] == ("true" if r.data.tags[TAG_TRIAL] in front_ids else "false")
               for r in search_runs)
    report = [a.path for a in MlflowClient(uri).list_artifacts(parent.info.run_id, "report")]
    assert "report/pareto.png" in report


@pytest.mark.slow
def test_per_class_cells_share_one_shipped_network_and_reference_set(local_ray, study_env: Path) -> None:
    path = study_file(study_env, name="digits-sizes", objective={"metric": "coverage", "mode": "max"},
                      data={"dataset": "digits"}, model={"model": "gan"}, grid={"per_class": [5, 10]},
                      search=None, trials_per_cell=1, seeds=2, confirm=NULL, scheduler={"type": "fifo"},
                      train={"steps": 20, "eval_every": 10, "eval_samples": 100})
    spec = load_spec(path)
    outcome = run_study(spec)
    records = outcome.records
    assert not outcome.interrupted and len(records) == 2
    assert all(r.outcome == "complete" for r in records), records
    assert set(outcome.real) == {"digits"}  # one real-data reference for both cells

    # one ruler for the data set, whatever the training subset size: the network shipped for digits
    splits = [deligan_core.load_dataset("digits", per_class=k, seed=s) for k in (5, 10) for s in (0, 1)]
    assert [len(s.train_y) for s in splits] == [50, 50, 100, 100]  # different training subsets ...
    for split in splits[1:]:  # ... one held-out (reference) set
        assert torch.equal(split.heldout_x, splits[0].heldout_x) and torch.equal(split.heldout_y, splits[0].heldout_y)
    shipped = manifest()["digits"]
    accuracy = {r.cell: r.value("classifier_accuracy") for r in records}
    assert set(accuracy.values()) == {shipped["datasets"]["digits"]["accuracy"]}, accuracy
    study_dir = Path(outcome.study_dir)
    described = json.loads((study_dir / "eval_networks.json").read_text())["digits"]
    assert described["eval_network"] == "digits-v1" and described["eval_network_sha256"] == shipped["sha256"]
    assert described["temperature"] == shipped["temperature"]
    assert described["ece"] == outcome.real["digits"]["classifier_ece"]
    assert "digits-v1 (SHA-256 " + shipped["sha256"][:16] in (study_dir / "report" / "report.html").read_text()

    # the image GAN's logged config is concrete too: one latent component, numbers for z_dim and batch_size;
    # every trial's run and the study's run name the network and its digest
    parent, runs = _runs(f"sqlite:///{study_env / 'mlflow.db'}", spec.name)
    assert parent.data.tags["eval_network.digits"] == "digits-v1"
    assert parent.data.tags["eval_network_sha256.digits"] == shipped["sha256"]
    assert parent.data.metrics["eval_network.digits.ece"] == pytest.approx(described["ece"])
    assert parent.data.metrics["eval_network.digits.temperature"] == pytest.approx(shipped["temperature"])
    assert all(r.data.tags["eval_network"] == "digits-v1" and r.data.tags["eval_network_sha256"] == shipped["sha256"]
               for r in runs)
    assert sorted(r.data.params["run.data.per_class"] for r in runs) == ["10", "5"]
    for run in runs:
        params = run.data.params
        assert params["run.model.model"] == "gan" and params["run.model.components"] == "1"
        assert params["run.model.z_dim"].isdigit() and params["run.train.batch_size"].isdigit()
        assert "None" not in params.values()


def _standalone(trial_config: dict, seed: int, steps: list[int]) -> dict:
    """The generator weights of seed `seed` of a trial trained alone, by a Trainer in this process, with the
    trial's evaluation windows and settings (one thread, CPU)."""
    run = TrialConfig.from_dict(trial_config).seed_run(seed)
    run["train"].update(threads=1, device="cpu")
    trainer = deligan_core.Trainer(deligan_core.RunConfig.from_dict(run))
    for end in steps:
        trainer.fit(stop_at=end)
    return trainer.state_dict()["generator"]


@pytest.mark.slow
def test_without_a_search_each_cells_configuration_goes_straight_to_the_confirmation(local_ray,
                                                                                     study_env: Path) -> None:
    spec = load_spec(study_file(study_env, name="fixed", search=None, trials_per_cell=0, seeds=1,
                                confirm={"seeds": 3}, scheduler={"type": "fifo"}))
    outcome = run_study(spec)
    records = outcome.records
    assert not outcome.interrupted and not [r for r in records if r.phase == "search"]
    assert not (Path(outcome.study_dir) / "search").exists()
    fresh = [(CONFIRM_SEED_BASE + k,) for k in range(3)]
    for cell in ("model=gan", "model=deligan"):  # the fixed configuration, as each cell's best, on 3 fresh seeds
        mine = [r for r in records if r.cell == cell]
        assert sorted(r.seeds for r in mine) == fresh and {(r.role, r.outcome) for r in mine} == {("best", "complete")}
        assert all(r.params == {} for r in mine)
    first = answer(records, spec, outcome.real)[0]  # paired over the 3 seeds, as after a search
    assert re.match(r"At the only cell[,:] .*deligan.* gan on coverage \(higher is better\): [\d.]+ against", first)
    assert best_checkpoint(outcome.study_dir).is_relative_to(Path(outcome.study_dir) / "confirm")
    with pytest.raises(StudyError, match="exists"):  # a study of this name is there, with no search phase
        run_study(spec)
    again = run_study(spec, resume=True)  # nothing left to run: the same records, reported again
    assert not again.interrupted and sorted(r.trial_id for r in again.records) == sorted(r.trial_id for r in records)


@pytest.mark.slow
@pytest.mark.parametrize("batched", [False, True])
def test_each_seed_of_a_group_trains_as_it_would_alone(local_ray, study_env: Path, batched: bool) -> None:
    """A seed group is its seeds' separate runs side by side: seed k of a search trial ends with the weights
    that seed k's run config gives when trained alone, as a one-seed confirmation trial does. Batched, the
    group's seeds differ from their separate runs by float32 rounding only (exact equality: one after the other)."""
    path = study_file(study_env, grid=None, trials_per_cell=1, seeds={"count": 2, "batched": batched},
                      confirm={"seeds": 2}, scheduler={"type": "fifo"})
    spec = load_spec(path)
    outcome = run_study(spec)
    steps = list(range(spec.train["eval_every"], spec.train["steps"] + 1, spec.train["eval_every"]))
    (group,) = [r for r in outcome.records if r.phase == "search"]
    confirm = [r for r in outcome.records if r.phase == "confirm"]
    assert group.outcome == "complete" and group.seeds == (0, 1) and len(confirm) == 2
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        matches = {}
        for record in [*confirm, group]:
            config = json.loads((Path(record.checkpoint).parent / "params.json").read_text())
            for seed in record.seeds:
                saved = read_checkpoint(Path(record.checkpoint) / f"seed{seed}" / CHECKPOINT_NAME)["generator"]
                alone = _standalone(config, seed, steps)
                same = torch.equal if record.phase == "confirm" or not batched else \
                    partial(torch.allclose, rtol=0, atol=1e-4)
                matches[(record.phase, seed)] = all(same(saved[k], v) for k, v in alone.items())
    finally:
        torch.set_num_threads(threads)
    assert matches[("confirm", CONFIRM_SEED_BASE)] and matches[("confirm", CONFIRM_SEED_BASE + 1)]  # one-seed trials
    assert matches[("search", 0)] and matches[("search", 1)], matches  # the group's seeds


@pytest.mark.parametrize("objective, key", [
    ({"metric": "m_is", "mode": "max"}, "objective.metric"),  # toy data has no classifier scores
    ([{"metric": "coverage", "mode": "max"}, {"metric": "fid", "mode": "min"}], "objective[1].metric"),
])
def test_an_objective_the_data_set_never_reports_is_refused_before_ray_starts(tmp_path: Path, objective,
                                                                              key: str) -> None:
    path = study_file(tmp_path, objective=objective, scheduler={"type": "fifo"})
    metric = (objective if isinstance(objective, dict) else objective[1])["metric"]
    env = {**os.environ, "RAY_AUTH_MODE": "disabled", "PYTHONPATH": str(REPO), "RAY_TMPDIR": str(tmp_path / "ray")}
    run = subprocess.run([sys.executable, "-m", "study.launch", str(path)], capture_output=True, text=True,
                         cwd=tmp_path, env=env, timeout=300)
    assert run.returncode == 2, run.stdout + run.stderr
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1, run.stderr
    assert str(path) in lines[0] and f"{key} = {metric!r}" in lines[0], lines[0]
    assert not (tmp_path / "ray").exists()  # Ray never started
    assert not (tmp_path / "studies").exists() and not (tmp_path / "mlflow.db").exists()


def test_a_gpu_request_on_a_cluster_without_gpus_is_refused_in_one_line(local_ray, study_env: Path,
                                                                         capsys: pytest.CaptureFixture) -> None:
    assert ray.cluster_resources().get("GPU", 0) == 0  # this machine's local Ray has no GPUs
    path = study_file(study_env, resources={"cpu": 1, "gpu": 0.5})
    assert main([str(path)]) == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert errors == [f"error: {path}: resources.gpu = 0.5: this cluster has no GPUs (1 node(s), 0 GPUs); set "
                      f"resources.gpu: 0, or start the nodes with GPUs (ray start --num-gpus N)"]
    assert not (study_env / "studies").exists() and not (study_env / "mlflow.db").exists()
