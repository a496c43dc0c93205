"""Weights leaving and re-entering the app: state_dict files, safetensors, ONNX, and keeping trained
weights when the network is edited.

Parameter names are ``<attribute>.<tensor>`` where the attribute is the node id made legal
(:attr:`netbuilder.core.model.codegen.GeneratedCode.attr_names`), so a state_dict saved here loads
into the class that ``netbuilder export`` writes.
"""

from __future__ import annotations

import importlib
import importlib.util
import io
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn
from netbuilder.core.errors import UserError
from netbuilder.core.model.graph import Graph
from netbuilder.core.model.project import atomic_write
from netbuilder.core.train.checkpoint import load_checkpoint

ONNX_INSTALL = "pip install onnx onnxscript onnxruntime  (or: pip install 'netbuilder[onnx]')"


class WeightsError(UserError):
    """Weights could not be written, read or matched to the network."""


# --- state_dict files ---------------------------------------------------------------------------

def _plain_state_dict(model_or_sd: nn.Module | Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    sd = model_or_sd.state_dict() if isinstance(model_or_sd, nn.Module) else model_or_sd
    return {k: v.detach().cpu().contiguous() for k, v in sd.items()}


def export_state_dict(model: nn.Module | Mapping[str, torch.Tensor], path: str | os.PathLike[str]) -> None:
    """Save a model's weights (or a state_dict) to ``path``, atomically.

    ``.safetensors`` writes the safetensors format (needs the ``safetensors`` package); any other
    suffix writes ``torch.save`` of the plain state_dict, loadable with
    ``model.load_state_dict(torch.load(path, weights_only=True))``."""
    sd = _plain_state_dict(model)
    if str(path).endswith(".safetensors"):
        try:
            st = importlib.import_module("safetensors.torch")
        except ModuleNotFoundError:
            raise WeightsError("writing .safetensors needs the safetensors package: pip install safetensors") \
                from None
        data: bytes = st.save(sd, metadata={"format": "pt", "producer": "netbuilder"})
    else:
        buf = io.BytesIO()
        torch.save(sd, buf)
        data = buf.getvalue()
    try:
        atomic_write(path, data)
    except OSError as e:
        raise WeightsError(f"{path}: cannot write ({e.strerror})") from None


def load_state_dict_file(path: str | os.PathLike[str]) -> dict[str, torch.Tensor]:
    """Read a state_dict written by :func:`export_state_dict` (or any ``torch.save`` of tensors).

    Uses ``weights_only=True`` so a file cannot run code."""
    p = Path(path)
    if not p.is_file():
        raise WeightsError(f"{p}: no such file")
    try:
        if p.suffix == ".safetensors":
            try:
                st = importlib.import_module("safetensors.torch")
            except ModuleNotFoundError:
                raise WeightsError("reading .safetensors needs the safetensors package: pip install safetensors") \
                    from None
            loaded: dict[str, torch.Tensor] = st.load_file(str(p))
            return loaded
        obj = torch.load(p, map_location="cpu", weights_only=True)
    except WeightsError:
        raise
    except Exception as e:  # corrupt or not a weights file: say so without a traceback
        raise WeightsError(f"{p}: not a readable weights file ({type(e).__name__}: {str(e)[:200]})") from None
    if isinstance(obj, dict) and "state_dict" in obj and isinstance(obj["state_dict"], dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict) or not all(isinstance(k, str) and isinstance(v, torch.Tensor)
                                            for k, v in obj.items()):
        raise WeightsError(f"{p}: does not hold a state_dict (a mapping of names to tensors)")
    return dict(obj)


# --- keeping weights across edits ---------------------------------------------------------------

@dataclass
class TransferReport:
    """What :func:`transfer_weights` did, by state_dict key."""

    kept: list[str] = field(default_factory=list)  # same name and shape: copied
    reshaped: list[tuple[str, tuple[int, ...], tuple[int, ...]]] = field(default_factory=list)  # (key, old, new)
    new: list[str] = field(default_factory=list)  # only in the new model: fresh initialisation
    dropped: list[str] = field(default_factory=list)  # only in the old weights: unused

    @property
    def complete(self) -> bool:
        """True when every tensor of the new model came from the old weights."""
        return not self.reshaped and not self.new

    def nodes_reset(self) -> list[str]:
        """Attribute (node) names whose weights were (partly) freshly initialised."""
        keys = [k for k, _, _ in self.reshaped] + self.new
        return sorted({k.rsplit(".", 1)[0] for k in keys if not k.endswith("num_batches_tracked")})

    def describe(self) -> str:
        """One paragraph for the user."""
        parts = [f"kept {len(self.kept)} tensors"]
        if self.reshaped:
            parts.append("re-initialised (shape changed): " + ", ".join(
                f"{k} {tuple(o)}→{tuple(n)}" for k, o, n in self.reshaped))
        if self.new:
            parts.append("new (initialised fresh): " + ", ".join(self.new))
        if self.dropped:
            parts.append("no longer used: " + ", ".join(self.dropped))
        return "; ".join(parts)


def transfer_weights(
    old_state_dict: Mapping[str, torch.Tensor], new_model: nn.Module,
    renames: Mapping[str, str] | None = None,
) -> TransferReport:
    """Copy into ``new_model`` every tensor of ``old_state_dict`` whose name and shape are unchanged.

    The rest of ``new_model`` keeps its fresh initialisation. ``renames`` maps old attribute (node)
    names to new ones, for nodes renamed in the editor (``{"conv1": "features1"}``). Parameters and
    buffers (BatchNorm running statistics) are both transferred."""
    renames = dict(renames or {})

    def new_key(k: str) -> str:
        head, dot, rest = k.partition(".")
        return renames.get(head, head) + dot + rest

    old = {new_key(k): v for k, v in old_state_dict.items()}
    target = new_model.state_dict()
    report = TransferReport()
    merged: dict[str, torch.Tensor] = {}
    for key, tensor in target.items():
        src = old.get(key)
        if src is None:
            report.new.append(key)
        elif tuple(src.shape) != tuple(tensor.shape):
            report.reshaped.append((key, tuple(src.shape), tuple(tensor.shape)))
        else:
            merged[key] = src.detach().to(dtype=tensor.dtype)
            report.kept.append(key)
    report.dropped = [k for k in old if k not in target]
    with torch.no_grad():
        new_model.load_state_dict(merged, strict=False)
    return report


def model_with_weights(graph: Graph, state_dict: Mapping[str, torch.Tensor] | None,
                       require_all: bool = True) -> tuple[nn.Module, TransferReport | None]:
    """Build ``graph``'s model and load ``state_dict`` into it.

    With ``require_all`` a state_dict that does not cover every tensor raises
    :class:`WeightsError` naming the tensors that did not fit."""
    from netbuilder.core.model.compiler import build_model

    model, _ = build_model(graph)
    if state_dict is None:
        return model, None
    report = transfer_weights(state_dict, model)
    if require_all and not report.complete:
        raise WeightsError(
            "the weights do not fit this network: " + report.describe()
            + ". Export the network the checkpoint was trained with, or train again."
        )
    return model, report


def weights_from_checkpoint(path: str | os.PathLike[str]) -> tuple[Graph, dict[str, torch.Tensor]]:
    """(graph, state_dict) of a training checkpoint, read with
    :func:`netbuilder.core.train.checkpoint.load_checkpoint`.

    Used to open a checkpoint for editing: build the edited graph's model, then
    :func:`transfer_weights` keeps every tensor whose node and shape are unchanged."""
    ckpt = load_checkpoint(path)
    return ckpt.graph, dict(ckpt.state_dict)


# --- ONNX -----------------------------------------------------------------------------------------

@dataclass
class OnnxReport:
    """Result of :func:`export_onnx`. ``checked`` is False when onnxruntime is not installed."""

    path: str
    opset: int | None
    checked: bool
    max_abs_diff: float | None = None
    message: str = ""


def _require_onnx() -> None:
    missing = [m for m in ("onnx", "onnxscript") if importlib.util.find_spec(m) is None]
    if missing:
        raise WeightsError(f"ONNX export needs the package{'s' if len(missing) > 1 else ''} "
                           f"{' and '.join(missing)}: {ONNX_INSTALL}")


def export_onnx(graph: Graph, path: str | os.PathLike[str], state_dict: Mapping[str, torch.Tensor] | None = None,
                check: bool = True, atol: float = 1e-4) -> OnnxReport:
    """Export ``graph``'s model (with ``state_dict`` loaded when given) to ONNX at ``path``.

    The batch dimension is dynamic; the input is named ``input`` and the output ``output``. With
    ``check`` and onnxruntime installed, the file is run on random inputs of two batch sizes and
    compared with torch; a difference above ``atol`` raises :class:`WeightsError`. Raises
    :class:`WeightsError` naming the package to install when the ONNX extra is missing."""
    _require_onnx()
    model, _ = model_with_weights(graph, state_dict)
    model.eval()
    from netbuilder.core.model.inference import infer

    result = infer(graph)
    assert result.input_id is not None
    in_shape = result.nodes[result.input_id].output_shape or ()
    gen = torch.Generator().manual_seed(0)
    example = torch.randn(2, *in_shape, generator=gen)
    out_path = Path(path)
    tmp_dir = out_path.parent if str(out_path.parent) else Path(".")
    fd, tmp = tempfile.mkstemp(prefix=f".{out_path.name}.", suffix=".onnx", dir=tmp_dir)
    os.close(fd)
    try:
        batch = torch.export.Dim("batch", min=1, max=65536)
        try:
            program = torch.onnx.export(
                model, (example,), tmp, dynamo=True, input_names=["input"], output_names=["output"],
                dynamic_shapes=({0: batch},), verbose=False, external_data=False,
            )
        except Exception as e:
            raise WeightsError(f"torch could not export this network to ONNX: {type(e).__name__}: "
                               f"{str(e).splitlines()[0][:300] if str(e) else ''}") from None
        opset = getattr(getattr(program, "model", None), "opset_imports", {}).get("", None) if program else None
        report = OnnxReport(str(out_path), opset, checked=False)
        if check:
            _check_with_onnxruntime(model, tmp, in_shape, report, atol)
        os.replace(tmp, out_path)
    finally:
        Path(tmp).unlink(missing_ok=True)
        Path(tmp + ".data").unlink(missing_ok=True)
    return report


def _check_with_onnxruntime(model: nn.Module, onnx_path: str, in_shape: tuple[int, ...], report: OnnxReport,
                            atol: float) -> None:
    try:
        ort: Any = importlib.import_module("onnxruntime")
    except ModuleNotFoundError:
        report.message = "not checked: install onnxruntime to compare the ONNX outputs with torch"
        return
    session = ort.InferenceSession(onnx_path, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    gen = torch.Generator().manual_seed(1)
    worst = 0.0
    for batch in (1, 5):
        x = torch.randn(batch, *in_shape, generator=gen)
        with torch.no_grad():
            expected = model(x)
        got = torch.from_numpy(session.run(None, {name: x.numpy()})[0])
        if tuple(got.shape) != tuple(expected.shape):
            raise WeightsError(f"onnxruntime gives shape {tuple(got.shape)} but torch {tuple(expected.shape)} "
                               f"for a batch of {batch}")
        worst = max(worst, float((got - expected).abs().max()))
    report.checked = True
    report.max_abs_diff = worst
    if worst > atol:
        raise WeightsError(f"the ONNX model's outputs differ from torch's by up to {worst:.3g} (tolerance {atol:g})")
    report.message = f"checked with onnxruntime {ort.__version__}: max |difference| {worst:.2e} (batch 1 and 5)"
