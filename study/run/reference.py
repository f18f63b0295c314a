"""The real held-out data's own scores under the study's evaluation networks: the reference every table
and figure shows, kept in the study directory."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from deligan_core.data import load_dataset
from deligan_core.metrics import Evaluator
from study.results.records import NETWORKS_NAME, REAL_NAME
from study.spec import StudySpec


def real_reference(spec: StudySpec, study_dir: str | None) -> tuple[dict[str, dict[str, float]],
                                                                    dict[str, dict[str, Any]]]:
    """The real held-out data's own scores, per data set of the study, at the sample count of the reported
    scores (the confirmation's, else the search's; fewer where the evaluation split holds fewer, as its
    `samples` and `class_samples` say) and with the study's evaluation network: the reference every figure
    and table shows; and that network per data set (`EvalClassifier.describe`: name, SHA-256, temperature,
    accuracy, calibration error). Computed once, kept in the study directory (this also trains a local data
    set's evaluation classifier once, before any trial asks for it)."""
    paths = (Path(study_dir) / REAL_NAME, Path(study_dir) / NETWORKS_NAME) if study_dir else None
    if paths is not None and all(p.is_file() for p in paths):
        return json.loads(paths[0].read_text()), json.loads(paths[1].read_text())
    real: dict[str, dict[str, float]] = {}
    networks: dict[str, dict[str, Any]] = {}
    for cell in spec.cells():
        config = spec.config_for(cell.values)
        dataset, n = config.data.dataset, config.train.eval_samples
        if spec.confirm is not None and spec.confirm.eval_samples:  # what the reported (confirmed) scores use
            n = spec.confirm.eval_samples
        if n and dataset not in real:
            evaluator = Evaluator(load_dataset(dataset, root=config.data.root), n)
            real[dataset] = evaluator.score_real()
            if evaluator.classifier is not None:
                networks[dataset] = evaluator.classifier.describe()
    if paths is not None:
        paths[0].write_text(json.dumps(real, indent=1))
        paths[1].write_text(json.dumps(networks, indent=1))
    return real, networks
