"""The report's parts on small inputs: expected best of k trials against brute force, the answer's sentences,
PED-ANOVA importances over a real Optuna journal with a conditional parameter, and the nearest training
images beside samples of a real checkpoint."""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import optuna
import pytest
import torch

from deligan_core import RunConfig, Trainer, load
from deligan_core.metrics import keys
from study.report.answer import answer, study_state
from study.report.sample_figures import (
    COLUMNS,
    ROWS,
    model_panel,
    nearest_training_images,
    sample_figures,
    training_data,
)
from study.report.search_figures import MIN_IMPORTANCE_TRIALS, cell_importances
from study.results.analysis import confirmed_results
from study.results.records import TrialRecord, optuna_storage
from study.results.stats import expected_best
from study.spec import load_spec
from tests.study.conftest import study_file
from tests.study.test_figures import DELI10, DELI50, GAN10, GAN50, _confirm, _search


@pytest.mark.parametrize("mode", ["max", "min"])
def test_expected_best_of_k_trials_matches_every_draw_enumerated(mode: str) -> None:
    values = [0.3, 0.9, 0.1, 0.5, 0.5]
    pick = max if mode == "max" else min
    for k in (1, 2, 3):
        draws = list(itertools.product(values, repeat=k))  # every ordered draw, with replacement
        assert expected_best(values, k, mode) == pytest.approx(sum(pick(d) for d in draws) / len(draws))
    assert expected_best(values, 1, mode) == pytest.approx(sum(values) / len(values))  # k = 1: the mean
    with pytest.raises(ValueError, match="k >= 1"):
        expected_best(values, 0)


def test_better_direction_of_the_reported_scores() -> None:
    assert [keys.better_direction(m) for m in (keys.IS, keys.M_IS, keys.KID, keys.FID, keys.MEMORISATION_SHARE,
                                               keys.LOSS_D)] == ["max", None, "min", "min", "min", None]
    assert keys.M_IS in keys.CLOSER_TO_REAL  # read against the real data's value instead


def _image_record(n: int, cell: str, seed: int, kid: float, m_is: float) -> TrialRecord:
    values = {"kid": kid, "m_is": m_is, "is_final": 1.0}
    return TrialRecord(trial_id=f"c{n}", phase="confirm", role="best", cell=cell, seeds=(seed,), params={"lr_g": 1},
                       status="TERMINATED", outcome="complete", values=values, seed_values={seed: values}, step=60,
                       checkpoint=None, history=())


@pytest.mark.parametrize("objective", ["kid", "m_is"])
def test_m_is_is_read_against_the_real_data_never_as_better_or_worse(tmp_path: Path, objective: str) -> None:
    spec = load_spec(study_file(tmp_path, grid={"per_class": [10], "model": ["gan", "deligan"]},
                                data={"dataset": "digits"}, search={"lr_g": {"float": [1e-4, 1e-3], "log": True}},
                                objective={"metric": objective, "mode": "max" if objective == "m_is" else "min"}))
    gan, deligan = "per_class=10,model=gan", "per_class=10,model=deligan"
    # DeLiGAN's m-IS is lower, and closer to the real data's 1.1: the flagship's case ("-0.468 (worse)" before)
    records = [_image_record(k, gan, 1000 + k, 0.05 + 0.001 * k, 2.0 + 0.01 * k) for k in range(5)] + \
              [_image_record(10 + k, deligan, 1000 + k, 0.03 + 0.001 * k, 1.5 + 0.012 * k) for k in range(5)]
    text = " ".join(answer(records, spec, {"digits": {"m_is": 1.1, "kid": 0.0}}))
    judged = ("(better)", "(worse)", " beats ", "does worse")
    assert not any(word in part for part in _m_is_parts(text) for word in judged)
    if objective == "m_is":
        assert ("deligan lies closer to the real data than gan on m_is (the real data's: 1.1; neither higher nor "
                "lower is better)") in text
    else:
        assert ("m_is at per_class=10: deligan -0.496 [95% CI -0.498, -0.494] (closer to the real data's 1.1), "
                "p = 3.97e-10") in text
        assert "deligan beats gan on kid (lower is better)" in text
    # without the real data's value the difference is only stated
    parts = _m_is_parts(" ".join(answer(records, spec, {})))
    assert parts and not any(word in part for part in parts for word in (*judged, "closer", "further"))


