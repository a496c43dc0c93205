"""Look inside a model: convolution kernels as image grids, and feature maps of one image.

Both work on a model compiled from a graph: freshly built, after training, or loaded from a
checkpoint (:func:`model_from_state_dict`, :func:`model_from_checkpoint`). Arrays are numpy float32
normalised to 0..1 for display, with the raw range kept so a view can show a colour scale, and a
grid layout (rows × columns of tiles) so a view only has to paint.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from netbuilder.core.errors import UserError
from netbuilder.core.inspect.autograd import record_outputs
from netbuilder.core.model.codegen import generate
from netbuilder.core.model.compiler import build_model
from netbuilder.core.model.graph import Graph
from netbuilder.core.model.inference import InferenceResult, infer
from torch import nn


class InspectError(UserError):
    """The model, weights or image do not fit the network."""


def grid_shape(count: int, max_cols: int | None = None) -> tuple[int, int]:
    """(rows, cols) of a near-square grid holding ``count`` tiles (at most ``max_cols`` wide)."""
    if count <= 0:
        return (0, 0)
    cols = math.ceil(math.sqrt(count))
    if max_cols:
        cols = min(cols, max_cols)
    return (math.ceil(count / cols), cols)


def _normalise(a: np.ndarray, mode: str) -> np.ndarray:
    """``"symmetric"``: 0.5 is zero, ±max|a| at 0 and 1 (signs stay readable); ``"minmax"``: min→0, max→1;
    applied over the whole array given."""
    a = a.astype(np.float32)
    if mode == "symmetric":
        m = float(np.abs(a).max()) if a.size else 0.0
        return (np.full_like(a, 0.5) if m == 0 or not math.isfinite(m) else a / (2 * m) + 0.5).astype(np.float32)
    lo, hi = (float(a.min()), float(a.max())) if a.size else (0.0, 0.0)
    if hi <= lo or not (math.isfinite(lo) and math.isfinite(hi)):
        return np.zeros_like(a)
    return ((a - lo) / (hi - lo)).astype(np.float32)


@dataclass
class KernelGrid:
    """The filters of one convolution layer. ``tiles[m, c]`` is slice c of filter m (kh×kw), normalised
    0..1 (``normalisation`` says how: ``"symmetric"`` puts zero at 0.5). ``rgb`` is M×kh×kw×3 when the
    layer sees 3 channels (each filter as a colour image), else None."""

    node: str
    param: str
    shape: tuple[int, int, int, int]  # M, C, kh, kw
    tiles: np.ndarray
    raw_min: float
    raw_max: float
    normalisation: str
    rgb: np.ndarray | None = None

    @property
    def filters(self) -> int:
        return self.shape[0]

    @property
    def slices(self) -> int:
        return self.shape[1]

    def layout(self) -> tuple[int, int]:
        """(rows, cols): one row per filter and one column per slice, or a near-square grid of filters
        when each has a single slice (conv1 of LeNet-5: 6 tiles of 5×5 in 2 rows of 3)."""
        if self.slices == 1:
            return grid_shape(self.filters)
        return (self.filters, self.slices)

    def positions(self) -> list[tuple[int, int, int, int]]:
        """(filter, slice, row, col) of every tile in :meth:`layout`."""
        _, cols = self.layout()
        if self.slices == 1:
            return [(m, 0, m // cols, m % cols) for m in range(self.filters)]
        return [(m, c, m, c) for m in range(self.filters) for c in range(self.slices)]

    def mosaic(self, gap: int = 1, background: float = 1.0) -> np.ndarray:
        """All tiles in one 2-D array laid out as :meth:`layout`, ``gap`` pixels apart."""
        rows, cols = self.layout()
        kh, kw = self.shape[2], self.shape[3]
        out = np.full((rows * (kh + gap) - gap, cols * (kw + gap) - gap), background, dtype=np.float32)
        for m, c, r, q in self.positions():
            out[r * (kh + gap):r * (kh + gap) + kh, q * (kw + gap):q * (kw + gap) + kw] = self.tiles[m, c]
        return out


@dataclass
class FeatureMap:
    """One node's output for one image. ``maps`` is C×H×W for image-like outputs or (F,) for flat ones,
    normalised 0..1 per channel (``"minmax"``) or over the node (``"node"``); ``raw`` keeps the values."""

    node: str
    type: str
    shape: tuple[int, ...]  # without the batch: (6, 28, 28) or (10,)
    maps: np.ndarray
    raw: np.ndarray
    raw_min: float
    raw_max: float
    notes: list[str] = field(default_factory=list)

    @property
    def is_image(self) -> bool:
        return len(self.shape) == 3

    def layout(self) -> tuple[int, int]:
        """(rows, cols) for the channels of an image-like map; (1, 1) for a flat vector."""
        return grid_shape(self.shape[0]) if self.is_image else (1, 1)

    def mosaic(self, gap: int = 1, background: float = 1.0) -> np.ndarray:
        """The channels side by side in one 2-D array (image-like maps), or a 1×F row (flat ones)."""
        if not self.is_image:
            return self.maps.reshape(1, -1)
        c, h, w = self.shape
        rows, cols = self.layout()
        out = np.full((rows * (h + gap) - gap, cols * (w + gap) - gap), background, dtype=np.float32)
        for k in range(c):
            r, q = divmod(k, cols)
            out[r * (h + gap):r * (h + gap) + h, q * (w + gap):q * (w + gap) + w] = self.maps[k]
        return out


def kernel_grids(graph: Graph, model: nn.Module, normalisation: str = "symmetric",
                 result: InferenceResult | None = None) -> list[KernelGrid]:
    """One :class:`KernelGrid` per layer whose weight is 4-D (every convolution), in network order."""
    if normalisation not in ("symmetric", "minmax", "tile"):
        raise InspectError(f"normalisation must be 'symmetric', 'minmax' or 'tile', not {normalisation!r}")
    result = result or infer(graph)
    code = generate(graph, result)
    out: list[KernelGrid] = []
    for nid in result.order:
        attr = code.attr_names.get(nid)
        mod = getattr(model, attr, None) if attr else None
        weight = getattr(mod, "weight", None)
        if not isinstance(weight, torch.Tensor) or weight.dim() != 4:
            continue
        w = weight.detach().float().cpu().numpy()
        if normalisation == "tile":
            tiles = np.stack([np.stack([_normalise(w[m, c], "minmax") for c in range(w.shape[1])])
                              for m in range(w.shape[0])])
        else:
            tiles = _normalise(w, normalisation)
        rgb = None
        if w.shape[1] == 3:
            rgb = np.transpose(_normalise(w, "minmax" if normalisation == "tile" else normalisation), (0, 2, 3, 1))
        shape = (int(w.shape[0]), int(w.shape[1]), int(w.shape[2]), int(w.shape[3]))
        out.append(KernelGrid(nid, f"{attr}.weight", shape, tiles, float(w.min()), float(w.max()), normalisation, rgb))
    return out


def feature_maps(graph: Graph, model: nn.Module, image: torch.Tensor, normalisation: str = "channel",
                 result: InferenceResult | None = None) -> list[FeatureMap]:
    """Every node's output for ``image`` (C×H×W or 1×C×H×W, prepared as for training, e.g. with
    :func:`netbuilder.core.train.data.prepare_images`), in network order, the Input first. The model runs in
    evaluation mode without gradients and is left as it was."""
    if normalisation not in ("channel", "node"):
        raise InspectError(f"normalisation must be 'channel' or 'node', not {normalisation!r}")
    result = result or infer(graph)
    if not result.ok:
        first = result.errors[0].message if result.errors else "the graph has no output"
        raise InspectError(f"the network is not valid yet: {first}")
    assert result.input_id is not None
    in_shape = result.nodes[result.input_id].output_shape
    x = image if image.dim() == len(in_shape or ()) + 1 else image[None]
    if tuple(x.shape[1:]) != tuple(in_shape or ()):
        raise InspectError(f"the image has shape {tuple(image.shape)} but the Input expects "
                           f"{'×'.join(map(str, in_shape or ()))}")
    param = next(model.parameters(), None)
    x = x[:1].to(param.device if param is not None else "cpu")
    x = x.long() if result.input_vocab is not None else x.float()  # token ids stay integers
    was = model.training
    model.eval()
    try:
        with torch.no_grad():
            outs = record_outputs(graph, model, x, result)
    finally:
        model.train(was)
    maps: list[FeatureMap] = []
    for nid in result.order:
        raw = outs[nid][0].detach().float().cpu().numpy()
        if raw.ndim == 3 and normalisation == "channel":
            norm = np.stack([_normalise(ch, "minmax") for ch in raw]) if raw.shape[0] else raw
        else:
            norm = _normalise(raw, "minmax")
        notes = []
        if raw.size and float(np.abs(raw).max()) == 0.0:
            notes.append("all zero")
        maps.append(FeatureMap(nid, result.nodes[nid].type, tuple(int(d) for d in raw.shape), norm.astype(np.float32),
                               raw, float(raw.min()) if raw.size else 0.0, float(raw.max()) if raw.size else 0.0,
                               notes))
    return maps


def model_from_state_dict(graph: Graph, state_dict: dict[str, torch.Tensor]) -> nn.Module:
    """Build ``graph``'s model and load ``state_dict`` (strict); :class:`InspectError` naming the
    missing, unexpected or mis-shaped tensors if it does not fit."""
    model, _ = build_model(graph)
    own = model.state_dict()
    missing = [k for k in own if k not in state_dict]
    extra = [k for k in state_dict if k not in own]
    wrong = [f"{k} {tuple(state_dict[k].shape)} ≠ {tuple(v.shape)}" for k, v in own.items()
             if k in state_dict and tuple(state_dict[k].shape) != tuple(v.shape)]
    if missing or extra or wrong:
        parts = []
        if missing:
            parts.append("missing " + ", ".join(missing[:5]))
        if extra:
            parts.append("unexpected " + ", ".join(extra[:5]))
        if wrong:
            parts.append("wrong shape " + ", ".join(wrong[:5]))
        raise InspectError("the weights do not fit this network (" + "; ".join(parts) + "); they were saved from "
                           "a different network — open the checkpoint's own network or retrain")
    model.load_state_dict(state_dict)
    return model


def model_from_checkpoint(path: str | os.PathLike[str]) -> tuple[Graph, nn.Module, Any]:
    """(graph, model with the trained weights, the checkpoint) from a training checkpoint file."""
    from netbuilder.core.train.checkpoint import load_checkpoint

    ckpt = load_checkpoint(path)
    return ckpt.graph, model_from_state_dict(ckpt.graph, ckpt.state_dict), ckpt
