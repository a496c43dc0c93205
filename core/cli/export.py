"""``netbuilder export FILE --with-training -o net.py`` and ``netbuilder export FILE --onnx model.onnx``.

``--with-training`` writes a standalone training script (see :mod:`netbuilder.core.interop.script_export`); with
``--checkpoint CKPT`` the checkpoint's weights are written beside it as ``net.pt`` (or to
``--weights OUT``). ``--onnx OUT.onnx`` writes the model as ONNX (the ``onnx`` extra), with the
checkpoint's weights when ``--checkpoint`` is given, and checks it with onnxruntime when installed.
A ``-o OUT.pt`` / ``-o OUT.safetensors`` with ``--checkpoint`` writes the weights alone.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
from netbuilder.core.cli.memory import check_fits
from netbuilder.core.errors import UserError
from netbuilder.core.interop.script_export import dataset_stats, training_script_full
from netbuilder.core.interop.weights import (
    WeightsError,
    export_onnx,
    export_state_dict,
    model_with_weights,
)
from netbuilder.core.model.inference import infer
from netbuilder.core.model.project import Project, atomic_write
from netbuilder.core.train.checkpoint import check_contents, load_checkpoint

WEIGHT_SUFFIXES = (".pt", ".pth", ".safetensors")
ONNX_CHECK_BATCH = 5  # the largest batch the ONNX export runs through both models to compare them


def _say(text: str) -> None:
    print(text, file=sys.stderr)


def _checkpoint_weights(project: Project, path: str) -> dict[str, torch.Tensor]:
    """The checkpoint's state_dict, checked to be finite, saved with valid settings and to fit the
    project's network."""
    ck = load_checkpoint(path)
    check_contents(ck, path)
    ckpt_graph, state_dict = ck.graph, dict(ck.state_dict)
    try:
        model_with_weights(project.graph, state_dict, require_all=True)
    except WeightsError as e:
        raise WeightsError(f"{path}: {e} (the checkpoint holds the network {ckpt_graph.name!r})") from None
    return state_dict


def run(args: argparse.Namespace, project: Project) -> int:
    """Carry out an export that needs more than the plain model file. Returns the exit status."""
    output: str | None = getattr(args, "output", None)
    onnx_out: str | None = getattr(args, "onnx", None)
    checkpoint: str | None = getattr(args, "checkpoint", None)
    weights_out: str | None = getattr(args, "weights", None)
    class_name: str = getattr(args, "class_name", None) or "Net"
    with_training = bool(getattr(args, "with_training", False))

    if onnx_out or checkpoint:  # both build the model, weights and all
        result = infer(project.graph)
        if result.ok:  # an invalid graph gets its own message from the export itself
            check_fits(result, ONNX_CHECK_BATCH, "exporting the model")
    state_dict = _checkpoint_weights(project, checkpoint) if checkpoint else None
    if weights_out and state_dict is None:
        raise UserError("--weights writes a checkpoint's weights: give the checkpoint with --checkpoint CKPT")

    did = False
    if onnx_out:
        report = export_onnx(project.graph, onnx_out, state_dict)
        opset = f", opset {report.opset}" if report.opset else ""
        _say(f"wrote {onnx_out}{opset}" + (" with the checkpoint's weights" if state_dict else " (untrained weights)"))
        _say(report.message)
        did = True
    if with_training:
        if not output:
            raise UserError("give the script's file with -o OUT.py")
        if output.endswith(WEIGHT_SUFFIXES):
            raise UserError(f"-o {output} looks like a weights file; the training script needs a .py name")
        # the exact mean/std the app would normalise with, when the dataset is on this machine
        stats = dataset_stats(project.training)
        script = training_script_full(project.graph, project.training, class_name, stats)
        for note in script.notes:
            _say(f"note: {note}")
        atomic_write(output, script.source.encode("utf-8"))
        _say(f"wrote {output}: run it with  python {output} --epochs {script.settings['epochs']} --data-dir DIR"
             f"  or  torchrun --nproc_per_node=N {output}")
        if state_dict is not None:
            weights_out = weights_out or str(Path(output).with_suffix(".pt"))
        did = True
    elif output and state_dict is not None and output.endswith(WEIGHT_SUFFIXES):
        weights_out = output
    elif output and output.endswith(".py"):
        write_python(project, output, class_name)
        did = True
    elif output:
        raise UserError("with --checkpoint, -o must be a weights file (.pt or .safetensors); "
                        "add --with-training to write a training script")
    if weights_out and state_dict is not None:
        export_state_dict(state_dict, weights_out)
        _say(f"wrote {weights_out}: load it with  model.load_state_dict(torch.load({weights_out!r}, "
             "weights_only=True))" + (f"  or  python {output} --weights {weights_out}" if with_training else ""))
        did = True
    if not did:
        raise UserError("nothing to export: give --with-training -o OUT.py, --onnx OUT.onnx, "
                        "or --checkpoint CKPT -o OUT.pt")
    return 0


def write_python(project: Project, output: str, class_name: str = "Net") -> None:
    """``netbuilder export FILE -o net.py``: the model module, stating how to feed it (input shape and
    dtype, the exact mean and std of the project's dataset when its files are on this machine)."""
    from netbuilder.core.interop.exporter import export_python, feed_from_training

    feed = feed_from_training(project.training, dataset_stats(project.training))
    export_python(project.graph, output, class_name, feed)
    _say(f"wrote {output}: feed it with  model(preprocess(images))  ({feed.origin})")
