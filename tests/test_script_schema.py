"""One training schema: every value TrainConfig refuses is refused by the script export too, with the same
message, and the values it accepts reach the script as TrainConfig reads them."""

from __future__ import annotations

import math

import pytest
from netbuilder.core.interop.script_export import SCRIPT_FITS, settings_from_training, training_script_full
from netbuilder.core.model.project import load_preset
from netbuilder.core.train.config import RULES, Rule, TrainConfig, TrainError


def _refused_values(rule: Rule) -> list[object]:
    """Values that break ``rule``, derived from the rule itself."""
    values: list[object] = [[1], {"a": 1}]
    if not rule.nullable:
        values.append(None)
    if rule.kind == "int":
        assert rule.lo is not None
        values += [int(rule.lo) - 1, 1.5, True, "3", math.nan]
        if rule.hi is not None:
            values.append(int(rule.hi) + 1)
    elif rule.kind == "number":
        assert rule.lo is not None
        values += [rule.lo if rule.lo_open else rule.lo - 0.5, math.nan, math.inf, -math.inf, True, "0.1"]
        if rule.hi is not None:
            values.append(rule.hi * 5)
    elif rule.kind == "bool":
        values += [1, 0, "yes", "true"]
    elif rule.kind in ("choice", "dataset"):
        values += ["bogus", 3, ""]
    elif rule.kind == "text":
        values += [3, True]
    return values


CASES = [({name: value}, f"{name}={value!r}") for name, rule in RULES.items() for value in _refused_values(rule)]
# the examples, written into exported scripts before there was one schema
CASES += [({"lr": 0}, "lr=0"), ({"lr": 500}, "lr=500"), ({"momentum": 5}, "momentum=5"),
          ({"epochs": 10**6}, "epochs=10**6"),
          ({"nesterov": True, "momentum": 0.0}, "nesterov without momentum")]


@pytest.mark.parametrize("training", [c[0] for c in CASES], ids=[c[1] for c in CASES])
def test_what_trainconfig_refuses_the_script_export_refuses_with_the_same_message(training: dict[str, object]) -> None:
    with pytest.raises(TrainError) as app:
        TrainConfig.from_dict(training)
    with pytest.raises(TrainError) as script:
        training_script_full(load_preset("mlp-mnist").graph, training)
    assert str(script.value) == str(app.value)
    assert script.value.field == app.value.field


def test_a_training_object_that_is_not_an_object_is_refused_alike() -> None:
    with pytest.raises(TrainError) as app:
        TrainConfig.from_dict([1, 2])  # type: ignore[arg-type]
    with pytest.raises(TrainError) as script:
        training_script_full(load_preset("mlp-mnist").graph, [1, 2])  # type: ignore[arg-type]
    assert str(script.value) == str(app.value)


def test_every_rule_has_refused_values_and_accepts_its_default() -> None:
    defaults = TrainConfig().to_dict()
    assert set(RULES) == set(defaults)  # every field is checked
    for name, rule in RULES.items():
        assert _refused_values(rule)
        TrainConfig.from_dict({name: defaults[name]})


def test_accepted_spellings_reach_the_script_in_canonical_form() -> None:
    settings, notes = settings_from_training({"optimizer": "Adam", "loss": "CE", "dataset": "FashionMNIST",
                                              "schedule": "STEP", "lr": 1, "fit_input": "none"})
    assert (settings["optimizer"], settings["loss"], settings["dataset"], settings["schedule"]) == (
        "adam", "cross-entropy", "fashion-mnist", "step")
    assert settings["lr"] == 1.0 and isinstance(settings["lr"], float)
    assert settings["fit_input"] == "auto" and settings["fit_input"] in SCRIPT_FITS
    assert notes == []
