"""Export a network's autograd graph: ``netbuilder autograd FILE -o OUT.(dot|svg|png|json)``.

The graph is the backward graph of one loss: by default a random input of the Input's shape and the
MSE loss against a random target, as in the PyTorch "Neural Networks" tutorial; ``--input mnist``
(or another dataset) uses the first batch of that dataset's training set with the cross-entropy
loss. DOT and JSON are written directly; SVG and PNG are rendered by Graphviz's ``dot`` program.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from netbuilder.core.cli.memory import check_fits
from netbuilder.core.errors import UserError
from netbuilder.core.train.config import FIT_INPUTS

FORMATS = (".dot", ".gv", ".svg", ".png", ".json")
INPUTS = ("random", "sample", "mnist", "fashion-mnist", "cifar10")
# The graph is the same for any batch size: a larger batch only costs memory.
MAX_BATCH = 4096
DATASET_BATCH = 64  # the default batch of a dataset's first training images
MAX_SEED = 2**63 - 1  # the training schema's range, which torch.manual_seed accepts


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of the ``autograd`` sub-command."""
    parser.add_argument("file", help="project file (.json)")
    parser.add_argument("-o", "--output", required=True,
                        help="output file; the extension picks the format: .dot, .svg, .png or .json")
    parser.add_argument("--input", default="random", choices=INPUTS,
                        help="what goes through the network: a random tensor (default, as in the PyTorch "
                        "tutorial) or the first training batch of a dataset")
    parser.add_argument("--loss", choices=("mse", "cross-entropy"), default=None,
                        help="loss function (default: mse for random input, cross-entropy for a dataset)")
    parser.add_argument("--batch-size", type=int, default=None,
                        help=f"samples in the batch, 1 to {MAX_BATCH} (default 1 for random input, {DATASET_BATCH} "
                        "for a dataset)")
    parser.add_argument("--data-dir", default=None, help="folder holding the dataset files")
    parser.add_argument("--fit-input", choices=FIT_INPUTS, default="none",
                        help="fit dataset images to the Input's size by zero padding or resizing (default none)")
    parser.add_argument("--seed", type=int, default=0, help="random seed for the weights and input (default 0)")
    parser.add_argument("--checkpoint", default=None, help="use the weights of this checkpoint")
    parser.add_argument("--chain", action="store_true",
                        help="also print the tutorial's loss.grad_fn.next_functions[0][0] chain")


def render(dot_source: str, output: str | Path) -> None:
    """Render DOT to ``output`` (format from its extension, svg or png) with Graphviz's ``dot``."""
    out = Path(output)
    fmt = out.suffix.lower().lstrip(".")
    exe = shutil.which("dot")
    if exe is None:
        raise UserError(
            f"writing {fmt.upper()} needs Graphviz's 'dot' program, which is not installed. Install Graphviz "
            "(Debian/Ubuntu: sudo apt install graphviz; macOS: brew install graphviz; Windows: "
            "https://graphviz.org/download/) or write .dot or .json instead"
        )
    try:
        proc = subprocess.run([exe, f"-T{fmt}", "-o", str(out)], input=dot_source.encode(),
                              capture_output=True, timeout=120, check=False)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise UserError(f"Graphviz could not render {out}: {e}") from e
    if proc.returncode != 0:
        msg = proc.stderr.decode(errors="replace").strip().splitlines()
        raise UserError(f"Graphviz could not render {out}: {msg[-1] if msg else 'exit ' + str(proc.returncode)}")


def _batch(args: argparse.Namespace, input_shape: tuple[int, ...]) -> tuple[Any, Any]:
    """The first ``batch_size`` training images and labels of the chosen dataset, prepared as the
    trainer prepares them."""
    from netbuilder.core.train import data

    ds = data.load_dataset(args.input, args.data_dir)
    problem = data.check_compat(input_shape, ds, args.fit_input)
    if problem:
        raise UserError(problem)
    n = args.batch_size or DATASET_BATCH
    x = data.prepare_images(ds.train_x[:n], ds, input_shape, args.fit_input, "cpu")
    return x, ds.train_y[:n]


def run(args: argparse.Namespace) -> int:
    """Write the autograd graph of ``args.file`` to ``args.output``."""
    from netbuilder.core.inspect.autograd import autograd_graph, main_path
    from netbuilder.core.model.compiler import build_model
    from netbuilder.core.model.inference import infer
    from netbuilder.core.model.project import load_project

    out = Path(args.output)
    ext = out.suffix.lower()
    if ext not in FORMATS:
        raise UserError(f"cannot tell the format of {out}: use an extension among {', '.join(FORMATS)}")
    if out.exists() and not out.is_file() and not out.is_dir():  # a folder gets the OS's own message
        raise UserError(f"{out}: is not a regular file (a device or a pipe); write to a file")
    if args.batch_size is not None and not 1 <= args.batch_size <= MAX_BATCH:
        raise UserError(f"--batch-size must be between 1 and {MAX_BATCH}, not {args.batch_size} "
                        "(the autograd graph is the same for any batch size)")
    if not 0 <= args.seed <= MAX_SEED:
        raise UserError(f"--seed must be between 0 and {MAX_SEED}, not {args.seed}")
    if ext in (".svg", ".png") and shutil.which("dot") is None:
        render("", out)  # raises the "install Graphviz" error before any work is done
    project = load_project(args.file)
    graph = project.graph
    result = infer(graph)
    if not result.ok:
        first = result.errors[0].message if result.errors else "the graph has no output"
        raise UserError(f"{args.file}: the network is not valid: {first}")
    check_fits(result, args.batch_size or (1 if args.input == "random" else DATASET_BATCH), "the autograd graph",
                "make the network smaller or lower --batch-size")
    import torch

    torch.manual_seed(args.seed)
    model, _ = build_model(graph, result)
    if args.checkpoint:
        from netbuilder.core.train.checkpoint import load_checkpoint

        ckpt = load_checkpoint(args.checkpoint)
        try:
            model.load_state_dict(ckpt.state_dict)
        except RuntimeError as e:
            raise UserError(f"{args.checkpoint} does not fit this network: {str(e).splitlines()[0]}") from e
    assert result.input_id is not None
    in_shape = result.nodes[result.input_id].output_shape
    assert in_shape is not None
    batch = target = None
    loss = args.loss or "mse"
    if args.input != "random":
        batch, target = _batch(args, in_shape)
        loss = args.loss or "cross-entropy"
    ag = autograd_graph(graph, model, batch, target, loss=loss, seed=args.seed, result=result,
                        batch_size=args.batch_size or 1)
    if ext == ".json":
        out.write_text(json.dumps(ag.to_json(), indent=1) + "\n", encoding="utf-8")
    else:
        dot = ag.to_dot(f"{graph.name}: autograd graph of the {loss} loss (gradients flow downwards)")
        if ext in (".dot", ".gv"):
            out.write_text(dot, encoding="utf-8")
        else:
            render(dot, out)
    if args.chain:
        print(ag.chain_text())
        print("# following the layers rather than parameters:")
        print("\n".join(f"{c.expression}  # {c.name}" for c in main_path(ag)))
    print(f"wrote {out} ({len(ag.nodes)} backward nodes, {len(ag.edges)} edges)", file=sys.stderr)
    return 0
