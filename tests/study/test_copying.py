"""The answer does not reward copying: a generator that returns its training images (plus a little noise) wins
IS, FID and KID against an honest but blurrier one, and the answer says first that the gain comes with copying,
with the numbers, never that the copier is better. Scores come from the real evaluator on digits."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

from deligan_core.data import load_dataset
from deligan_core.metrics import Evaluator, keys
from study.report.answer import answer
from study.results.records import TrialRecord
from study.spec import load_spec
from tests.study.conftest import study_file

GAN, DELIGAN = "per_class=10,model=gan", "per_class=10,model=deligan"
SEEDS = range(1000, 1005)


class Images:
    """A 'generator' that returns rows of fixed images, each with its own small noise, chosen by the seed."""

    def __init__(self, images: torch.Tensor, noise: float) -> None:
        self.images, self.noise = images, noise

    def sample(self, n: int, *, seed: int | None = None) -> torch.Tensor:
        g = torch.Generator().manual_seed(seed or 0)
        rows = self.images[torch.randint(len(self.images), (n,), generator=g)]
        return (rows + self.noise * torch.randn(rows.shape, generator=g)).clamp(-1, 1)


def record(n: int, cell: str, seed: int, scores: dict[str, float]) -> TrialRecord:
    values = {**scores, "is_final": 1.0}
    return TrialRecord(trial_id=f"c{n}", phase="confirm", role="best", cell=cell, seeds=(seed,), params={"lr_g": 1},
                       status="TERMINATED", outcome="complete", values=values, seed_values={seed: values}, step=60,
                       checkpoint=None, history=())


@pytest.fixture(scope="module")
def scored() -> tuple[list[TrialRecord], dict[str, dict[str, float]]]:
    """Five paired seeds (data subsets of 10 per class): a copier of the subset, and an honest model that
    draws unseen digits, blurred by heavier noise."""
    records = []
    for k, seed in enumerate(SEEDS):
        data = load_dataset("digits", per_class=10, seed=seed)
        evaluator = Evaluator(data, 200, seed=seed)
        unseen = data.heldout_x[evaluator.parts.reference]
        records.append(record(k, GAN, seed, evaluator(Images(unseen, 0.35))))
        records.append(record(10 + k, DELIGAN, seed, evaluator(Images(data.train_x, 0.02))))
    real = {"digits": Evaluator(load_dataset("digits"), 200).score_real()}
    return records, real


def test_the_copier_wins_every_quality_score_and_copies(scored) -> None:
    records, _ = scored
    mean = {cell: {m: sum(r.values[m] for r in records if r.cell == cell) / 5
                   for m in (keys.IS, keys.FID, keys.KID, keys.MEMORISATION_SHARE, keys.REAL_MEMORISATION_SHARE)}
            for cell in (GAN, DELIGAN)}
    assert mean[DELIGAN][keys.IS] > mean[GAN][keys.IS] and mean[DELIGAN][keys.KID] < mean[GAN][keys.KID]
    assert mean[DELIGAN][keys.FID] < mean[GAN][keys.FID]
    assert mean[DELIGAN][keys.MEMORISATION_SHARE] > 0.95  # near copies of the training subset
    assert mean[GAN][keys.MEMORISATION_SHARE] < 0.9 and mean[DELIGAN][keys.REAL_MEMORISATION_SHARE] < 0.9


def test_the_answer_says_first_that_the_gain_comes_with_copying(tmp_path: Path, scored) -> None:
    records, real = scored
    spec = load_spec(study_file(tmp_path, grid={"per_class": [10], "model": ["gan", "deligan"]},
                                data={"dataset": "digits"}, search={"lr_g": {"float": [1e-4, 1e-3], "log": True}},
                                objective={"metric": "kid", "mode": "min"}))
    paragraphs = answer(records, spec, real)
    first = paragraphs[0]
    assert re.match(r"At per_class=10, deligan copies its training images: its memorisation share \(the share of "
                    r"samples closer to a training image than that image's nearest training neighbour\) is "
                    r"(0\.9\d*|1), against 0\.\d+ for gan "
                    r"\(\+0\.\d+ \[95% CI 0\.\d+, 0\.\d+\], Holm-corrected p = [\d.e-]+\) and 0\.\d+ for real "
                    r"held-out images against the same training subsets\. Its gains on the other scores below come "
                    r"with that copying: they do not make deligan a better model there\.", first), first
    text = " ".join(paragraphs)
    assert "deligan scores better than gan on kid (lower is better), a gain that comes with copying" in text
    assert "beats" not in text and "(better)" not in text, text
    assert "is at per_class=10: deligan +" in text and "(a gain for deligan that comes with copying)" in text


def test_without_copying_the_winner_is_simply_better(tmp_path: Path, scored) -> None:
    records, real = scored
    spec = load_spec(study_file(tmp_path, grid={"per_class": [10], "model": ["gan", "deligan"]},
                                data={"dataset": "digits"}, search={"lr_g": {"float": [1e-4, 1e-3], "log": True}},
                                objective={"metric": "kid", "mode": "min"}))
    honest = [r for r in records if r.cell == GAN]  # the honest model against a blurrier copy of itself
    blurred = [record(20 + k, DELIGAN, r.seeds[0], {**r.values, keys.KID: r.values[keys.KID] * 3,
                                                      keys.IS: r.values[keys.IS] - 1}) for k, r in enumerate(honest)]
    text = " ".join(answer(honest + blurred, spec, real))
    assert "copies" not in text and "comes with copying" not in text
    assert "gan" in text and "deligan does worse than gan on kid (lower is better)" in text
