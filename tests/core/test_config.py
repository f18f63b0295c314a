"""RunConfig: strict validation naming the source and the dotted key; defaults resolved in one place."""

import dataclasses

import pytest

from deligan_core import ConfigError, RunConfig
from deligan_core.resolve import FAMILY_DEFAULTS, resolve_config


def test_round_trip():
    cfg = RunConfig.from_dict({"model": {"components": 7}, "optim": {"lr_g": 1}})
    assert cfg.model.components == 7 and cfg.optim.lr_g == 1.0 and isinstance(cfg.optim.lr_g, float)
    assert RunConfig.from_dict(cfg.to_dict()) == cfg
    assert cfg.replace(train={"steps": 3}).train.steps == 3


@pytest.mark.parametrize("raw,match", [
    ({"modle": {}}, r"s.yaml: unknown key\(s\) \['modle'\].*allowed"),
    ({"model": {"componets": 3}}, r"unknown key\(s\) \['componets'\] in model"),
    ({"model": {"model": "vae"}}, r"model.model = 'vae' is not allowed; allowed: \['gan', 'deligan'"),
    ({"model": {"arch": "huge"}}, r"model.arch = 'huge' is not allowed; allowed: \['official', 'wide'\]"),
    ({"model": {"components": "many"}}, r"model.components = 'many' must be of type int"),
    ({"model": {"components": True}}, r"model.components = True must be of type int"),
    ({"model": {"components": 0}}, r"model.components = 0: must be >= 1"),
    ({"data": {"per_class": 5, "fraction": 0.5}}, r"not both"),
    ({"data": {"fraction": 1.5}}, r"data.fraction = 1.5: must be in \(0, 1\]"),
    ({"train": {"eval_samples": 5}}, r"train.eval_samples = 5: must be 0 \(losses only\) or >= 10"),
    ({"train": {"diffaugment": "rotate"}}, r"train.diffaugment = 'rotate'.*translation"),
    ({"model": {"sigma_mode": "frozen"}}, r"allowed: \['learned', 'unpenalised', 'fixed'\]"),
    ({"optim": {"schedule": "threshold2"}},
     r"optim.schedule = 'threshold2' is not allowed; allowed: \['fixed', 'threshold'\]"),
    ({"optim": {"r1": -1}}, r"optim.r1 = -1.0: must be a finite number >= 0"),
    ({"optim": {"r1": float("nan")}}, r"optim.r1 = nan: must be a finite number >= 0"),
    ({"optim": {"r1_every": 0}}, r"optim.r1_every = 0: must be >= 1"),
])
def test_bad_values_name_source_key_and_allowed(raw, match):
    with pytest.raises(ConfigError, match=match):
        RunConfig.from_dict(raw, source="s.yaml")


def resolved(**sections):
    return resolve_config(RunConfig.from_dict(sections))


def test_paper_mnist_setting_resolves_to_the_official_values_and_the_documented_departures():
    c = resolved(data={"dataset": "mnist5k", "per_class": 50})
    m, o, t = c.model, c.optim, c.train
    assert (m.model, m.arch, m.width, m.z_dim, m.components) == ("deligan", "official", 16, 30, 50)  # N = batch
    assert (m.sigma_init, m.sigma_init_high, m.sigma_reg, m.assignment) == (0.2, 0.2, 1 / 3, "row")
    assert (o.beta1, t.batch_size) == (0.5, 50)
    assert o.r1 == 1.0  # not in the official loss: documented in resolve.py and README
    assert (o.lr_g, o.lr_d) == (1e-3, 1e-3)  # twice the official 5e-4: measured, with R1 (resolve.py)
    assert resolved(data={"dataset": "digits"}).optim.lr_g == 5e-4  # the official value where R1 is off


def test_r1_is_on_for_28x28_images_only_and_can_be_turned_off():
    assert resolved(data={"dataset": "animals"}).optim.r1 == 1.0
    assert resolved(data={"dataset": "ring8"}).optim.r1 == resolved(data={"dataset": "digits"}).optim.r1 == 0.0
    assert resolved(data={"dataset": "mnist5k"}, optim={"r1": 0}).optim.r1 == 0.0  # the official loss


def test_nothing_stays_unset_and_a_plain_gan_has_one_component():
    for dataset in ("ring8", "toy-bimodal", "digits", "mnist5k"):
        for model in ("gan", "deligan", "gan++", "moe-gan"):
            c = resolved(data={"dataset": dataset}, model={"model": model, "components": 10})
            for section in (c.model, c.optim, c.train):
                unset = [f.name for f in dataclasses.fields(section) if getattr(section, f.name) is None]
                assert not unset, (dataset, model, unset)
            assert c.model.components == (1 if model == "gan" else 10)


def test_layers_apply_in_order_registry_family_dataset_user():
    assert resolved(data={"dataset": "toy-bimodal"}).model.g_output == "tanh"  # the data set's own default
    assert resolved(data={"dataset": "ring8"}).model.g_output == "linear"  # the toy family's
    assert resolved(data={"dataset": "digits"}).optim.schedule == "fixed"  # the registry's
    assert resolved(data={"dataset": "digits"}).model.z_dim == FAMILY_DEFAULTS["gray8"]["model"]["z_dim"]
    assert resolved(data={"dataset": "toy-bimodal"}, model={"g_output": "linear"}).model.g_output == "linear"
    assert resolved(data={"dataset": "mnist5k"}, model={"arch": "wide"}).model.width == 64  # the arch's width


def test_an_ensemble_of_image_generators_defaults_to_half_the_batch():
    # each network's batch norm needs two rows of every batch: N = 25 of a batch of 50 (toys keep N = batch)
    assert resolved(data={"dataset": "mnist5k"}, model={"model": "ensemble-gan"}).model.components == 25
    assert resolved(data={"dataset": "ring8"}, model={"model": "ensemble-gan"}).model.components == 100


def test_resolution_is_idempotent():
    once = resolved(data={"dataset": "mnist5k", "per_class": 10}, model={"model": "gan"})
    assert resolve_config(once) == once


@pytest.mark.parametrize("sections,match", [
    ({"data": {"dataset": "ring8"}, "model": {"arch": "wide"}}, r"model.arch = 'wide' does not exist for toy2d"),
    ({"data": {"dataset": "digits"}, "model": {"g_output": "linear"}}, r"model.g_output = 'linear'.*allowed for gray8"),
    ({"data": {"dataset": "mnist5k"}, "model": {"model": "ensemble-gan", "components": 26}},
     r"ensemble-gan.*at least 2 rows"),
    ({"data": {"dataset": "digits"}, "model": {"sigma_init_high": 0.1}},  # below the family's sigma_init 0.2
     r"sigma_init_high = 0.1: must be >= model.sigma_init \(0.2\)"),
])
def test_values_that_do_not_fit_the_data_family_are_refused(sections, match):
    with pytest.raises(ConfigError, match=match):
        resolved(**sections)
