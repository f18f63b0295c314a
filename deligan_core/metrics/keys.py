"""Result keys: the names under which trainer logs and `evaluate()` report their numbers."""

# Trainer, reported at every evaluation event.
STEP = "step"
LOSS_D = "loss_d"
LOSS_G = "loss_g"
D_REAL = "d_real"
D_FAKE = "d_fake"
SIGMA_MEAN = "sigma_mean"
SIGMA_MIN = "sigma_min"
SIGMA_PENALTY = "sigma_penalty"
R1_PENALTY = "r1_penalty"  # gamma/2 * E||grad_x D(x)||^2 on real batches, when optim.r1 > 0
STEPS_PER_S = "steps_per_s"
G_UPDATES = "g_updates"  # generator updates since the start of training
D_UPDATES = "d_updates"  # discriminator updates since the start of training
D_SATURATED = "d_saturated"  # 1 when D(G(z)) stayed below 1e-3 for the whole evaluation window
THRESHOLD = "threshold"  # the official threshold schedule's current threshold
LR_G = "lr_g"

# Classifier-based scores.
IS = "is"
IS_STD = "is_std"
M_IS = "m_is"
M_IS_STD = "m_is_std"
CLASSES_COVERED = "classes_covered"  # classes predicted for at least a tenth of their uniform share
CLASSIFIER_ACCURACY = "classifier_accuracy"  # of the evaluation network, on real images it never saw
CLASSIFIER_ECE = "classifier_ece"  # its expected calibration error there (after temperature scaling)

# Feature-based scores.
FID = "fid"
KID = "kid"  # unbiased, mean over subsets
KID_STD = "kid_std"
PRECISION = "precision"
RECALL = "recall"
DENSITY = "density"
COVERAGE = "coverage"
MEMORISATION_SHARE = "memorisation_share"
MEMORISATION_RATIO = "memorisation_ratio"
# The same share for real held-out images against the same training subset: what an honest model scores.
REAL_MEMORISATION_SHARE = "real_memorisation_share"

# The real-data baseline (`Evaluator.score_real`): images behind its distance and classifier scores.
SAMPLES = "samples"
CLASS_SAMPLES = "class_samples"

# Toy 2-D data.
MODES_COVERED = "modes_covered"
HIGH_QUALITY = "high_quality"

# Which way is better, for the scores a study reports and compares.
HIGHER_IS_BETTER = frozenset({IS, CLASSES_COVERED, PRECISION, RECALL, DENSITY, COVERAGE, MODES_COVERED,
                              HIGH_QUALITY})
LOWER_IS_BETTER = frozenset({FID, KID, MEMORISATION_SHARE, MEMORISATION_RATIO})
# Scores with no better direction, read against the real held-out data's own value: m-IS rises with ambiguous
# samples (real digits about 1.1, blends of two digits about 2.4), so neither higher nor lower is better.
CLOSER_TO_REAL = frozenset({M_IS})


def better_direction(metric: str) -> str | None:
    """"max" or "min" for a score with a better direction, None for the others (losses, statistics, and the
    scores read against the real data's value, `CLOSER_TO_REAL`)."""
    return "max" if metric in HIGHER_IS_BETTER else "min" if metric in LOWER_IS_BETTER else None


def reported_metrics(family: str, *, evaluated: bool, mixture: bool, threshold: bool, r1: bool = False) -> set[str]:
    """The metric keys a trainer reports for data of `family`: its own statistics, sigma statistics for a
    mixture latent, the threshold for the threshold schedule, the R1 penalty when it is on, and (when it
    evaluates samples) the scores of that family: mode coverage and PRDC on raw coordinates for toy2d, the
    classifier scores for images."""
    keys = {LOSS_D, LOSS_G, D_REAL, D_FAKE, SIGMA_PENALTY, STEPS_PER_S, G_UPDATES, D_UPDATES, D_SATURATED, LR_G}
    keys |= {SIGMA_MEAN, SIGMA_MIN} if mixture else set()
    keys |= {THRESHOLD} if threshold else set()
    keys |= {R1_PENALTY} if r1 else set()
    if evaluated:
        prdc = {PRECISION, RECALL, DENSITY, COVERAGE}
        keys |= prdc | ({MODES_COVERED, HIGH_QUALITY} if family == "toy2d" else
                        {IS, IS_STD, M_IS, M_IS_STD, CLASSES_COVERED, FID, KID, KID_STD, MEMORISATION_SHARE,
                         MEMORISATION_RATIO, REAL_MEMORISATION_SHARE})
    return keys
