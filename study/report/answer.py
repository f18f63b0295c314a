"""The study's answer in plain language, computed from its numbers: which setting wins in which cell, by how
much, with the interval and the corrected p-value, or that the data show no detectable difference.

Every sentence is built from the confirmed results and the paired comparisons (`study.results`); none is
written by hand. A study without a confirmation yet is answered from its search, and says so.

The answer does not reward copying: where one model's memorisation share is detectably above the other's
(paired, Holm-corrected) and above the real held-out images' own share against the same training subsets,
the answer says so first, with the numbers, and its gains on other scores are called gains that come with
copying, never simply better.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from deligan_core.metrics import keys
from study.protocol import BEST_ROLE, CONFIRM, SEARCH, UNFINISHED
from study.results.analysis import CellComparison, Confirmed, best_search_record, compare_cells, confirmed_results
from study.results.records import TrialRecord
from study.results.stats import significant
from study.spec import StudySpec


@dataclass(frozen=True)
class StudyState:
    """How far a study got: trials still unfinished (running or interrupted) and whether it confirmed."""

    search_trials: int
    confirm_trials: int
    unfinished: int
    confirms: bool  # whether the study has a confirmation phase

    @property
    def finished(self) -> bool:
        return self.unfinished == 0 and (self.confirm_trials > 0 or not self.confirms)

    def describe(self) -> str:
        """One sentence: finished, or what is partial about the results."""
        if self.finished:
            return f"Finished: {self.search_trials} search trials, {self.confirm_trials} confirmation runs."
        phase = "confirmation" if self.confirm_trials else "search"
        running = f"{self.unfinished} trials unfinished, running or interrupted" if self.unfinished else \
            "no confirmation run"
        return (f"Partial results: the study is in its {phase} ({running}; {self.search_trials} search trials, "
                f"{self.confirm_trials} confirmation runs so far). Numbers below may change.")


def study_state(records: list[TrialRecord], spec: StudySpec) -> StudyState:
    """Count the study's trials by phase and the unfinished ones."""
    return StudyState(search_trials=sum(r.phase == SEARCH for r in records),
                      confirm_trials=sum(r.phase == CONFIRM for r in records),
                      unfinished=sum(r.outcome == UNFINISHED for r in records), confirms=spec.confirm is not None)


def fmt(value: float) -> str:
    """A number as the report writes it: three significant digits, and no exponent from 1,000 up
    (12,300 rather than 1.23e+04)."""
    rounded = float(f"{value:.3g}")
    return f"{rounded:,.0f}" if math.isfinite(rounded) and abs(rounded) >= 1000 else f"{value:.3g}"


def _where(spec: StudySpec, cell: str, dimension: str | None) -> str:
    rest = {k: v for k, v in spec.cell(cell).values.items() if k != dimension}
    return ", ".join(f"{k}={v}" for k, v in rest.items()) or "the only cell"


def _setting(spec: StudySpec, cell: str, dimension: str) -> str:
    value = spec.cell(cell).values[dimension]
    return str(value) if dimension == "model" else f"{dimension}={value}"


def _direction(metric: str, spec: StudySpec) -> str | None:
    if metric in keys.CLOSER_TO_REAL:
        return None
    for objective in spec.objectives:
        if objective.metric == metric:
            return objective.mode
    return keys.better_direction(metric)


def _real_value(c: CellComparison, spec: StudySpec, real: dict[str, dict[str, float]]) -> float | None:
    """The real held-out data's own value of `c.metric`, on the data set of `c.cell` (None when unknown)."""
    dataset = spec.resolved_values(spec.cell(c.cell).values)["dataset"]
    return real.get(dataset, {}).get(c.metric)


def _closer(c: CellComparison, best: dict[str, Confirmed], real_value: float) -> bool | None:
    """Whether `c.cell`'s confirmed mean lies closer to the real data's value than its reference's (None: as close)."""
    a, b = (abs(best[k].interval(c.metric).mean - real_value) for k in (c.cell, c.reference))  # type: ignore[union-attr]
    return None if a == b else a < b


def _is_better(difference: float, direction: str | None) -> bool | None:
    if direction is None or difference == 0:
        return None
    return (difference > 0) == (direction == "max")


def _interval(c: CellComparison) -> str:
    d = c.comparison.difference
    bounds = "" if d.low is None else f" [95% CI {fmt(d.low)}, {fmt(d.high)}]"
    return f"{'+' if d.mean > 0 else ''}{fmt(d.mean)}{bounds}"


