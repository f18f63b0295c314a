"""The progress line a study prints after every trial result: cell, step and objective, under the phase's
trials done of planned, trials running, time elapsed and the estimated time left."""

from __future__ import annotations

import io
import re
from dataclasses import dataclass, field

from study.protocol import FINAL_KEY
from study.run.progress import ProgressLine


@dataclass
class Trial:
    """What the callback reads of a Tune trial."""

    trial_id: str
    cell: str
    status: str = "RUNNING"
    config: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.config = {"phase": "search", "role": "search", "cell": self.cell, "params": {}, "seeds": [0],
                       "vary": ["init", "data", "eval"], "objectives": [["kid", "min"]], "run": {}}


def test_each_result_prints_cell_step_objective_and_where_the_phase_stands(monkeypatch) -> None:
    clock = iter([0.0, 60.0, 120.0, 180.0]).__next__
    monkeypatch.setattr("study.run.progress.time.monotonic", clock)
    out = io.StringIO()
    progress = ProgressLine("search", planned=4, steps=1000, objective="kid", stream=out)
    a, b = Trial("a", "model=gan"), Trial("b", "model=deligan")
    progress.on_trial_result(0, [a, b], a, {"step": 500, "kid": 0.0521})  # 60 s for 500 of 4,000 steps
    progress.on_trial_result(0, [a, b], b, {"step": 500, "kid": float("nan")})
    a.status = "TERMINATED"
    progress.on_trial_result(0, [a, b], a, {"step": 1000, "kid": 0.031, FINAL_KEY: True})
    lines = out.getvalue().splitlines()
    assert lines[0] == "search 0/4 done, 2 running, 1:00 elapsed, about 7:00 left | model=gan step 500/1000 kid 0.0521"
    assert lines[1].endswith("| model=deligan step 500/1000 kid -")  # no finite value yet
    # 1,500 of 4,000 steps in 3 minutes: 5 minutes left at that pace
    assert lines[2] == "search 1/4 done, 1 running, 3:00 elapsed, about 5:00 left | model=gan step 1000/1000 kid 0.031"
    assert all(re.fullmatch(r"search \d/4 done, \d running, [\d:]+ elapsed.* \| .+", line) for line in lines)


def test_a_resumed_study_counts_what_the_earlier_driver_finished_and_paces_from_the_restored_step(monkeypatch) -> None:
    clock = iter([0.0, 60.0]).__next__
    monkeypatch.setattr("study.run.progress.time.monotonic", clock)
    out = io.StringIO()
    progress = ProgressLine("confirm", planned=4, steps=1000, objective="kid", stream=out)  # a new driver
    finished = [Trial(name, "model=gan", status="TERMINATED") for name in ("c", "d")]
    a = Trial("a", "model=deligan")
    progress.on_trial_result(0, [*finished, a], a, {"step": 750, "restored_from": 500, "kid": 0.04})
    # 2,750 of 4,000 steps reached, 250 of them trained in this driver's first minute: 5 minutes left
    assert out.getvalue() == ("confirm 2/4 done, 1 running, 1:00 elapsed, about 5:00 left"
                              " | model=deligan step 750/1000 kid 0.04\n")
