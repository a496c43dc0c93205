"""Fitting a dataset's images to a model: whether the model's Input accepts them, and the conversion of a
batch into model input (padding or resizing, normalisation, flattening, or reading the rows as a
sequence: ``fit_input="rows"`` turns N×C×H×W images into N×H×(C·W) sequences for an LSTM).

The conversion itself is :func:`netbuilder.core.train.formats.prepare`, which the exported training
script shares; the engine refuses what it cannot fit (:func:`check_compat`) before training starts.
"""

from __future__ import annotations

import torch
from netbuilder.core.train.config import FIT_INPUTS
from netbuilder.core.train.dataset import PRETTY, Dataset
from netbuilder.core.train.formats import prepare


def _fmt(shape: tuple[int, ...]) -> str:
    return "×".join(map(str, shape))


TOKENS_UNSUPPORTED = ("token inputs need a token dataset; none is built in yet — you can still export and "
                      "import this network")
"""Why a network whose Input holds token ids (dtype long) cannot train on the built-in image datasets."""


def rows_shape(data: tuple[int, int, int]) -> tuple[int, int]:
    """The sequence shape [T, F] that ``fit_input="rows"`` makes of C×H×W images: H steps of C·W."""
    c, h, w = data
    return h, c * w


def check_compat(input_shape: tuple[int, ...], dataset: Dataset, fit_input: str = "none",
                 dtype: str = "float") -> str | None:
    """None if the model's Input (batch excluded) accepts the data after ``fit_input``; otherwise a
    message naming both shapes and the fixes. ``dtype`` is the Input's: token ids (``"long"``) need a
    token dataset, and every built-in one holds images."""
    data = dataset.shape
    model = tuple(int(v) for v in input_shape)
    label = PRETTY.get(dataset.name, dataset.name)
    if fit_input not in FIT_INPUTS:
        return f"fit_input must be one of {', '.join(FIT_INPUTS)}, not {fit_input!r}"
    if dtype == "long":
        return TOKENS_UNSUPPORTED
    rows = rows_shape(data)
    if fit_input == "rows":
        if model == rows:
            return None
        return (f"fit_input 'rows' reads {label}'s {_fmt(data)} images as {rows[0]} steps of {rows[1]} features, "
                f"but the model's Input expects {_fmt(model)}; set the Input shape to [{rows[0]}, {rows[1]}], or "
                f"use another fit_input for an image Input")
    if model == data:
        return None
    if len(model) == 2 and model == rows:
        return (f"the model's Input expects a sequence {_fmt(model)} but {label} images are {_fmt(data)}; read "
                f"the images row by row ({rows[0]} steps of {rows[1]} features: fit_input 'rows', --fit-input rows)")
    if len(model) == 1:
        if model[0] == data[0] * data[1] * data[2] and fit_input == "none":
            return None  # a flat [features] Input takes the flattened image
        return (f"the model's Input expects {_fmt(model)} (flat features) but {label} images are {_fmt(data)} "
                f"= {data[0] * data[1] * data[2]} values; set the Input shape to [{_fmt(data).replace('×', ', ')}]"
                f" and add a Flatten layer, or set it to [{data[0] * data[1] * data[2]}]")
    if len(model) != 3:
        return f"the model's Input expects {_fmt(model)} but {label} images are {_fmt(data)} (C×H×W)"
    if model[0] != data[0]:
        return (f"the model's Input expects {model[0]} channel(s) ({_fmt(model)}) but {label} images have "
                f"{data[0]} ({_fmt(data)}); set the Input shape to [{data[0]}, {model[1]}, {model[2]}]")
    if fit_input == "resize":
        return None
    if fit_input == "pad":
        if model[1] >= data[1] and model[2] >= data[2]:
            return None
        return (f"the model's Input expects {_fmt(model)}, smaller than {label}'s {_fmt(data)}: padding cannot "
                f"shrink images; use fit_input 'resize' or set the Input shape to {_fmt(data)}")
    fix = "pad" if model[1] >= data[1] and model[2] >= data[2] else "resize"
    return (f"the model's Input expects {_fmt(model)} but {label} images are {_fmt(data)}; set the Input shape "
            f"to [{', '.join(map(str, data))}], or let the trainer fit the images to the model "
            f"(fit_input '{fix}', --fit-input {fix})")


def prepare_images(x_uint8: torch.Tensor, dataset: Dataset, input_shape: tuple[int, ...], fit_input: str,
                   device: torch.device | str | None = None) -> torch.Tensor:
    """uint8 N×C×H×W (or float on 0..1) → float32 on ``device``, fitted to ``input_shape`` (zero padding
    centred, or bilinear resize) and normalised with the dataset's mean and std. With ``fit_input``
    ``"rows"`` each image, normalised as it is, becomes a sequence of its rows (N×H×(C·W), the
    channels of a row side by side)."""
    x = x_uint8.to(device) if device is not None else x_uint8
    return prepare(x, input_shape, dataset.mean, dataset.std, fit_input)
