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

from deligan_core.checkpoint import CHECKPOINT_NAME
from deligan_core.cli import OneLineParser, refuse
from study.protocol import seed_dir
from study.results.best import NoFinishedTrial, best_checkpoint

DEFAULT_TRACKING_URI = "sqlite:///mlflow.db"


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
