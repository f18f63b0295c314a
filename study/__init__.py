"""study: hyperparameter studies of deligan_core on Ray Tune + Optuna + MLflow, defined by one YAML file.

Run one with ``python -m study.launch search_spaces/small_data.yaml``; find its best checkpoint with
``python -m study.best studies/small-data``. The trainer is used only through deligan_core's public API.
Names are imported on first use, so ``python -m study.launch`` does not import itself twice.
"""

from importlib import import_module
from typing import Any

_EXPORTS = {
    "best_checkpoint": "best", "checkpoint_from_mlflow_uri": "best",
    "StudyError": "launch", "StudyOutcome": "launch", "run_study": "launch",
    "TrialConfig": "protocol",
    "TrialRecord": "results", "best_confirmed": "results", "compare_cells": "results",
    "confirmed_results": "results", "study_summary": "results", "trial_records": "results",
    "PerCellScheduler": "search", "StudySearch": "search", "load_search": "search", "optuna_storage": "search",
    "SpecError": "spec", "StudySpec": "spec", "load_spec": "spec", "parse_spec": "spec",
    "TrialTracker": "tracking",
    "train_trial": "trainable",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'study' has no attribute {name!r}")
    return getattr(import_module(f"study.{_EXPORTS[name]}"), name)
