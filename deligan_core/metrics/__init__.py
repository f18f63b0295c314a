"""Metrics: pure math over classifier outputs and feature vectors (float64, no I/O), result keys, and the
wrappers that produce those inputs: evaluation networks (shipped with the package for the built-in sets,
trained and cached for local ones), Inception-v3 from a local file, and `evaluate`, which scores a generator
in one pass over its samples."""

from deligan_core.metrics import keys
from deligan_core.metrics.calibration import expected_calibration_error, fit_temperature
from deligan_core.metrics.classifiers import CLASSIFIERS, classifier_spec, get_classifier
from deligan_core.metrics.evaluate import DEFAULT_N, Evaluator, evaluate, evaluate_real, make_evaluator
from deligan_core.metrics.fid import feature_statistics, fid, frechet_distance
from deligan_core.metrics.inception import classes_covered, inception_score, modified_inception_score
from deligan_core.metrics.kid import kernel_inception_distance
from deligan_core.metrics.inception_v3 import InceptionV3, load_inception
from deligan_core.metrics.memorisation import memorisation
from deligan_core.metrics.network import ClassifierSpec, EvalClassifier, EvalNetwork
from deligan_core.metrics.pinned import PINNED, load_pinned, pinned_for
from deligan_core.metrics.prdc_metrics import prdc
from deligan_core.metrics.toy import mode_coverage

__all__ = [
    "CLASSIFIERS",
    "PINNED",
    "ClassifierSpec",
    "DEFAULT_N",
    "EvalClassifier",
    "EvalNetwork",
    "Evaluator",
    "InceptionV3",
    "classes_covered",
    "classifier_spec",
    "evaluate",
    "evaluate_real",
    "expected_calibration_error",
    "feature_statistics",
    "fid",
    "fit_temperature",
    "frechet_distance",
    "get_classifier",
    "inception_score",
    "kernel_inception_distance",
    "keys",
    "load_inception",
    "load_pinned",
    "make_evaluator",
    "memorisation",
    "mode_coverage",
    "modified_inception_score",
    "pinned_for",
    "prdc",
]
