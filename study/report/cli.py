"""`python -m study.report STUDY [--out DIR] [--tracking-uri URI]`: the limited-data report of a study.

One self-contained HTML file (figures embedded, nothing fetched when it is opened), the same figures as
PNG, and `summary.md` (the answer and the tables in Markdown), written to `<study dir>/report/` (or --out)
and logged to the study's parent MLflow run under ``report/``. Sections: the answer (`study.report.answer`), the
confirmed results with the real-data reference and the paired comparisons, the limited-data curves, the
search (every trial, expected best against the number of trials, importances, the objective against the
searched parameters, the objective over training), every metric over training in the confirmed runs, sigma
over training, and samples beside their nearest training images. A running or interrupted study gets a
report of what it has so far, marked partial. The launcher writes it at the end of every study.
"""

from __future__ import annotations

from pathlib import Path

from deligan_core.cli import OneLineParser, refuse
from study.report.build import REPORT_DIR, Report, build_report
from study.results.records import SPEC_NAME, study_spec
from study.spec import StudySpec
from study.tracking.runs import absolute_uri, describe_study_run, find_study_run, log_report

DEFAULT_STORAGE = StudySpec.model_fields["storage"].default  # where studies are kept unless told otherwise


def find_study(name_or_dir: str, storage: str = DEFAULT_STORAGE) -> Path:
    """A study directory from its path, or from its name under `storage`."""
    for candidate in (Path(name_or_dir), Path(storage) / name_or_dir):
        if (candidate / SPEC_NAME).is_file():
            return candidate.resolve()
    known = sorted(p.parent.name for p in Path(storage).glob(f"*/{SPEC_NAME}"))
    raise FileNotFoundError(f"{name_or_dir}: no study there (no {SPEC_NAME}) and none of that name under "
                            f"{storage}/; studies there: {known or 'none'}")


def main(argv: list[str] | None = None) -> int:
    parser = OneLineParser(prog="python -m study.report", description=__doc__.splitlines()[0])
    parser.add_argument("study", help="the study's directory, or its name under --storage")
    parser.add_argument("--out", help="where to write the report (default: STUDY_DIR/report)")
    parser.add_argument("--storage", default=DEFAULT_STORAGE,
                        help=f"where studies are kept (default: {DEFAULT_STORAGE})")
    parser.add_argument("--tracking-uri", help="MLflow tracking URI of the study (default: the study file's)")
    args = parser.parse_args(argv)
    try:
        study_dir = find_study(args.study, args.storage)
    except FileNotFoundError as err:
        return refuse(err, debug=args.debug)
    spec = study_spec(study_dir)
    report = build_report(study_dir, args.out, spec=spec)
    print("\n".join(report.answer))
    print(f"report: {report.html}")
    print(log_to_study_run(report, spec, study_dir, args.tracking_uri or spec.tracking.uri))
    return 0


def log_to_study_run(report: Report, spec: StudySpec, study_dir: Path, uri: str) -> str:
    """Log the report to the study's parent run at tracking `uri`; returns what happened, in one line."""
    uri = absolute_uri(uri)
    if uri.startswith("sqlite:///") and not Path(uri.removeprefix("sqlite:///")).is_file():
        return f"not logged to MLflow: no tracking store at {uri} (give the study's with --tracking-uri)"
    run_id = find_study_run(uri, spec.tracking.experiment or spec.name, str(study_dir))
    if run_id is None:
        return f"not logged to MLflow: {uri} holds no run of the study in {study_dir}"
    log_report(uri, run_id, report.html.parent)
    describe_study_run(uri, run_id, report.description(local=True))
    return f"logged to the MLflow run of the study: {run_id} (under {REPORT_DIR}/)"

