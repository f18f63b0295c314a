"""`python -m study.launch SPEC.yaml [--address auto|ray://HOST:PORT] [--resume] [--storage PATH_OR_URI]
[--tracking-uri URI]`.

Without flags the study runs on a local Ray instance sized to this machine, MLflow logs to the embedded
SQLite file of the study's `tracking.uri`, and trials are kept under `storage/name`. `--address` joins a
running cluster (`auto`: the one this machine belongs to; `ray://`: through Ray Client, where the driver
and its callbacks run on the head node). On a cluster of several nodes, `storage` must be a path every
node sees (checked) or a URI (s3://, gs://, ...), and `tracking.uri` an MLflow server (http://...); both can
be given on the command line, so the same file runs on a laptop and on a cluster.
Ray 2.60 clusters may use token authentication (`RAY_AUTH_MODE=token`): every node and this driver then
need the cluster's token (`ray get-auth-token --generate` on the head writes ~/.ray/auth_token; copy that
file, or set RAY_AUTH_TOKEN / RAY_AUTH_TOKEN_PATH, on each machine before `ray start` and before launching).
`--resume` continues an interrupted study, in whichever phase it stopped: finished trials are kept,
unfinished ones continue from their last checkpoint. Resumed with a larger `trials_per_cell`, the search is
extended by the missing trials (a new round) and the confirmation runs again.
"""

from __future__ import annotations

import shlex
import sys
from typing import Any, Callable

from deligan_core.cli import OneLineParser, refuse
from study.run.errors import StudyError
from study.run.preflight import PreflightError
from study.run.study_run import run_study
from study.spec import SpecError, load_spec

INTERRUPTED_EXIT = 130


def main(argv: list[str] | None = None, *, train: Callable[[dict[str, Any]], None] | None = None) -> int:
    """The command line; `train` replaces the trial function (tests inject faults through it)."""
    parser = OneLineParser(prog="python -m study.launch", description=__doc__.splitlines()[0])
    parser.add_argument("spec", help="the study file (YAML)")
    parser.add_argument("--address", help="Ray cluster to join: auto, or ray://HOST:PORT (default: local Ray)")
    parser.add_argument("--resume", action="store_true", help="continue the interrupted study of this file")
    parser.add_argument("--storage", help="where studies are kept (path every node sees, or URI); "
                                          "overrides the file's `storage`")
    parser.add_argument("--tracking-uri", help="MLflow tracking URI, e.g. http://HOST:5000; overrides the "
                                               "file's `tracking.uri`")
    args = parser.parse_args(argv)
    try:
        spec = load_spec(args.spec)
        if args.tracking_uri:
            spec = spec.with_tracking_uri(args.tracking_uri)
        outcome = run_study(spec, address=args.address, resume=args.resume, storage=args.storage,
                            **({} if train is None else {"train": train}))
    except (SpecError, StudyError, PreflightError) as err:
        return refuse(err, debug=args.debug)
    if outcome.interrupted:  # the same command, so --storage and --tracking-uri point at the same study
        again = [a for a in (sys.argv[1:] if argv is None else argv) if a != "--resume"]
        print(f"interrupted: continue with  python -m study.launch {shlex.join(again)} --resume")
        return INTERRUPTED_EXIT
    return 0


if __name__ == "__main__":
    sys.exit(main())
