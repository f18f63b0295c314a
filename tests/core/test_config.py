"""RunConfig: strict validation naming the source and the dotted key; family defaults."""

import pytest

from deligan_core import ConfigError, RunConfig
from deligan_core.config import family_defaults


def test_round_trip_and_defaults():
    cfg = RunConfig.from_dict({"model": {"components": 7}, "optim": {"lr_g": 1}})
    assert cfg.model.components == 7 and cfg.optim.lr_g == 1.0 and isinstance(cfg.optim.lr_g, float)
    assert RunConfig.from_dict(cfg.to_dict()) == cfg
    assert cfg.replace(train={"steps": 3}).train.steps == 3


@pytest.mark.parametrize("raw,match", [
    ({"modle": {}}, r"s.yaml: unknown key\(s\) \['modle'\].*allowed"),
    ({"model": {"componets": 3}}, r"unknown key\(s\) \['componets'\] in model"),
    ({"model": {"model": "vae"}}, r"model.model = 'vae' is not allowed; allowed: \['gan', 'deligan'"),
    ({"model": {"components": "many"}}, r"model.components = 'many' must be of type int"),
    ({"model": {"components": True}}, r"model.components = True must be of type int"),
    ({"model": {"components": 0}}, r"model.components = 0: must be >= 1"),
    ({"data": {"per_class": 5, "fraction": 0.5}}, r"not both"),
    ({"data": {"fraction": 1.5}}, r"data.fraction = 1.5: must be in \(0, 1\]"),
    ({"train": {"eval_samples": 5}}, r"train.eval_samples = 5: must be 0 \(losses only\) or >= 10"),
    ({"train": {"diffaugment": "rotate"}}, r"train.diffaugment = 'rotate'.*translation"),
    ({"model": {"sigma_mode": "frozen"}}, r"allowed: \['learned', 'unpenalised', 'fixed'\]"),
])
def test_bad_values_name_source_key_and_allowed(raw, match):
    with pytest.raises(ConfigError, match=match):
        RunConfig.from_dict(raw, source="s.yaml")


def test_family_defaults_are_the_official_settings():
    assert family_defaults("gray28")["lr_g"] == 5e-4 and family_defaults("gray28")["z_dim"] == 30
    assert family_defaults("toy2d")["sigma_init"] == 0.02 and family_defaults("img32")["z_dim"] == 100
    with pytest.raises(ConfigError, match="known"):
        family_defaults("audio")
