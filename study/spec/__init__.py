"""The study definition: one YAML file, validated strictly.

A study names an objective, fixed trainer settings (the `data`, `model`, `optim` and `train` sections,
checked by `deligan_core.config.RunConfig.from_dict`), an optional `grid` of conditions (cells) and a
`search` space that Optuna explores inside every cell with the same budget. Parameter names in `grid`
and `search` are RunConfig fields, short (`lr_g`) or dotted (`optim.lr_g`). Every error names the file,
the dotted key, the bad value and what is allowed. Modules: `schema` (the models), `names` (parameter
names), `load` (file to spec), `rules` (cross-field checks), `strict_yaml` (the YAML reader's limits).
"""

from study.spec.load import load_spec, parse_spec
from study.spec.names import SECTIONS, allowed_names, config_key, parameter_names
from study.spec.schema import Cell, Objective, SearchParam, SpecError, StudySpec

__all__ = ["Cell", "Objective", "SECTIONS", "SearchParam", "SpecError", "StudySpec", "allowed_names", "config_key",
           "load_spec", "parse_spec", "parameter_names"]
