"""Checkpoints: atomic, self-describing files; `load` rebuilds a generator from the file alone."""

import pytest
import torch

from deligan_core import CheckpointError, RunConfig, Trainer, load
from deligan_core.checkpoint import BEST_MARKER, DIGEST_KEY, checkpoint_digest, content_digest, save_checkpoint


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    path = tmp_path_factory.mktemp("ckpt") / "checkpoint.pt"
    trainer = Trainer(RunConfig.from_dict({"data": {"dataset": "digits", "per_class": 10},
                                           "model": {"components": 7},
                                           "train": {"steps": 5, "eval_every": 5, "threads": 1, "eval_samples": 0}}))
    trainer.fit()
    trainer.save(path)
    return trainer, path


def test_load_sample_with_seed_is_identical(trained):
    trainer, path = trained
    g = load(path)
    assert torch.equal(g.sample(64, seed=3), load(path).sample(64, seed=3))
    assert torch.equal(g.sample(64, seed=3), trainer.sample(64, seed=3))  # same as the live generator
    assert not torch.equal(g.sample(64, seed=3), g.sample(64, seed=4))
    x = g.sample(2500, seed=0)  # several internal batches
    assert x.shape == (2500, 1, 8, 8) and x.min() >= -1 and x.max() <= 1


def test_loaded_generator_exposes_config_and_components(trained):
    _, path = trained
    g = load(path)
    assert g.config.data.dataset == "digits" and g.config.model.components == 7
    assert g.config.train.batch_size == 50  # resolved family default stored in the checkpoint
    for section in (g.config.model, g.config.optim, g.config.train):  # the complete config that ran
        assert None not in vars(section).values(), section
    assert g.spec.model == "deligan" and g.spec.shape == (1, 8, 8) and g.spec.arch == "official"
    assert g.components == 7 and g.step == 5
    comp = g.sample_component(3, 10, seed=0)
    assert comp.shape == (10, 1, 8, 8)
    with pytest.raises(ValueError, match="out of range"):
        g.sample_component(7, 1)


def test_sample_component_draws_from_that_component_only(tmp_path):
    trainer = Trainer(RunConfig.from_dict({"data": {"dataset": "ring8"}, "model": {"components": 4, "sigma_init": 0.0},
                                           "train": {"steps": 1, "eval_every": 1, "eval_samples": 0}}))
    trainer.save(tmp_path / "c.pt")
    g = load(tmp_path / "c.pt")
    x = g.sample_component(2, 50, seed=0)
    assert torch.allclose(x, x[:1].expand_as(x), atol=1e-6)  # sigma 0: one point per component


def test_gan_has_no_components(tmp_path):
    trainer = Trainer(RunConfig.from_dict({"data": {"dataset": "ring8"}, "model": {"model": "gan"},
                                           "train": {"steps": 1, "eval_every": 1, "eval_samples": 0}}))
    trainer.save(tmp_path / "g.pt")
    with pytest.raises(ValueError, match="no components"):
        load(tmp_path / "g.pt").sample_component(0, 1)


def test_directory_and_best_marker_resolve(trained, tmp_path):
    _, path = trained
    assert load(path.parent).path == path
    (tmp_path / BEST_MARKER).write_text(str(path))
    assert load(tmp_path).path == path


def test_corrupt_truncated_and_foreign_files_give_clear_errors(trained, tmp_path):
    _, path = trained
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(path.read_bytes()[:1000])
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"not a checkpoint at all")
    foreign = tmp_path / "foreign.pt"
    torch.save({"model": torch.zeros(2)}, foreign)
    for bad in (truncated, garbage, foreign, tmp_path / "missing.pt"):
        with pytest.raises(CheckpointError, match=str(bad.name)):
            load(bad)


@pytest.mark.parametrize("version", [1, 99])  # 1: before the official networks and the typed model spec
def test_other_format_version_is_named(tmp_path, version):
    path = tmp_path / "other.pt"
    save_checkpoint({"format_version": version}, path)
    with pytest.raises(CheckpointError, match=f"format_version {version} is not supported.*reads format_version 2"):
        load(path)


def test_pickled_code_is_refused(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("owned",))

    path = tmp_path / "evil.pt"
    torch.save({"kind": "deligan_core.checkpoint", "x": Evil()}, path)
    with pytest.raises(CheckpointError, match="evil.pt"):
        load(path)


def test_save_is_atomic_and_leaves_no_temp_files(trained, tmp_path):
    trainer, _ = trained
    path = tmp_path / "a.pt"
    trainer.save(path)
    trainer.save(path)
    assert [p.name for p in tmp_path.iterdir()] == ["a.pt"]


def test_checkpoint_stores_a_digest_of_its_contents_and_load_verifies_it(trained, tmp_path):
    _, path = trained
    state = torch.load(path, weights_only=True)
    assert state[DIGEST_KEY] == content_digest(state) == checkpoint_digest(path)
    assert len(state[DIGEST_KEY]) == 64
    state["generator"] = {k: v.clone() for k, v in state["generator"].items()}
    name = next(k for k, v in state["generator"].items() if v.is_floating_point())
    state["generator"][name].view(-1)[0] += 1e-3  # one weight changed after writing, the digest kept
    tampered = tmp_path / "tampered.pt"
    torch.save(state, tampered)
    with pytest.raises(CheckpointError, match="tampered.pt: the SHA-256 of its contents does not match"):
        load(tampered)


def test_checkpoint_without_a_digest_still_loads(trained, tmp_path):
    trainer, path = trained
    state = torch.load(path, weights_only=True)
    del state[DIGEST_KEY]  # written before digests existed
    old = tmp_path / "old.pt"
    torch.save(state, old)
    assert checkpoint_digest(old) is None
    assert torch.equal(load(old).sample(8, seed=1), trainer.sample(8, seed=1))


def test_a_checkpoint_from_before_a_setting_existed_resumes_and_loads_with_its_default(trained, tmp_path):
    trainer, path = trained
    state = torch.load(path, weights_only=True)
    del state[DIGEST_KEY], state["config"]["optim"]["r1_every"]  # written before lazy R1 existed
    old = tmp_path / "old.pt"
    torch.save(state, old)
    resumed = Trainer(trainer.config).restore(old)
    assert resumed.step == trainer.step and resumed.config.optim.r1_every == 1
    assert load(old).config == load(path).config  # loading fills the same default