def _m_is_parts(text: str) -> list[str]:
    """The sentences, or the semicolon-separated items of the other-metrics sentence, that speak of m_is."""
    return [part for part in re.split(r"(?<=[.;]) ", text) if "m_is" in part]


@pytest.fixture
def spec(tmp_path: Path):
    return load_spec(study_file(tmp_path, grid={"per_class": [10, 50], "model": ["gan", "deligan"]}))


def _confirmed(values: dict[str, list[float]]) -> list:
    out, n = [], 0
    for cell, seeds in values.items():
        for k, value in enumerate(seeds):
            out.append(_confirm(n := n + 1, cell, 1000 + k, value))
    return out


def test_the_answer_says_who_wins_where_and_when_the_data_show_no_difference(spec) -> None:
    records = [_search(0, GAN10, {0: 0.1, 1: 0.2})] + _confirmed({
        GAN10: [0.30, 0.42, 0.48, 0.35], DELI10: [0.80, 0.92, 0.98, 0.85],  # +0.5 at every seed: a clear win
        GAN50: [0.61, 0.55, 0.70, 0.66], DELI50: [0.60, 0.58, 0.69, 0.64]})  # -0.01 +- noise: no difference
    paragraphs = answer(records, spec, {"toy-unimodal": {"coverage": 0.97}})
    first = paragraphs[0]
    assert ("At per_class=10, deligan beats gan on coverage (higher is better): 0.888 against 0.387, a "
            "difference of +0.5 [95% CI 0.5, 0.5] over 4 paired seeds (Holm-corrected p = 0)") in first
    assert "At per_class=50: no detectable difference between deligan and gan on coverage" in first
    assert first.endswith("(Holm-corrected p = 0.836).")  # an interval around 0: nothing to explain
    assert paragraphs[-1] == ("For reference, real held-out images of toy-unimodal score coverage = 0.97 on the "
                              "same ruler.")
    assert study_state(records, spec).finished


def test_a_difference_clear_only_before_correction_or_by_its_interval_is_explained(spec) -> None:
    gan, deligan = [0.30, 0.40, 0.50, 0.35, 0.45], [0.40, 0.40, 0.65, 0.40, 0.53]  # t = 3.04: p = 0.038 alone
    records = _confirmed({GAN10: gan, DELI10: deligan, GAN50: gan, DELI50: deligan})  # Holm over 2: 0.076
    first = answer(records, spec)[0]
    assert "no detectable difference" in first and "but not after correcting for the cells" in first, first

    outlier = [g + d for g, d in zip(gan, [0.3, 0.25, 0.28, -0.15, 0.3])]  # t = 2.25, p = 0.087; bootstrap > 0
    first = answer(_confirmed({GAN10: gan, DELI10: outlier, GAN50: gan, DELI50: gan}), spec)[0]
    assert "the bootstrap interval excludes 0, but it runs narrow with 5 seeds" in first, first


def test_a_study_without_confirmation_is_answered_from_its_search_and_marked_partial(spec) -> None:
    records = [_search(0, GAN10, {0: 0.1, 1: 0.3}), _search(1, DELI10, None, outcome="fail"),
               _search(2, GAN50, {0: 0.5, 1: 0.7}, outcome="unfinished")]
    (paragraph,) = answer(records, spec)
    assert paragraph.startswith("Not confirmed yet: the search's best seed-group mean coverage per cell is "
                                "per_class=10,model=gan: 0.2. These are search values")
    state = study_state(records, spec)
    assert not state.finished and state.unfinished == 1
    assert sample_figures(confirmed_results(records, spec), spec) == []  # nothing confirmed: no samples
    assert state.describe().startswith("Partial results: the study is in its search (1 trials unfinished, running")


