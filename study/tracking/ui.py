"""The MLflow UI (3.17) opened on a study's trials, not on its GenAI overview.

`mlflow ui` opens an experiment in the mode last chosen in that browser (GenAI unless changed: an empty
traces Overview). So the study saves a view of its runs in its experiment, as the Runs tab's "Views" menu
does: the experiment tag ``mlflow.sharedViewState.<key>`` (the sort and the table's columns), opened by
``#/experiments/<id>/runs?viewStateShareKey=<key>``, with ``workflowType=machine_learning`` for the Model
training mode. Sorted by a metric, MLflow lists child runs as rows of their own (it nests them under a
collapsed parent only when sorted by start time), so every trial is a row, the parent run last. Which
rows are expanded, and the Assistant panel opened on a first visit, live only in the browser's local
storage: no link or tag sets them. The experiment's description (unless it has one) links to the view.
"""

from __future__ import annotations

import json
import shlex
import time
from typing import Any
from urllib.parse import urlencode

from mlflow.tracking import MlflowClient

from study.spec import StudySpec
from study.tracking.runs import TAG_NOTE, TAG_PARETO

DEFAULT_UI = "http://127.0.0.1:5000"  # where `mlflow ui` serves a local store
VIEW_TAG = "mlflow.sharedViewState."  # + key: a saved view of the Runs tab (MLflow's envelope, see `save_view`)
RUN_NAME_COLUMN = "attributes.`Run Name`"
RUN_NAME_WIDTH = 320  # pixels: room for "confirm/<cell>/<trial id>"


def is_server(tracking_uri: str) -> bool:
    """Whether a tracking URI is an MLflow server (http/https), which serves the UI itself."""
    return tracking_uri.split(":", 1)[0] in ("http", "https")


def ui_base_url(tracking_uri: str) -> str:
    """The UI of a tracking URI: an MLflow server's own address, else where `mlflow ui` serves a local store."""
    return tracking_uri.rstrip("/") if is_server(tracking_uri) else DEFAULT_UI


def column(kind: str, name: str) -> str:
    """A runs-table column (and sort) key, as the UI writes it: ``metrics.`coverage```."""
    return f"{kind}.`{name}`"


def runs_view_state(metric: str, mode: str, columns: list[str]) -> dict[str, Any]:
    """A Runs-tab view: sorted by `metric` (best first for `mode` max/min), showing `columns` after the run
    name."""
    return {"orderByKey": column("metrics", metric), "orderByAsc": mode == "min", "selectedColumns": columns,
            "columnOrder": [RUN_NAME_COLUMN, *columns], "columnWidths": {RUN_NAME_COLUMN: RUN_NAME_WIDTH}}


def save_view(uri: str, experiment_id: str, key: str, name: str, state: dict[str, Any]) -> None:
    """Save `state` as the experiment's view `key`, listed as `name` in the UI's Views menu."""
    now = int(time.time() * 1000)
    envelope = {"name": name, "createdAt": now, "updatedAt": now, "state": json.dumps(state)}
    MlflowClient(uri).set_experiment_tag(experiment_id, VIEW_TAG + key, json.dumps(envelope))


def view_fragment(experiment_id: str, key: str) -> str:
    """The UI's route (URL fragment) to the experiment's saved view `key`, in Model training mode."""
    query = urlencode({"viewStateShareKey": key, "workflowType": "machine_learning"})
    return f"#/experiments/{experiment_id}/runs?{query}"


def runs_view_link(base_url: str, experiment_id: str, key: str) -> str:
    """The address of the experiment's saved view `key` in the UI at `base_url`."""
    return f"{base_url.rstrip('/')}/{view_fragment(experiment_id, key)}"


def study_view_state(spec: StudySpec) -> dict[str, Any]:
    """The study's view: best trials first by the (first) objective; the objectives, the searched
    parameters and each trial's outcome (with several objectives, its Pareto tag too) as columns."""
    tags = ["outcome", TAG_PARETO] if len(spec.objectives) > 1 else ["outcome"]
    columns = ([column("metrics", o.metric) for o in spec.objectives] + [column("params", p) for p in spec.search]
               + [column("tags", t) for t in tags])
    first = spec.objectives[0]
    return runs_view_state(first.metric, first.mode, columns)


def describe_experiment(uri: str, experiment_id: str, text: str) -> None:
    """Set the experiment's description (Markdown, shown atop every tab), unless it has one."""
    client = MlflowClient(uri)
    if TAG_NOTE not in client.get_experiment(experiment_id).tags:
        client.set_experiment_tag(experiment_id, TAG_NOTE, text)


def study_view_key(spec: StudySpec) -> str:
    """The key of the study's saved view in its experiment."""
    return f"deligan.{spec.name}"


def study_view_link(spec: StudySpec, uri: str, experiment_id: str) -> str:
    """The address of the study's saved view (see `open_study_view`) in the UI of tracking `uri`."""
    return runs_view_link(ui_base_url(uri), experiment_id, study_view_key(spec))


def open_study_view(spec: StudySpec, uri: str, experiment_id: str) -> str:
    """Save the study's view in its experiment, point the experiment's description at it, and return the
    line that says where to look: the link, and for a local store the `mlflow ui` command serving it."""
    key, first = study_view_key(spec), spec.objectives[0]
    name = f"{spec.name}: trials by {first.metric} ({first.mode})"
    save_view(uri, experiment_id, key, name, study_view_state(spec))
    describe_experiment(uri, experiment_id, f"DeLiGAN study **{spec.name}**: its trials, best {first.metric} "
                        f"first, are in the view [{name}]({view_fragment(experiment_id, key)}) (Runs tab, Views).")
    link = study_view_link(spec, uri, experiment_id)
    serve = "" if is_server(uri) else f"  (mlflow ui --backend-store-uri {shlex.quote(uri)})"
    return f"MLflow UI: {link}{serve}"
