"""Before a phase resumes: give back to Tune each checkpoint its saved state names but Tune itself deleted.

Tune keeps one checkpoint per trial (`num_to_keep=1`): registering a trial's newer checkpoint deletes the older
one at once, and the experiment's state naming the newer one is saved a moment later. A driver killed in that
moment leaves a state that names the deleted checkpoint, and `Tuner.restore` fails that trial outright ("does
not exist on storage anymore"), losing its seed. The newer checkpoint is complete (Tune registered it only
after the worker had written it), so it is moved into the name the state expects and the trial continues.
"""

from __future__ import annotations

import os
from pathlib import Path

from study.protocol import UNFINISHED
from study.results.records import TrialRecord


def reinstate_deleted_checkpoints(records: list[TrialRecord]) -> list[str]:
    """For each unfinished trial whose recorded checkpoint no longer exists, move the trial's next newer
    checkpoint into its name. Returns one line per trial repaired, saying what moved where."""
    repaired = []
    for record in records:
        if record.outcome != UNFINISHED or record.checkpoint is None:
            continue
        missing = Path(record.checkpoint)
        if missing.exists():
            continue
        newer = sorted(p for p in missing.parent.glob("checkpoint_*") if p.is_dir() and p.name > missing.name)
        if not newer:
            continue
        os.replace(newer[0], missing)
        repaired.append(f"trial {record.trial_id}: Tune's saved state names {missing.name}, which Tune deleted "
                        f"when it registered {newer[0].name} just before its driver was killed; "
                        f"{newer[0].name} moved into its place")
    return repaired
