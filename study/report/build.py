"""The limited-data report of a study: one self-contained HTML file (figures embedded, nothing fetched when
it is opened), the same figures as PNG, and `summary.md` (the answer and the tables in Markdown), written to
`<study dir>/report/` (or another folder). Sections: the answer (`study.report.answer`), the confirmed
results with the real-data reference and the paired comparisons, the limited-data curves, the search (every
trial, expected best against the number of trials, importances, the objective against the searched
parameters, the objective over training), every metric over training in the confirmed runs, sigma over
training, and samples beside their nearest training images. A running or interrupted study gets a report of
what it has so far, marked partial. `python -m study.report` (`study.report.cli`) builds one for a study
on disk; the launcher writes it at the end of every study."""

from __future__ import annotations

import base64
import datetime
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup
from matplotlib.figure import Figure

from deligan_core.checkpoint import CheckpointError
from study.protocol import SEARCH
from study.report import figures as study_figures
from study.report import search_figures
from study.report.answer import StudyState, answer, fmt, study_state
from study.report.sample_figures import sample_figures
from study.results.analysis import compare_cells, confirmed_results, report_metrics
from study.results.records import NETWORKS_NAME, REAL_NAME, TrialRecord, study_spec, trial_records
from study.results.stats import Interval, significant
from study.results.tables import markdown_tables, search_rows
from study.spec import StudySpec

REPORT_DIR = "report"
REPORT_NAME = "report.html"
SUMMARY_NAME = "summary.md"  # the answer and the tables in Markdown, beside the HTML
DPI = 110
CAPTIONS = {
    "limited_data": "Every reported metric against the data size: confirmed best per cell, mean with its 95% "
                    "interval as a band, each seed a point, the real held-out data dashed.",
    "comparison": "The objective per cell: confirmed mean, 95% interval and seeds.",
    "search_trials": "Every search trial of every cell (filled: complete; hollow: stopped early by ASHA).",
    "expected_best": "Expected best objective of a search of k trials (from the complete trials): a curve "
                     "still moving at its end says a larger budget would have found better.",
    "importances": "Which searched parameters mattered for reaching each cell's best trials (PED-ANOVA, "
                   "conditional parameters included).",
    "parameters": "The objective against each searched numeric parameter (e.g. components, sigma_reg).",
    "curves": "The objective at every evaluation of every search trial.",
    "pareto": "The Pareto front per cell on the first two objectives.",
    "sigma": "Sigma mean and min of the mixture over training, confirmed runs: a collapse shows as min near 0.",
    "training": "Every reported metric over training, confirmed runs, mean over seeds per cell (the last point is "
                "the final scoring): does a model degrade or start copying with longer training?",
    "samples": "Rows of samples (one per mixture component shown), each above every sample's nearest image of "
               "the run's own training subset (evaluation classifier's feature space): copies show as twins.",
}
MISSING = {"limited_data": "No confirmed results yet.", "sigma": "No confirmed run with a mixture latent.",
           "training": "No confirmed run evaluated more than once.",
           "parameters": "No numeric parameter searched."}


@dataclass(frozen=True)
class Report:
    """A written report: the HTML file, the PNGs beside it, the answer paragraphs (the state first when the
    study is not finished) and the study's state."""

    html: Path
    figures: list[Path]
    answer: list[str]
    state: StudyState

    def description(self, *, local: bool) -> str:
        """The study run's description in MLflow (Markdown): the answer, and where the report is."""
        where = f"`{self.html}`, and this run's artifact" if local else "this run's artifact"
        return "\n\n".join([*self.answer, f"The report: {where} `{REPORT_DIR}/{REPORT_NAME}`."])


def read_real_reference(study_dir: Path) -> dict[str, dict[str, float]]:
    """The real held-out data's scores the launcher kept in the study directory ({} when absent)."""
    path = study_dir / REAL_NAME
    return json.loads(path.read_text()) if path.is_file() else {}


