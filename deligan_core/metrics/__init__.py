"""Metric math over classifier outputs and feature vectors (float64, no I/O), and result keys."""

from deligan_core.metrics import keys
from deligan_core.metrics.fid import feature_statistics, fid, frechet_distance
from deligan_core.metrics.inception import inception_score, modified_inception_score
from deligan_core.metrics.memorisation import memorisation
from deligan_core.metrics.prdc_metrics import prdc
from deligan_core.metrics.toy import mode_coverage

__all__ = [
    "feature_statistics",
    "fid",
    "frechet_distance",
    "inception_score",
    "keys",
    "memorisation",
    "mode_coverage",
    "modified_inception_score",
    "prdc",
]
