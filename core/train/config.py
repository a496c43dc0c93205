"""The training schema: every training option, its allowed values, its default and its validation.

:class:`TrainConfig` is the one place these are defined. The trainer, the command line, the GUI's settings
form and the exported training script (:mod:`netbuilder.core.interop.script_export`) all take their option
lists, defaults and checks from here, so a value is accepted or refused in the same way everywhere, with
the same message. :data:`RULES` holds the checks as data, in the order they are applied, so that tests
(and the script export) can enumerate them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any, Literal

from netbuilder.core.errors import UserError

DATASETS: tuple[str, ...] = ("sample", "mnist", "fashion-mnist", "cifar10")
FIT_INPUTS: tuple[str, ...] = ("none", "pad", "resize", "rows")
"""How images meet the model's Input: as they are, zero-padded or resized to its size, or read row by
row as a sequence (``rows``: C×H×W images become H steps of C·W features, for an Input [H, C·W])."""
OPTIMIZERS: tuple[str, ...] = ("sgd", "adam", "adamw", "rmsprop")
LOSSES: tuple[str, ...] = ("cross-entropy", "nll", "mse")
SCHEDULES: tuple[str, ...] = ("none", "step", "cosine")
DEVICES: tuple[str, ...] = ("auto", "cpu", "cuda", "mps")

_DATASET_SPELLINGS = {"fashionmnist": "fashion-mnist", "fashion": "fashion-mnist", "cifar-10": "cifar10",
                      "mnist-sample": "sample"}
_LOSS_SPELLINGS = {"ce": "cross-entropy", "crossentropy": "cross-entropy", "cross-entropy-loss": "cross-entropy",
                   "nll-loss": "nll", "mse-loss": "mse"}


class TrainError(UserError):
    """Training cannot start: the network, the data or the settings do not fit. ``node`` names the
    canvas node at fault, ``field`` the setting."""


def dataset_key(name: str) -> str | None:
    """The canonical name of a dataset spelt ``name`` (``FashionMNIST`` → ``fashion-mnist``), or None."""
    key = name.strip().lower().replace("_", "-")
    key = _DATASET_SPELLINGS.get(key, key)
    return key if key in DATASETS else None


Kind = Literal["int", "number", "bool", "choice", "dataset", "text"]


@dataclass(frozen=True)
class Rule:
    """How one setting is checked. ``int``/``number``: a range ``lo``..``hi`` (``lo`` excluded when
    ``lo_open``); ``choice``: one of ``choices`` after lower-casing (and ``aliases``); ``dataset``: a
    dataset name in any accepted spelling; ``text``: a string. ``nullable`` also accepts None. ``why``
    ends the message of a refusal."""

    kind: Kind
    why: str
    lo: float | None = None
    hi: float | None = None
    lo_open: bool = False
    nullable: bool = False
    choices: tuple[str, ...] = ()
    aliases: Mapping[str, str] | None = None


def _whole(lo: int, hi: int) -> Rule:
    return Rule("int", f"must be a whole number from {lo} to {hi}", lo, hi)


def _whole_or_null(lo: int) -> Rule:
    return Rule("int", f"must be a whole number ≥ {lo}, or null", lo, nullable=True)


def _choice(choices: tuple[str, ...], aliases: Mapping[str, str] | None = None) -> Rule:
    return Rule("choice", f"must be one of {', '.join(choices)}", choices=choices, aliases=aliases)


_FRACTION = Rule("number", "must be a number from 0 to 1", 0, 1)
_FLAG = Rule("bool", "must be true or false")

RULES: dict[str, Rule] = {
    "dataset": Rule("dataset", f"must be one of {', '.join(DATASETS)}", choices=DATASETS),
    "data_dir": Rule("text", "must be a folder path or null", nullable=True),
    "epochs": _whole(1, 100_000),
    "batch_size": _whole(1, 1_000_000),
    "eval_batch_size": _whole(1, 1_000_000),
    "stats_every": _whole(0, 10**9),
    "histogram_every": _whole(0, 10**9),
    "seed": _whole(0, 2**63 - 1),
    "threads": _whole_or_null(1),
    "limit_steps": _whole_or_null(1),
    "step_size": _whole_or_null(1),
    "schedule_epochs": _whole_or_null(1),
    "lr": Rule("number", "must be a number above 0 (and at most 100)", 0, 100, lo_open=True),
    "momentum": _FRACTION,
    "weight_decay": Rule("number", "must be ≥ 0", 0),
    "gamma": _FRACTION,
    "nesterov": _FLAG,
    "channels_last": _FLAG,
    "optimizer": _choice(OPTIMIZERS),
    "loss": _choice(LOSSES, _LOSS_SPELLINGS),
    "schedule": _choice(SCHEDULES),
    "device": _choice(DEVICES),
    "fit_input": _choice(FIT_INPUTS),
    "histogram_param": Rule("text", "must be a parameter name such as 'conv1.weight', or null", nullable=True),
}
"""Every setting's check, in the order :meth:`TrainConfig.validate` applies them."""