def read_eval_networks(study_dir: Path) -> dict[str, dict[str, Any]]:
    """The evaluation network of each data set, as the launcher kept it in the study directory ({} when absent)."""
    path = study_dir / NETWORKS_NAME
    return json.loads(path.read_text()) if path.is_file() else {}


def ruler_lines(networks: dict[str, dict[str, Any]]) -> list[str]:
    """One line per data set: the network that scored it, its digest, accuracy, calibration and temperature."""
    lines = []
    for dataset, n in networks.items():
        quality = "".join(f", {label} {n[key]:.2%}" for key, label in (("accuracy", "accuracy"), ("ece", "ECE"))
                          if key in n)
        lines.append(f"{dataset}: {n['eval_network']} (SHA-256 {n['eval_network_sha256'][:16]}...{quality}, "
                     f"temperature {n['temperature']:.3f})")
    return lines


def study_figures_of(study_dir: str | Path, records: list[TrialRecord], spec: StudySpec,
                     real: dict[str, dict[str, float]]) -> tuple[dict[str, Figure], str]:
    """Every figure of the report by name, and why there are no sample figures (when there are none)."""
    built: dict[str, Figure | None] = {
        "limited_data": study_figures.limited_data_figure(records, spec, real),
        "comparison": study_figures.comparison_figure(records, spec, real),
        "search_trials": search_figures.search_strip_figure(records, spec),
        "expected_best": search_figures.expected_best_figure(records, spec),
        "importances": search_figures.importance_figure(search_figures.cell_importances(study_dir, spec), spec),
        "parameters": search_figures.parameter_figure(records, spec),
        "curves": study_figures.curves_figure(records, spec),
        "pareto": study_figures.pareto_figure(records, spec) if len(spec.objectives) > 1 else None,
        "sigma": study_figures.sigma_figure(records, spec),
        "training": study_figures.training_figure(records, spec, real),
    }
    note = "No confirmed model with a checkpoint yet."
    try:
        built.update(sample_figures(confirmed_results(records, spec), spec))
    except (CheckpointError, OSError, ValueError) as err:  # checkpoints or data not on this machine
        note = f"Samples not drawn: {err}"
    return {name: f for name, f in built.items() if f is not None}, note


def exact(value: float | None) -> str | None:
    """A number as the report's data-* attributes keep it: every digit (repr), for reading back."""
    return None if value is None else repr(float(value))


def _cell_text(interval: Interval | None) -> tuple[str, str | None]:
    if interval is None:
        return "-", None
    bounds = "" if interval.low is None else f" [{fmt(interval.low)}, {fmt(interval.high)}]"
    return fmt(interval.mean) + bounds, exact(interval.mean)


def _tables(records: list[TrialRecord], spec: StudySpec, real: dict[str, dict[str, float]]) -> dict[str, Any]:
    """The numbers of the report's tables, each value kept exact beside its text (data-* attributes)."""
    metrics = list(dict.fromkeys(m for cell in spec.cells() for m in report_metrics(spec, cell)))
    confirmed = confirmed_results(records, spec)
    confirmed_rows = []
    for group in confirmed:
        cells = []
        for metric in metrics:
            text, mean = _cell_text(group.interval(metric))
            cells.append({"metric": metric, "text": text, "mean": mean})
        confirmed_rows.append({"cell": group.cell, "role": group.role, "seeds": len(group.per_seed),
                               "params": json.dumps(group.params, sort_keys=True), "cells": cells})
    real_rows = [{"dataset": dataset, "cells": [{"metric": m, "text": fmt(scores[m]) if m in scores else "-",
                                                 "mean": exact(scores.get(m))} for m in metrics]}
                 for dataset, scores in real.items()]
    comparison_rows = []
    for c in compare_cells(confirmed, spec):
        d = c.comparison.difference
        comparison_rows.append({
            "cell": c.cell, "reference": c.reference, "metric": c.metric, "difference": exact(d.mean),
            "p": exact(c.comparison.p_value), "p_holm": exact(c.comparison.p_holm),
            "significant": significant(c.comparison.p_holm),
            "text": f"{fmt(d.mean)}" + ("" if d.low is None else f" [{fmt(d.low)}, {fmt(d.high)}]"),
            "p_text": fmt(c.comparison.p_value), "p_holm_text": fmt(c.comparison.p_holm)})
    metric = spec.objectives[0].metric
    trials = [{"trial_id": r.trial_id, "cell": r.cell, "outcome": r.outcome, "step": r.step,
               "value": exact(r.value(metric)), "text": "-" if r.value(metric) is None else fmt(r.value(metric)),
               "params": json.dumps(r.params, sort_keys=True)} for r in records if r.phase == SEARCH]
    header, rows = search_rows(records, spec)
    return {"metrics": metrics, "confirmed_rows": confirmed_rows, "real_rows": real_rows,
            "comparison_rows": comparison_rows, "trials": trials, "metric": metric,
            "search_header": header, "search_rows": rows}


