"""Result keys: the names under which trainer logs and `evaluate()` report their numbers."""

# Trainer, reported at every evaluation event.
STEP = "step"
LOSS_D = "loss_d"
LOSS_G = "loss_g"
D_REAL = "d_real"
D_FAKE = "d_fake"
SIGMA_MEAN = "sigma_mean"
SIGMA_MIN = "sigma_min"
STEPS_PER_S = "steps_per_s"

# Classifier-based scores.
IS = "is"
IS_STD = "is_std"
M_IS = "m_is"
M_IS_STD = "m_is_std"
CLASSIFIER_ACCURACY = "classifier_accuracy"

# Feature-based scores.
FID = "fid"
PRECISION = "precision"
RECALL = "recall"
DENSITY = "density"
COVERAGE = "coverage"
MEMORISATION_SHARE = "memorisation_share"
MEMORISATION_RATIO = "memorisation_ratio"

# Toy 2-D data.
MODES_COVERED = "modes_covered"
HIGH_QUALITY = "high_quality"
