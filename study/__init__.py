"""study: hyperparameter studies of deligan_core on Ray Tune + Optuna + MLflow, defined by one YAML file.

Run one with ``python -m study.launch search_spaces/small_data.yaml``; find its best checkpoint with
``python -m study.best studies/small-data``; rebuild its report with ``python -m study.report NAME``. The
trainer is used only through deligan_core's public API. Layout, by concern (lower layers never import higher):
`protocol` and `spec` (what a trial and a study are), `results` (a study read back) and `tracking` (MLflow),
`report` (the answer, tables and figures), `run` (Ray Tune: phases, search, trainable, preflight), and the
command lines `launch`, `best` on top. Names are imported on first use, so ``python -m study.launch`` does
not import itself twice.
"""

from importlib import import_module
from typing import Any

_EXPORTS = {
    "best_checkpoint": "results.best", "checkpoint_from_mlflow_uri": "best",
    "StudyError": "run.errors", "StudyOutcome": "run.study_run", "run_study": "run.study_run",
    "TrialConfig": "protocol",
    "TrialRecord": "results.records", "trial_records": "results.records", "optuna_storage": "results.records",
    "best_confirmed": "results.analysis", "compare_cells": "results.analysis", "confirmed_results": "results.analysis",
    "study_summary": "results.tables",
    "PerCellScheduler": "run.search", "StudySearch": "run.search", "load_search": "run.search",
    "SpecError": "spec", "StudySpec": "spec", "load_spec": "spec", "parse_spec": "spec",
    "TrialTracker": "tracking.callback",
    "train_trial": "run.trainable",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'study' has no attribute {name!r}")
    return getattr(import_module(f"study.{_EXPORTS[name]}"), name)
