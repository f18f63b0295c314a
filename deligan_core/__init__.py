"""deligan_core: DeLiGAN (CVPR 2017) and its baselines in plain PyTorch, for limited, diverse data.

Public surface: configuration and its resolution, the trainer with its evaluation hook, seed groups
trained as one batched computation (`fit_seeds`: batched where possible, one after the other otherwise),
checkpoints, `load` and `evaluate`.
It never imports Ray, Optuna or MLflow: the study harness (`study/`) wraps it.
"""

from deligan_core.checkpoint import CheckpointError
from deligan_core.config import ConfigError, DataConfig, ModelConfig, OptimConfig, RunConfig, TrainConfig
from deligan_core.data import DataSplit, load_dataset
from deligan_core.latent import MixtureLatent, NormalLatent
from deligan_core.loading import TrainedGenerator, load
from deligan_core.metrics import evaluate
from deligan_core.models import MODELS, ModelSpec, build_models
from deligan_core.resolve import resolve_config
from deligan_core.seed_group import SeedGroup, fit_seeds
from deligan_core.trainer import DivergenceError, EvalEvent, Trainer

__version__ = "0.1.0"

__all__ = [
    "CheckpointError", "ConfigError", "DataConfig", "DataSplit", "DivergenceError", "EvalEvent", "MODELS",
    "MixtureLatent", "ModelConfig", "ModelSpec", "NormalLatent", "OptimConfig", "RunConfig", "TrainConfig",
    "SeedGroup", "TrainedGenerator", "Trainer", "build_models", "evaluate", "fit_seeds", "load", "load_dataset",
    "resolve_config",
]