def _embed(path: Path, caption: str) -> Markup:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return Markup('<figure><img src="data:image/png;base64,{}" alt="{}"><figcaption>{}</figcaption></figure>'
                  ).format(Markup(data), caption, caption)


def build_report(study_dir: str | Path, out: str | Path | None = None, *, spec: StudySpec | None = None,
                 records: list[TrialRecord] | None = None, real: dict[str, dict[str, float]] | None = None,
                 networks: dict[str, dict[str, Any]] | None = None, mlflow_link: str | None = None) -> Report:
    """Write the report of the study in `study_dir` (finished, running or interrupted) into `out`
    (default `<study_dir>/report`): the HTML file and its figures as PNG. spec, records, real: what the
    caller read already (the launcher), else read from the study directory; networks likewise (the evaluation
    network of each data set, named in the report's header)."""
    spec = spec or study_spec(study_dir)
    records = records if records is not None else trial_records(study_dir, spec)
    real = real if real is not None else read_real_reference(Path(study_dir))
    networks = networks if networks is not None else read_eval_networks(Path(study_dir))
    out = Path(out) if out is not None else Path(study_dir) / REPORT_DIR
    out.mkdir(parents=True, exist_ok=True)
    built, samples_note = study_figures_of(study_dir, records, spec, real)
    paths: dict[str, Path] = {}
    for name, figure in built.items():
        paths[name] = out / f"{name}.png"
        figure.savefig(paths[name], dpi=DPI)

    def figure(name: str) -> Markup:
        if name in paths:
            return _embed(paths[name], CAPTIONS["samples" if name.startswith("samples") else name])
        return Markup('<p class="note">{}</p>').format(MISSING.get(name, "")) if name in MISSING else Markup("")

    state = study_state(records, spec)
    paragraphs = answer(records, spec, real)
    summary = paragraphs if state.finished else [state.describe(), *paragraphs]
    environment = jinja2.Environment(loader=jinja2.PackageLoader("study.report", "templates"), autoescape=True,
                                     undefined=jinja2.StrictUndefined)
    html = environment.get_template("report.html.j2").render(
        spec=spec, study_dir=str(study_dir), state=state, answer=paragraphs, figure=figure,
        objectives=", ".join(f"{o.metric} ({o.mode})" for o in spec.objectives),
        written=datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"), mlflow_link=mlflow_link,
        sample_names=[n for n in paths if n.startswith("samples")], samples_note=samples_note,
        rulers=ruler_lines(networks),
        **_tables(records, spec, real))
    (out / REPORT_NAME).write_text(html)
    rulers = "".join(f"- {line}\n" for line in ruler_lines(networks))
    (out / SUMMARY_NAME).write_text("\n\n".join([f"# Study {spec.name}", *summary,
                                                 markdown_tables(records, spec, real)])
                                    + (f"\n\nScored by:\n{rulers}" if rulers else "\n"))
    return Report(out / REPORT_NAME, list(paths.values()), summary, state)
