"""`python -m study.best STUDY_DIR [--cell CELL]`: print the best model's checkpoint path.

The best confirmed configuration (mean over its fresh confirmation seeds), and of its runs the best seed;
exit status 2 for a folder that is not a study, 1 for a study without a finished trial yet.

Also the resolver behind `deligan_core.load("runs:/<run_id>")`: registered under the entry point group
`deligan_core.checkpoint_resolvers` as ``runs = "study.best:checkpoint_from_mlflow_uri"``, it downloads the
trial's checkpoint artifact from MLflow (tracking URI from MLFLOW_TRACKING_URI, default
sqlite:///mlflow.db) or falls back to the checkpoint path the run records.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from deligan_core.checkpoint import BEST_MARKER, CHECKPOINT_NAME
from deligan_core.cli import OneLineParser, did_you_mean, refuse
from study.results import SPEC_NAME, best_confirmed, best_search_record, study_spec, trial_records
from study.spec import StudySpec
from study.trainable import seed_dir

DEFAULT_TRACKING_URI = "sqlite:///mlflow.db"


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
        return Path(confirmed.checkpoints[seed]) / seed_dir(seed) / CHECKPOINT_NAME
    best = best_search_record(records, spec, cell)
    if best is None or best.checkpoint is None:
        where = f" in cell {cell!r}" if cell else ""
        raise NoFinishedTrial(f"{study_dir}: no complete trial with a checkpoint{where} yet")
    seed = _best_seed(spec, best.seed_values) if best.seed_values else best.seeds[0]
    return Path(best.checkpoint) / seed_dir(seed) / CHECKPOINT_NAME


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


def checkpoint_from_mlflow_uri(uri: str) -> Path:
    """Local checkpoint file for an MLflow ``runs:/<run_id>`` URI: the artifact of the run's first seed
    (``checkpoint/seed<k>/checkpoint.pt``), downloaded, or else the checkpoint path the run records."""
    from mlflow.artifacts import download_artifacts  # here, not at the top: printing a path needs no MLflow (2 s)
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    tracking = os.environ.get("MLFLOW_TRACKING_URI", DEFAULT_TRACKING_URI)
    run_id = uri.removeprefix("runs:/").strip("/").split("/")[0]
    try:
        tags = MlflowClient(tracking).get_run(run_id).data.tags
    except MlflowException as err:
        raise FileNotFoundError(f"{uri}: no run {run_id} at tracking URI {tracking} ({err})") from err
    first = tags.get("seeds", "0").split(",")[0]
    try:
        return Path(download_artifacts(artifact_uri=f"runs:/{run_id}/checkpoint/{seed_dir(int(first))}/"
                                                    f"{CHECKPOINT_NAME}", tracking_uri=tracking))
    except (MlflowException, OSError) as err:
        recorded = tags.get("checkpoint_path")
        if recorded and Path(recorded).is_file():
            return Path(recorded)
        raise FileNotFoundError(f"{uri}: no checkpoint artifact in run {run_id} at tracking URI {tracking} "
                                f"and no readable checkpoint_path tag ({err})") from err


def main(argv: list[str] | None = None) -> int:
    parser = OneLineParser(prog="python -m study.best", description=__doc__.splitlines()[0])
    parser.add_argument("study_dir", help="the study directory (storage/name)")
    parser.add_argument("--cell", help="best within this grid cell, e.g. 'per_class=10,model=deligan'")
    args = parser.parse_args(argv)
    try:
        print(best_checkpoint(args.study_dir, args.cell))
    except (FileNotFoundError, ValueError) as err:  # not a study, a study file that no longer validates, no cell
        return refuse(err, debug=args.debug)
    except NoFinishedTrial as err:  # a study without a finished trial yet: not a bad input
        return refuse(err, debug=args.debug, status=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