def _check(rule: Rule, value: object) -> tuple[bool, object]:
    """(accepted, the value in canonical form)."""
    if value is None:
        return rule.nullable, value
    if rule.kind == "bool":
        return isinstance(value, bool), value
    if rule.kind == "text":
        return isinstance(value, str), value
    if rule.kind == "dataset":
        key = dataset_key(str(value))
        return key is not None, key if key is not None else value
    if rule.kind == "choice":
        if isinstance(value, str):
            value = value.strip().lower().replace("_", "-")
            value = (rule.aliases or {}).get(value, value)
        return value in rule.choices, value
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False, value
    if rule.kind == "int" and not isinstance(value, int):
        return False, value
    if not math.isfinite(value):
        return False, value
    if rule.lo is not None and (value <= rule.lo if rule.lo_open else value < rule.lo):
        return False, value
    return rule.hi is None or value <= rule.hi, value


@dataclass
class TrainConfig:
    """Training settings; every field has a default. Stored as the project file's ``training`` object.

    ``limit_steps`` caps the optimisation steps per epoch (for quick tries); ``stats_every`` is how often
    gradient statistics are read back (0 turns them off); ``step_size`` is the epochs between the
    ``step`` schedule's multiplications by ``gamma`` (default: a third of the epochs);
    ``schedule_epochs`` is how many epochs the cosine and step schedules span (default: ``epochs``):
    continuing a finished run pins it to that run's length, so the schedule carries on from where it
    ended instead of stretching (and jumping back up) over the longer run."""

    dataset: str = "mnist"
    data_dir: str | None = None
    epochs: int = 5
    batch_size: int = 64
    optimizer: str = "sgd"
    lr: float = 0.05
    momentum: float = 0.9
    weight_decay: float = 0.0
    nesterov: bool = False
    loss: str = "cross-entropy"
    schedule: str = "cosine"
    seed: int = 0
    device: str = "auto"
    threads: int | None = None
    limit_steps: int | None = None
    fit_input: str = "none"
    stats_every: int = 20
    histogram_every: int = 100
    histogram_param: str | None = None
    eval_batch_size: int = 1000
    step_size: int | None = None
    schedule_epochs: int | None = None
    gamma: float = 0.1
    channels_last: bool = True

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict of every field."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> TrainConfig:
        """Build and validate a config; unknown keys are ignored (newer files), bad values raise
        :class:`TrainError` naming the field."""
        if not isinstance(d, Mapping):
            raise TrainError("training settings must be an object")
        known = {f.name for f in fields(cls)}
        cfg = cls(**{k: v for k, v in d.items() if k in known})
        cfg.validate()
        return cfg

    def validate(self) -> None:
        """Check every field against :data:`RULES` (types, ranges, choices) and put names in canonical
        form (``Adam`` → ``adam``); :class:`TrainError` naming the first bad one."""
        for name, rule in RULES.items():
            if name == "histogram_param":  # the one check across fields comes before this last field
                self._check_nesterov()
            ok, value = _check(rule, getattr(self, name))
            setattr(self, name, value)  # canonical even when refused: the message shows what was checked
            if not ok:
                raise self._bad(name, rule.why)

    def _check_nesterov(self) -> None:
        if self.nesterov and self.optimizer == "sgd" and self.momentum == 0:
            raise self._bad("nesterov", "needs momentum above 0")

    def _bad(self, name: str, why: str) -> TrainError:
        return TrainError(f"training setting '{name}' {why} (got {getattr(self, name)!r})", field=name)


__all__ = ["DATASETS", "DEVICES", "FIT_INPUTS", "LOSSES", "OPTIMIZERS", "RULES", "SCHEDULES", "Rule", "TrainConfig",
           "TrainError", "dataset_key"]
