"""`python -m study.best STUDY_DIR [--cell CELL]`: print the best trial's checkpoint path.

Also the resolver behind `deligan_core.load("runs:/<run_id>")`: registered under the entry point group
`deligan_core.checkpoint_resolvers` as ``runs = "study.best:checkpoint_from_mlflow_uri"``, it downloads the
trial's checkpoint artifact from MLflow (tracking URI from MLFLOW_TRACKING_URI, default
sqlite:///mlflow.db) or falls back to the checkpoint path the run records.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from mlflow.artifacts import download_artifacts
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from deligan_core.checkpoint import BEST_MARKER, CHECKPOINT_NAME
from study.results import best_record, study_spec, trial_records

DEFAULT_TRACKING_URI = "sqlite:///mlflow.db"


def best_checkpoint(study_dir: str | Path, cell: str | None = None) -> Path:
    """Checkpoint file of the study's best complete trial (within `cell` when given)."""
    spec = study_spec(study_dir)
    best = best_record(trial_records(study_dir, spec), spec.objective.mode, cell)
    if best is None or best.checkpoint is None:
        where = f" in cell {cell!r}" if cell else ""
        raise LookupError(f"{study_dir}: no complete trial with a checkpoint{where} yet")
    return Path(best.checkpoint) / CHECKPOINT_NAME


def write_best_marker(study_dir: str | Path) -> Path | None:
    """Write the `best_checkpoint` marker that lets `deligan_core.load(study_dir)` find the best trial."""
    try:
        path = best_checkpoint(study_dir)
    except LookupError:
        return None
    (Path(study_dir) / BEST_MARKER).write_text(f"{path}\n")
    return path


def checkpoint_from_mlflow_uri(uri: str) -> Path:
    """Local checkpoint file for an MLflow ``runs:/<run_id>`` URI (artifact download or recorded path)."""
    tracking = os.environ.get("MLFLOW_TRACKING_URI", DEFAULT_TRACKING_URI)
    run_id = uri.removeprefix("runs:/").strip("/").split("/")[0]
    try:
        return Path(download_artifacts(artifact_uri=f"runs:/{run_id}/checkpoint/{CHECKPOINT_NAME}",
                                       tracking_uri=tracking))
    except (MlflowException, OSError) as err:
        try:
            recorded = MlflowClient(tracking).get_run(run_id).data.tags.get("checkpoint_path")
        except MlflowException:
            recorded = None
        if recorded and Path(recorded).is_file():
            return Path(recorded)
        raise FileNotFoundError(f"{uri}: no checkpoint artifact in run {run_id} at tracking URI {tracking} "
                                f"and no readable checkpoint_path tag ({err})") from err


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m study.best", description=__doc__.splitlines()[0])
    parser.add_argument("study_dir", help="the study directory (storage/name)")
    parser.add_argument("--cell", help="best within this grid cell, e.g. 'per_class=10,model=deligan'")
    args = parser.parse_args(argv)
    try:
        print(best_checkpoint(args.study_dir, args.cell))
    except (LookupError, FileNotFoundError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
