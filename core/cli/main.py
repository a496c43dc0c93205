"""The ``netbuilder`` command: GUI launcher and headless sub-commands.

``netbuilder [FILE]`` opens the GUI; ``netbuilder summary|export|train|autograd|import ...`` work
without Qt. User errors print one clean line and exit 1; there are no tracebacks for them.
``summary --json`` prints them on stdout as ``{"errors": [{"node", "field", "message"}]}`` instead.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from collections.abc import Callable, Sequence
from typing import Any

from netbuilder.core.errors import UserError

# Sub-commands implemented in other modules: name → (module, help). Each module has
# ``add_arguments(parser)`` and ``run(args) -> int``.
EXTERNAL: dict[str, tuple[str, str]] = {
    "train": ("netbuilder.core.cli.train", "train a project on a dataset (headless)"),
    "autograd": ("netbuilder.core.cli.autograd", "export the autograd graph (DOT, SVG, PNG or JSON)"),
    "import": ("netbuilder.core.cli.imports", "import a PyTorch nn.Module file as a project (runs that file)"),
}


def _cmd_summary(args: argparse.Namespace) -> int:
    from netbuilder.core.model.inference import infer
    from netbuilder.core.model.project import load_project
    from netbuilder.core.model.summary import error_data, summary_data, summary_table

    try:
        project = load_project(args.file)
    except UserError as err:
        if not args.json:
            raise
        # --json promises JSON on stdout for every outcome, a file that cannot be loaded included
        print(json.dumps(error_data(err), indent=2))
        return 1
    result = infer(project.graph)  # once, for the data and the table
    data = summary_data(project.graph, result)
    if args.json:
        print(json.dumps(data, indent=2))
        return 1 if "errors" in data else 0
    if "errors" in data:
        for e in data["errors"]:
            print(f"error: {e['message']}", file=sys.stderr)
        return 1
    print(f"{project.graph.name}")
    print(summary_table(project.graph, result))
    return 0


def _cmd_export(args: argparse.Namespace) -> int:
    from netbuilder.core.cli import export as export_cli
    from netbuilder.core.model.project import load_project

    project = load_project(args.file)
    if (getattr(args, "with_training", False) or getattr(args, "onnx", None)
            or getattr(args, "checkpoint", None) or getattr(args, "weights", None)):
        return export_cli.run(args, project)
    if not args.output:
        raise UserError("give the output file with -o OUT.py")
    export_cli.write_python(project, args.output, args.class_name or "Net")
    return 0


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The sub-command parser (the GUI form, ``netbuilder [FILE]``, is handled in :func:`main`).

    With ``command``, only that external sub-command's module is imported (the others keep their
    one-line help): ``summary`` then runs without importing torch, which the import and training
    modules load."""
    parser = argparse.ArgumentParser(
        prog="netbuilder",
        description="Build, train, inspect and export PyTorch networks. Without a command, opens the GUI: "
        "netbuilder [FILE] [--screenshot OUT.png].",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    p = sub.add_parser("summary", help="print each layer's output shape, parameters and multiply-adds")
    p.add_argument("file", help="project file (.json)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=_cmd_summary)
    p = sub.add_parser("export", help="write the model as a Python file")
    p.add_argument("file", help="project file (.json)")
    p.add_argument("-o", "--output", help="output .py file")
    p.add_argument("--class-name", default="Net", help="name of the generated nn.Module class (default Net)")
    p.add_argument("--with-training", action="store_true",
                   help="write a standalone training script (train/test/main with argparse)")
    p.add_argument("--onnx", metavar="OUT.onnx", help="export ONNX instead (needs the onnx extra)")
    p.add_argument("--checkpoint", help="checkpoint whose weights to export")
    p.add_argument("--weights", metavar="OUT.pt",
                   help="with --checkpoint: write its weights here (.pt or .safetensors; default beside the script)")
    p.set_defaults(func=_cmd_export)
    for name, (module, help_text) in EXTERNAL.items():
        if command is not None and name != command:
            sub.add_parser(name, help=help_text)
            continue
        mod = importlib.import_module(module)
        p = sub.add_parser(name, help=help_text, description=(mod.__doc__ or help_text).strip())
        mod.add_arguments(p)
        p.set_defaults(func=mod.run)
    return parser


def _launch_gui(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="netbuilder", description="Open the NetBuilder window.")
    parser.add_argument("file", nargs="?", help="project file to open (default: the LeNet-5 preset)")
    parser.add_argument("--screenshot", metavar="OUT.png", help="render the window to a PNG and exit")
    args = parser.parse_args(argv)
    try:
        gui_app = importlib.import_module("netbuilder.gui.app")  # the one place core launches the GUI
    except ModuleNotFoundError as e:  # a GUI dependency (PySide6...) is not installed
        raise UserError(f"the GUI needs {e.name}; install it with: pip install netbuilder") from None
    run: Callable[..., int] = gui_app.run
    return run(args.file, screenshot=args.screenshot)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``netbuilder`` console script."""
    argv = list(sys.argv[1:] if argv is None else argv)
    commands = {"summary", "export", *EXTERNAL}
    try:
        if not argv or (argv[0] not in commands and argv[0] not in ("-h", "--help")):
            return _launch_gui(argv)
        parser = build_parser(argv[0])
        args = parser.parse_args(argv)
        if not getattr(args, "func", None):
            parser.print_help()
            return 0
        func: Callable[[Any], int] = args.func
        return int(func(args))
    except UserError as e:
        print(f"netbuilder: error: {e}", file=sys.stderr)
        return 1
    except OSError as e:  # an output path that cannot be written: a user error, not a bug
        where = f"{e.filename}: " if e.filename else ""
        print(f"netbuilder: error: {where}{e.strerror or e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("netbuilder: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