def objective_sentence(c: CellComparison, best: dict[str, Confirmed], spec: StudySpec,
                       real: dict[str, dict[str, float]] | None = None, copying: list[Copying] | None = None) -> str:
    """One comparison on the first objective, as a sentence. A score read against the real data
    (`keys.CLOSER_TO_REAL`, m-IS) is called closer to or further from the real data's value, never better; a
    gain of a model that copies (`copying_pairs`) is called one that comes with copying."""
    dimension, _ = spec.comparison() or ("", None)
    a, b = _setting(spec, c.cell, dimension), _setting(spec, c.reference, dimension)
    mean_a, mean_b = (best[k].interval(c.metric) for k in (c.cell, c.reference))
    assert mean_a is not None and mean_b is not None
    direction = _direction(c.metric, spec)
    real_value = _real_value(c, spec, real or {}) if c.metric in keys.CLOSER_TO_REAL else None
    label = f"{c.metric} ({'higher' if direction == 'max' else 'lower'} is better)" if direction else c.metric
    if real_value is not None:
        label = f"{c.metric} (the real data's: {fmt(real_value)}; neither higher nor lower is better)"
    numbers = (f"{fmt(mean_a.mean)} against {fmt(mean_b.mean)}, a difference of {_interval(c)} over "
               f"{c.comparison.difference.n} paired seeds (Holm-corrected p = {fmt(c.comparison.p_holm)})")
    where = _where(spec, c.cell, dimension)
    if not significant(c.comparison.p_holm):
        return f"At {where}: no detectable difference between {a} and {b} on {label}: {numbers}{_caveat(c)}."
    if c.metric in keys.CLOSER_TO_REAL:
        closer = None if real_value is None else _closer(c, best, real_value)
        verb = {True: "lies closer to the real data than", False: "lies further from the real data than",
                None: "differs from"}[closer]
    else:
        better = _is_better(c.comparison.difference.mean, direction)
        copier = _copier(c, copying or []) if c.metric != keys.MEMORISATION_SHARE else None
        if copier is not None and (copier == c.cell) == better:
            winner, loser = (a, b) if better else (b, a)
            return (f"At {where}, {winner} scores better than {loser} on {label}, a gain that comes with copying "
                    f"training images (above): {numbers}.")
        verb = "beats" if better else "does worse than"
    return f"At {where}, {a} {verb} {b} on {label}: {numbers}."


def _caveat(c: CellComparison) -> str:
    """Why a difference whose interval or uncorrected test looks clear is not called one."""
    d = c.comparison
    if significant(d.p_value):
        return f"; the uncorrected paired t-test gives p = {fmt(d.p_value)}, but not after correcting for the cells"
    if d.difference.low is not None and (d.difference.low > 0 or d.difference.high < 0):
        return (f"; the bootstrap interval excludes 0, but it runs narrow with {d.difference.n} seeds and the "
                f"paired t-test does not detect a difference (p = {fmt(d.p_value)})")
    return ""


@dataclass(frozen=True)
class Copying:
    """A model of a compared pair that copies its training images: detectably more than the other model, and
    more than real held-out images do against the same training subsets."""

    copier: str
    other: str
    comparison: CellComparison  # the pair's paired comparison on the memorisation share
    share: float
    other_share: float
    real_share: float


def copying_pairs(comparisons: list[CellComparison], best: dict[str, Confirmed], spec: StudySpec,
                  real: dict[str, dict[str, float]]) -> list[Copying]:
    """The compared pairs in which one model copies (see `Copying`); the real share is the cell's own
    `real_memorisation_share` (the same training subsets), else the data set's reference value."""
    found = []
    for c in comparisons:
        if c.metric != keys.MEMORISATION_SHARE or not significant(c.comparison.p_holm):
            continue
        copier, other = (c.cell, c.reference) if c.comparison.difference.mean > 0 else (c.reference, c.cell)
        share, other_share = (best[k].interval(keys.MEMORISATION_SHARE) for k in (copier, other))
        own = best[copier].interval(keys.REAL_MEMORISATION_SHARE)
        dataset = spec.resolved_values(spec.cell(copier).values)["dataset"]
        real_share = own.mean if own is not None else real.get(dataset, {}).get(keys.MEMORISATION_SHARE)
        if share is not None and other_share is not None and real_share is not None and share.mean > real_share:
            found.append(Copying(copier, other, c, share.mean, other_share.mean, real_share))
    return found


def copying_sentence(copy: Copying, spec: StudySpec) -> str:
    """What copying a pair shows, first and with its numbers."""
    dimension, _ = spec.comparison() or ("", None)
    a, b = _setting(spec, copy.copier, dimension), _setting(spec, copy.other, dimension)
    d = copy.comparison.comparison
    low, high = d.difference.low, d.difference.high
    if copy.comparison.cell != copy.copier and low is not None and high is not None:  # copier minus the other
        low, high = -high, -low
    bounds = "" if low is None else f" [95% CI {fmt(low)}, {fmt(high)}]"
    return (f"At {_where(spec, copy.copier, dimension)}, {a} copies its training images: its memorisation share "
            f"(the share of samples closer to a training image than that image's nearest training neighbour) is "
            f"{fmt(copy.share)}, against {fmt(copy.other_share)} for {b} (+{fmt(abs(d.difference.mean))}{bounds}, "
            f"Holm-corrected p = {fmt(d.p_holm)}) and {fmt(copy.real_share)} for real held-out images against the "
            f"same training subsets. Its gains on the other scores below come with that copying: they do not make "
            f"{a} a better model there.")