def test_importances_cover_a_conditional_parameter_once_a_cell_has_enough_trials(tmp_path: Path) -> None:
    spec = load_spec(study_file(tmp_path, grid={"model": ["gan", "deligan"]}, search={
        "lr_g": {"float": [1e-4, 1e-2], "log": True},
        "sigma_mode": {"choice": ["learned", "fixed"], "when": {"model": "deligan"}},
        "sigma_reg": {"float": [0.01, 1.0], "log": True, "when": {"model": "deligan", "sigma_mode": "learned"}}}))
    storage = optuna_storage(tmp_path)
    study = optuna.create_study(study_name="model=deligan", storage=storage, sampler=optuna.samplers.RandomSampler(0))

    def objective(trial: optuna.Trial) -> float:  # the objective (coverage, max) follows lr_g only
        lr = trial.suggest_float("lr_g", 1e-4, 1e-2, log=True)
        if trial.suggest_categorical("sigma_mode", ["learned", "fixed"]) == "learned":
            trial.suggest_float("sigma_reg", 0.01, 1.0, log=True)
        return lr

    study.optimize(objective, n_trials=40)
    few = optuna.create_study(study_name="model=gan", storage=storage)
    few.optimize(lambda t: t.suggest_float("lr_g", 1e-4, 1e-2, log=True), n_trials=MIN_IMPORTANCE_TRIALS - 1)

    found = cell_importances(tmp_path, spec)
    assert found["model=gan"] == f"{MIN_IMPORTANCE_TRIALS - 1} complete trials: too few (importances need >= 4)"
    importances = found["model=deligan"]
    assert set(importances) == {"lr_g", "sigma_mode", "sigma_reg"}  # the conditional one included
    assert max(importances, key=importances.get) == "lr_g"
    assert cell_importances(tmp_path / "elsewhere", spec)["model=gan"] == "no Optuna journal in the study directory"


def test_nearest_training_images_are_the_closest_rows_in_feature_space() -> None:
    train = torch.tensor([[[[0.0]]], [[[1.0]]], [[[5.0]]]])
    samples = torch.tensor([[[[0.9]]], [[[4.0]]], [[[-3.0]]]])
    nearest = nearest_training_images(samples, train, lambda x: x.flatten(1))
    assert nearest.flatten().tolist() == [1.0, 5.0, 0.0]
    squared = nearest_training_images(samples, train, lambda x: x.flatten(1) ** 2)  # the features decide
    assert squared.flatten().tolist() == [1.0, 5.0, 1.0]


def test_a_mixture_model_shows_one_row_per_component_each_above_its_nearest_training_images(tmp_path: Path) -> None:
    trainer = Trainer(RunConfig.from_dict({"data": {"dataset": "digits", "per_class": 10}, "model": {"components": 4},
                                           "train": {"steps": 5, "eval_every": 5, "threads": 1, "eval_samples": 0}}))
    trainer.fit()
    trainer.save(tmp_path / "checkpoint.pt")
    generator = load(tmp_path / "checkpoint.pt")
    image, labels = model_panel(generator)
    assert labels == [f"{kind}" for c in range(4) for kind in (f"component {c}", "nearest training")]
    cell = 8 + 2  # 8 x 8 digits, padded by 2
    assert image.shape == (8 * cell + 2, COLUMNS * cell + 2) and ROWS >= 4
    train = ((training_data(generator).train_x + 1) * 127.5).round().to(torch.uint8)
    for row in range(1, 8, 2):  # every tile of a "nearest" row is one of the run's own training images
        for col in range(COLUMNS):
            tile = torch.from_numpy(image[2 + row * cell:row * cell + cell, 2 + col * cell:col * cell + cell].copy())
            assert any(torch.equal(tile, t[0]) for t in train), (row, col)
