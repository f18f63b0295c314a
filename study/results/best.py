"""The study's best model: the best confirmed configuration (mean over its fresh confirmation seeds) and of
its runs the best seed; before (or without) a confirmation phase, the best search trial's best seed."""

from __future__ import annotations

from pathlib import Path

from deligan_core.checkpoint import BEST_MARKER
from deligan_core.cli import did_you_mean
from study.protocol import seed_checkpoint
from study.results.analysis import best_confirmed, best_search_record
from study.results.records import SPEC_NAME, study_spec, trial_records
from study.spec import StudySpec


class NoFinishedTrial(LookupError):
    """A study (or cell) without a complete trial with a checkpoint yet."""


def best_checkpoint(study_dir: str | Path, cell: str | None = None) -> Path:
    """Checkpoint file of the study's best model (within `cell` when given).

    The confirmed configuration with the best mean first objective over its fresh seeds, and of its runs
    the seed that scored best; before (or without) a confirmation phase, the best search trial's best seed.
    """
    if not (Path(study_dir) / SPEC_NAME).is_file():
        raise FileNotFoundError(f"{study_dir}: not a study directory (no {SPEC_NAME}); give the folder "
                                f"storage/name of a study, e.g. studies/small-data")
    spec = study_spec(study_dir)
    cells = [c.key for c in spec.cells()]
    if cell is not None and cell not in cells:
        raise ValueError(f"{study_dir}: --cell {cell!r}: no such cell in this study{did_you_mean(cell, cells)}; "
                         f"allowed: {cells}")
    try:
        records = trial_records(study_dir, spec)
    except Exception as err:  # Tune's experiment state, written by another Ray version or damaged
        raise ValueError(f"{study_dir}: cannot read the study's trials (Tune experiment state): "
                         f"{type(err).__name__}: {err}") from err
    confirmed = best_confirmed(records, spec, cell)
    if confirmed is not None:
        seeds = {seed: values for seed, values in confirmed.per_seed.items() if seed in confirmed.checkpoints}
        seed = _best_seed(spec, seeds)
        return seed_checkpoint(confirmed.checkpoints[seed], seed)
    best = best_search_record(records, spec, cell)
    if best is None or best.checkpoint is None:
        where = f" in cell {cell!r}" if cell else ""
        raise NoFinishedTrial(f"{study_dir}: no complete trial with a checkpoint{where} yet")
    seed = _best_seed(spec, best.seed_values) if best.seed_values else best.seeds[0]
    return seed_checkpoint(best.checkpoint, seed)


def _best_seed(spec: StudySpec, per_seed: dict[int, dict[str, float]]) -> int:
    objective = spec.objectives[0]
    pick = max if objective.mode == "max" else min
    return pick(sorted(per_seed), key=lambda seed: per_seed[seed][objective.metric])


def write_best_marker(study_dir: str | Path) -> Path | None:
    """Write the `best_checkpoint` marker that lets `deligan_core.load(study_dir)` find the best trial."""
    try:
        path = best_checkpoint(study_dir)
    except NoFinishedTrial:
        return None
    (Path(study_dir) / BEST_MARKER).write_text(f"{path}\n")
    return path