def _copier(c: CellComparison, copying: list[Copying]) -> str | None:
    """The model of `c`'s pair that copies, None when neither does."""
    return next((x.copier for x in copying if {x.copier, x.other} == {c.cell, c.reference}), None)


def _judged(c: CellComparison, best: dict[str, Confirmed], spec: StudySpec,
            real: dict[str, dict[str, float]], copying: list[Copying] | None = None) -> str:
    """How a detectable difference reads: " (better)", " (worse)", " (closer to / further from the real
    data's V)" for the scores read against the real data, a gain that comes with copying when the model that
    gains copies (`copying_pairs`), or "" when there is no way to judge it."""
    if c.metric in keys.CLOSER_TO_REAL:
        real_value = _real_value(c, spec, real)
        closer = None if real_value is None else _closer(c, best, real_value)
        if closer is None:
            return ""
        return f" ({'closer to' if closer else 'further from'} the real data's {fmt(real_value)})"  # type: ignore[arg-type]
    better = _is_better(c.comparison.difference.mean, _direction(c.metric, spec))
    copier = _copier(c, copying or []) if c.metric != keys.MEMORISATION_SHARE else None
    if better is not None and copier is not None and (copier == c.cell) == better:
        dimension, _ = spec.comparison() or ("", None)
        return f" (a gain for {_setting(spec, copier, dimension)} that comes with copying)"
    return "" if better is None else (" (better)" if better else " (worse)")


def other_metrics_sentence(comparisons: list[CellComparison], spec: StudySpec, best: dict[str, Confirmed],
                           real: dict[str, dict[str, float]] | None = None,
                           copying: list[Copying] | None = None) -> str | None:
    """The other reported metrics that differ detectably (Holm p < 0.05), or that none does."""
    if not comparisons:
        return None
    dimension, _ = spec.comparison() or ("", None)
    found = []
    for c in comparisons:
        if not significant(c.comparison.p_holm):
            continue
        judged = _judged(c, best, spec, real or {}, copying)
        found.append(f"{c.metric} at {_where(spec, c.cell, dimension)}: {_setting(spec, c.cell, dimension)} "
                     f"{_interval(c)}{judged}, p = {fmt(c.comparison.p_holm)}")
    if not found:
        return "No other reported metric differs detectably (Holm-corrected p < 0.05)."
    return "Other metrics with a detectable difference (Holm-corrected p < 0.05): " + "; ".join(found) + "."


def answer(records: list[TrialRecord], spec: StudySpec, real: dict[str, dict[str, float]] | None = None) -> list[str]:
    """The study's answer, paragraph by paragraph (see the module docstring); `study_state` says whether it
    is final."""
    paragraphs: list[str] = []
    metric = spec.objectives[0].metric
    confirmed = confirmed_results(records, spec)
    best = {c.cell: c for c in confirmed if c.role == BEST_ROLE}
    if not best:
        paragraphs.append(_search_answer(records, spec))
        return paragraphs
    comparisons = compare_cells(confirmed, spec)
    copying = copying_pairs(comparisons, best, spec, real or {})
    paragraphs += [copying_sentence(copy, spec) for copy in copying]
    primary = [c for c in comparisons if c.metric == metric]
    if primary:
        paragraphs.append(" ".join(objective_sentence(c, best, spec, real, copying) for c in primary))
        other = other_metrics_sentence([c for c in comparisons if c.metric != metric], spec, best, real, copying)
        if other:
            paragraphs.append(other)
    else:
        paragraphs.append(_ranking(best, spec))
    for dataset, scores in (real or {}).items():
        if metric in scores:
            paragraphs.append(f"For reference, real held-out images of {dataset} score {metric} = "
                              f"{fmt(scores[metric])} on the same ruler.")
    return paragraphs


def _ranking(best: dict[str, Confirmed], spec: StudySpec) -> str:
    objective = spec.objectives[0]
    scored = [(c, i) for c in best.values() if (i := c.interval(objective.metric)) is not None]
    scored.sort(key=lambda ci: ci[1].mean, reverse=objective.mode == "max")
    parts = [f"{c.cell}: {fmt(i.mean)}" + ("" if i.low is None else f" [95% CI {fmt(i.low)}, {fmt(i.high)}]")
             + f" (n = {i.n})" for c, i in scored]
    return f"Confirmed {objective.metric} ({objective.mode}) per cell, best first: " + "; ".join(parts) + "."


def _search_answer(records: list[TrialRecord], spec: StudySpec) -> str:
    objective = spec.objectives[0]
    parts = []
    for cell in spec.cells():
        found = best_search_record(records, spec, cell.key)
        if found is not None:
            parts.append(f"{cell.key}: {fmt(found.value(objective.metric))}")
    if not parts:
        return "No trial has completed yet: there is nothing to answer with."
    return (f"Not confirmed yet: the search's best seed-group mean {objective.metric} per cell is "
            + "; ".join(parts) + ". These are search values (the best of several tries, so optimistic); "
            "the confirmation on fresh seeds gives the numbers to trust.")
