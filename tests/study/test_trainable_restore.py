"""Which checkpoint a restarted trial resumes from: Tune's when it reads back whole, else the trial's newest
one that does. The emptied directory is what a driver killed between Tune's deletion of the older checkpoint
(it keeps one a trial) and its next snapshot left behind in a live fault run: Tune's record pointed at an
empty `checkpoint_000000` beside a complete `checkpoint_000001`."""

from __future__ import annotations

from pathlib import Path

from ray import tune

from deligan_core import RunConfig, Trainer
from deligan_core.checkpoint import CHECKPOINT_NAME
from study.protocol import seed_dir
from study.run.trainable import restorable_checkpoint

SEEDS = (0, 1)


def _checkpoint(trial_dir: Path, number: int, trainer: Trainer | None,
                seeds: tuple[int, ...] = SEEDS) -> tune.Checkpoint:
    """A trial checkpoint directory as the trainable writes it (one file a seed), empty when `trainer` is None."""
    directory = trial_dir / f"checkpoint_{number:06d}"
    directory.mkdir(parents=True)
    for index in seeds if trainer is not None else ():
        trainer.save(directory / seed_dir(index) / CHECKPOINT_NAME)
    return tune.Checkpoint(str(directory))


def _trainer() -> Trainer:
    return Trainer(RunConfig.from_dict({"data": {"dataset": "toy-unimodal"}, "model": {"model": "gan"}}))


def test_a_whole_checkpoint_is_used_as_it_is(tmp_path: Path) -> None:
    trainer = _trainer()
    older = _checkpoint(tmp_path, 0, trainer)
    _checkpoint(tmp_path, 1, trainer)
    assert restorable_checkpoint(older, SEEDS) is older
    assert restorable_checkpoint(None, SEEDS) is None


def test_an_emptied_checkpoint_falls_back_to_the_newest_whole_one(tmp_path: Path, capsys) -> None:
    trainer = _trainer()
    emptied = _checkpoint(tmp_path, 0, None)
    _checkpoint(tmp_path, 1, trainer)
    _checkpoint(tmp_path, 2, trainer, seeds=(0,))  # seed 1's file never written: not whole
    chosen = restorable_checkpoint(emptied, SEEDS)
    assert chosen is not None and Path(chosen.path).name == "checkpoint_000001"
    assert "checkpoint_000000: unreadable or emptied; resuming from" in capsys.readouterr().err


def test_a_damaged_file_counts_as_missing_and_nothing_whole_means_starting_over(tmp_path: Path, capsys) -> None:
    trainer = _trainer()
    damaged = _checkpoint(tmp_path, 1, trainer)
    path = Path(damaged.path) / seed_dir(1) / CHECKPOINT_NAME
    path.write_bytes(path.read_bytes()[:100])  # truncated
    _checkpoint(tmp_path, 0, None)
    assert restorable_checkpoint(damaged, SEEDS) is None
    assert "starting over" in capsys.readouterr().err
