"""Import a PyTorch model file as a NetBuilder project: netbuilder import model.py -o project.json.

WARNING: the file is executed (as 'python model.py' would run its top level, without its
'if __name__ == "__main__"' part) to get the nn.Module class; import only files you trust. The
class is created without arguments and traced with torch.fx; every registered layer type (its
nn module and functional forms: convolutions, pooling, linear, norms, activations, sequences and
attention, tensor operations, + and torch.cat) becomes a node, laid out automatically. Anything
else is listed with its module path and line. A dotted module name (package.module) is
imported instead of a file.
"""

from __future__ import annotations

import argparse
import sys

from netbuilder.core.errors import UserError
from netbuilder.core.interop.importer import import_model
from netbuilder.core.model.project import save_project


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Add the ``import`` options to ``p``."""
    p.add_argument("file", help="Python file defining an nn.Module (EXECUTED to get the class), or a module name")
    p.add_argument("--class", dest="class_name", metavar="NAME",
                   help="the nn.Module class to import when the file defines several")
    p.add_argument("--input-shape", metavar="C,H,W",
                   help="input shape without the batch, e.g. 1,28,28 or 784 (default: the class's input_shape)")
    p.add_argument("--input-dtype", choices=("float", "long"),
                   help="long: the model takes integer token ids (starts with an Embedding); default the class's "
                        "input_dtype, else float")
    p.add_argument("-o", "--output", required=True, metavar="PROJECT.json", help="project file to write")
    p.add_argument("--weights", metavar="OUT.pt",
                   help="also save the model's initial weights as a state_dict for the imported project "
                        "(.pt, or .safetensors)")


def run(args: argparse.Namespace) -> int:
    """Import ``args.file`` and write the project. Returns the exit status."""
    output: str = args.output
    if not output.endswith(".json"):
        raise UserError(f"-o {output}: the project file must end in .json")
    imported = import_model(args.file, args.class_name, args.input_shape, input_dtype=args.input_dtype)
    graph = imported.graph
    save_project(output, graph)
    layers = len(graph.nodes) - 1
    params = sum(t.numel() for k, t in imported.state_dict.items() if not k.endswith(
        ("running_mean", "running_var", "num_batches_tracked")))
    print(f"wrote {output}: {imported.class_name} as {layers} layers, {params:,} parameters, input "
          f"{'×'.join(map(str, imported.input_shape))}", file=sys.stderr)
    if imported.max_abs_diff is not None:
        print(f"checked: the project's model computes the same outputs (max |difference| "
              f"{imported.max_abs_diff:.1e})", file=sys.stderr)
    for note in imported.notes:
        print(f"note: {note}", file=sys.stderr)
    if args.weights:
        from netbuilder.core.interop.weights import export_state_dict

        export_state_dict(imported.state_dict, args.weights)
        print(f"wrote {args.weights}", file=sys.stderr)
    return 0
