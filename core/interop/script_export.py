"""The standalone training script: the model class plus data reading, ``train()``, ``test()`` and ``main()``.

The script is the template ``resources/templates/train_script.py`` (a real module, linted, type-checked and
tested on its own) filled in from the project:

* the settings at its top are the project's training settings, checked by
  :class:`~netbuilder.core.train.config.TrainConfig` — the one training schema — and the per-channel
  statistics of each dataset (the exact ones the app computed where the caller passes them, see
  :func:`training_script_full`);
* the template's import of :mod:`netbuilder.core.train.formats` is replaced by that module's source, so the
  script reads IDX files and CIFAR-10 batches (through the same restricted unpickler) and fits images to
  the model exactly as the app does, yet needs only torch (torchvision only to download);
* its stand-in model is replaced by the exact text of :func:`netbuilder.core.model.codegen.generate`, the
  same source the app compiles and trains, so the script cannot drift from the app's model.

The script follows pytorch/examples ``mnist/main.py`` and scales out with ``torchrun --nproc_per_node=N``:
DistributedDataParallel over nccl (GPUs) or gloo (CPU), a DistributedSampler to shard the data, and rank 0
alone logging and saving.

A setting the app refuses is refused here too, with the app's message: :class:`TrainError` (a
``UserError``: the CLI prints it and exits with status 1, the GUI shows it) and no script. Two settings the
app accepts become their nearest script equivalent: the bundled ``sample`` dataset becomes MNIST (with a
note), and ``fit_input`` ``none`` becomes ``auto`` (the app refuses a mismatch before training; the script
pads or resizes as needed).
"""

from __future__ import annotations

import ast
import functools
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from netbuilder.core import __version__
from netbuilder.core.model.codegen import CodegenError, GeneratedCode, generate
from netbuilder.core.model.graph import Graph
from netbuilder.core.model.inference import infer
from netbuilder.core.model.shapes import fmt_shape
from netbuilder.core.train import formats
from netbuilder.core.train.config import DATASETS, FIT_INPUTS, LOSSES, OPTIMIZERS, SCHEDULES, TrainConfig
from netbuilder.core.train.data import load_dataset
from netbuilder.core.train.dataset import PUBLISHED_STATS, DataError, Stats
from netbuilder.resources import resources_dir

SCRIPT_DATASETS = tuple(d for d in DATASETS if d != "sample")
"""The datasets the script reads: the app's, less the bundled sample."""
SCRIPT_FITS = ("auto", *(f for f in FIT_INPUTS if f != "none"))
"""The script's ``--fit-input`` choices: the app's, with ``auto`` in place of ``none``."""

MAIN_GUARD = 'if __name__ == "__main__":'
_FORMATS_MODULE = "netbuilder.core.train.formats"
_STAND_IN = "Net"  # the template's stand-in model class


def template_path() -> Path:
    """The template the script is built from."""
    return resources_dir() / "templates" / "train_script.py"


@dataclass
class TrainingScript:
    """The script text, the settings written into it and notes on settings the script words differently."""

    source: str
    settings: dict[str, Any]
    notes: list[str] = field(default_factory=list)
    code: GeneratedCode | None = None


def model_source(code: GeneratedCode) -> str:
    """The generated module without its ``if __name__ == "__main__"`` demo block."""
    text = code.source
    cut = text.find("\n" + MAIN_GUARD)
    if cut >= 0:
        text = text[: cut + 1]
    return text.rstrip() + "\n"


def settings_from_training(training: Mapping[str, Any] | None) -> tuple[dict[str, Any], list[str]]:
    """The script's settings from a project's ``training`` dict, and notes on what the script words
    differently. Settings left out take :class:`TrainConfig`'s defaults, so the script trains as the app
    would; a value :class:`TrainConfig` refuses raises its :class:`TrainError`, with its message."""
    cfg = TrainConfig.from_dict(training if training is not None else {})
    notes: list[str] = []
    dataset = cfg.dataset
    if dataset == "sample":
        notes.append("the bundled 'sample' dataset is part of the app; the script trains on MNIST")
        dataset = "mnist"
    settings = {
        "dataset": dataset, "epochs": cfg.epochs, "batch_size": cfg.batch_size, "eval_batch_size": cfg.eval_batch_size,
        "lr": float(cfg.lr), "momentum": float(cfg.momentum), "weight_decay": float(cfg.weight_decay),
        "nesterov": cfg.nesterov, "optimizer": cfg.optimizer, "loss": cfg.loss, "schedule": cfg.schedule,
        "step_size": cfg.step_size, "gamma": float(cfg.gamma),
        "fit_input": "auto" if cfg.fit_input == "none" else cfg.fit_input, "seed": cfg.seed,
    }
    return settings, notes


def dataset_stats(training: Mapping[str, Any] | None) -> dict[str, Stats]:
    """The exact statistics of the project's dataset when its files are on this machine (decoded once,
    then read from the cache), for :func:`training_script_full`'s ``stats``; {} when they are not (or the
    dataset is the bundled sample, whose statistics are not MNIST's). Never downloads."""
    cfg = TrainConfig.from_dict(training if training is not None else {})
    if cfg.dataset == "sample":
        return {}
    try:
        ds = load_dataset(cfg.dataset, cfg.data_dir)
    except DataError:
        return {}
    return {ds.name: (ds.mean, ds.std)}


def _constants(settings: Mapping[str, Any], stats: Mapping[str, Stats]) -> dict[str, Any]:
    """The values of the template's settings block, by constant name."""
    s = settings
    return {
        "DATASET": s["dataset"], "EPOCHS": s["epochs"], "BATCH_SIZE": s["batch_size"],
        "TEST_BATCH_SIZE": s["eval_batch_size"], "OPTIMIZER": s["optimizer"], "LR": s["lr"],
        "MOMENTUM": s["momentum"], "WEIGHT_DECAY": s["weight_decay"], "NESTEROV": s["nesterov"], "LOSS": s["loss"],
        "SCHEDULE": s["schedule"], "STEP_SIZE": s["step_size"], "GAMMA": s["gamma"], "FIT_INPUT": s["fit_input"],
        "SEED": s["seed"], "OPTIMIZERS": OPTIMIZERS, "LOSSES": LOSSES, "SCHEDULES": SCHEDULES,
        "FIT_INPUTS": SCRIPT_FITS, "STATS": {name: stats[name] for name in SCRIPT_DATASETS},
    }


def _literal(value: Any) -> str:
    if isinstance(value, str):
        return json.dumps(value)  # a checked choice: double quotes, as ruff writes them
    if isinstance(value, tuple):
        items = ", ".join(_literal(v) for v in value)
        return f"({items},)" if len(value) == 1 else f"({items})"
    if isinstance(value, dict):
        rows = "".join(f"    {_literal(k)}: {_literal(v)},\n" for k, v in value.items())
        return "{\n" + rows + "}"
    return repr(value)


def training_script_full(graph: Graph, training: Mapping[str, Any] | None = None, class_name: str = "Net",
                         stats: Mapping[str, tuple[Sequence[float], Sequence[float]]] | None = None) -> TrainingScript:
    """Like :func:`training_script` but also returns the settings used and notes on them.

    ``stats`` maps dataset names to the per-channel (mean, std) the app computed
    (:attr:`~netbuilder.core.train.dataset.Dataset.mean` and ``std``); datasets it leaves out get the
    published statistics. Raises :class:`~netbuilder.core.train.config.TrainError` for a refused setting
    and :class:`~netbuilder.core.model.codegen.CodegenError` when the graph has errors (both UserErrors)."""
    if class_name in _script_names():
        raise CodegenError(f"class name {class_name!r} is already used by the training script "
                           f"(for a function, module or variable); choose another, e.g. {class_name.title()}Net")
    settings, notes = settings_from_training(training)
    result = infer(graph)
    code = generate(graph, result, class_name)
    assert result.input_id is not None
    in_shape = result.nodes[result.input_id].output_shape or ()
    model = model_source(code)
    doc = ast.get_docstring(ast.parse(model)) or class_name
    usage = "\n".join([
        doc.strip(),
        "",
        f"Training script generated by NetBuilder {__version__} (model input {fmt_shape(in_shape)}).",
        "",
        "    python SCRIPT --epochs 1 --data-dir DIR      train on one device (cuda, mps or cpu, chosen",
        "                                                  automatically; --device to choose)",
        "    torchrun --nproc_per_node=N SCRIPT           DistributedDataParallel over N processes",
        "                                                  (nccl on GPUs, gloo on CPU)",
        "",
        "Data: MNIST, Fashion-MNIST or CIFAR-10, read from --data-dir (the IDX .gz files directly in",
        "the folder, torchvision's MNIST/raw or FashionMNIST/raw layout, or cifar-10-batches-py) and",
        "downloaded there with torchvision when missing (unless --no-download).",
    ])
    all_stats = {**PUBLISHED_STATS, **{k: (tuple(map(float, m)), tuple(map(float, s))) for k, (m, s) in
                                       (stats or {}).items()}}
    source = _fill(usage, _constants(settings, all_stats), model, class_name)
    return TrainingScript(source, settings, notes, code)


def training_script(graph: Graph, training: Mapping[str, Any] | None = None, class_name: str = "Net",
                    stats: Mapping[str, tuple[Sequence[float], Sequence[float]]] | None = None) -> str:
    """The standalone training script for ``graph`` as text (see the module docstring).

    ``training`` is the project's training settings (dataset, epochs, batch_size, lr, momentum,
    optimizer, loss, schedule, seed, …); they become the defaults of the script's options."""
    return training_script_full(graph, training, class_name, stats).source


# ---------------------------------------------------------------- filling in the template


def _segment(lines: list[str], node: ast.stmt) -> str:
    assert node.end_lineno is not None
    return "\n".join(lines[node.lineno - 1:node.end_lineno])


def _split_module(source: str) -> tuple[list[str], str]:
    """(the module's import statements, the rest after them) without its docstring and ``__future__``."""
    tree = ast.parse(source)
    lines = source.splitlines()
    imports: list[str] = []
    end = 0
    for node in tree.body:
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and node is tree.body[0]:
            assert node.end_lineno is not None
            end = node.end_lineno
        elif isinstance(node, ast.Import | ast.ImportFrom):
            assert node.end_lineno is not None
            end = node.end_lineno
            if not (isinstance(node, ast.ImportFrom) and node.module == "__future__"):
                imports.append(_segment(lines, node))
        else:
            break
    return imports, "\n".join(lines[end:]).strip("\n")


def _import_block(statements: list[str]) -> str:
    """Imports merged without duplicates (names from one module joined) and ordered as isort does:
    ``__future__``, the standard library, then torch."""
    plain: set[str] = set()
    names: dict[str, set[str]] = {}
    for stmt in statements:
        for node in ast.parse(stmt).body:
            if isinstance(node, ast.ImportFrom) and node.module is not None:
                if node.module != _FORMATS_MODULE:
                    names.setdefault(node.module, set()).update(
                        a.name + (f" as {a.asname}" if a.asname else "") for a in node.names)
            elif isinstance(node, ast.Import):
                plain.update(a.name + (f" as {a.asname}" if a.asname else "") for a in node.names)
    lines = [(m.split(" ")[0], False, f"import {m}") for m in plain]
    lines += [(m, True, f"from {m} import {', '.join(sorted(n, key=lambda v: (not v.isupper(), v.lower())))}")
              for m, n in names.items() if m != "__future__"]

    def third_party(module: str) -> bool:
        return module.split(".")[0] in ("torch", "numpy")

    def block(third: bool) -> list[str]:
        chosen = sorted((m.lower(), is_from, text) for m, is_from, text in lines if third_party(m) == third)
        return [text for _, _, text in sorted(chosen, key=lambda r: (r[1], r[0]))]

    return "\n\n".join(["from __future__ import annotations", "\n".join(block(False)), "\n".join(block(True))])


def _between(text: str, begin: str, end: str) -> tuple[str, str, str]:
    """(before the ``begin`` marker line, between the markers, after the ``end`` marker line)."""
    i = text.index(begin)
    j = text.index(end, i)
    return text[:text.rindex("\n", 0, i) + 1], text[text.index("\n", i) + 1:text.rindex("\n", 0, j) + 1], \
        text[text.index("\n", j) + 1:]


def _settings_block(block: str, values: Mapping[str, Any]) -> str:
    """The template's settings block with each constant's value replaced (comments and annotations kept)."""
    lines = block.splitlines()
    tree = ast.parse(block)
    out: list[str] = []
    done = 0
    for node in tree.body:
        target = node.target if isinstance(node, ast.AnnAssign) else node.targets[0] if isinstance(node, ast.Assign) \
            else None
        assert isinstance(target, ast.Name), "the settings block holds only constants"
        assert node.end_lineno is not None
        out.extend(lines[done:node.lineno - 1])  # comments before it
        ann = f": {ast.unparse(node.annotation)}" if isinstance(node, ast.AnnAssign) else ""
        out.append(f"{target.id}{ann} = {_literal(values[target.id])}")
        done = node.end_lineno
    out.extend(lines[done:])
    return "\n".join(out) + "\n"


def _fill(doc: str, constants: Mapping[str, Any], model: str, class_name: str) -> str:
    template_imports, body = _split_module(template_path().read_text(encoding="utf-8"))
    formats_imports, formats_body = _split_module(Path(formats.__file__).read_text(encoding="utf-8"))
    model_imports, model_body = _split_module(model)
    head, settings, rest = _between(body, "# @settings-begin", "# @settings-end")
    before_model, _, after_model = _between(rest, "# @model-begin", "# @model-end")
    after_model = after_model.replace(f"MODEL = {_STAND_IN}\n", f"MODEL = {class_name}\n", 1)
    return "".join([
        '"""', doc, '\n"""\n\n',
        _import_block([*template_imports, *formats_imports, *model_imports]), "\n\n",
        head.lstrip("\n"), _settings_block(settings, constants), "\n",
        "# --- dataset files and the input fit (NetBuilder's netbuilder/core/train/formats.py) ---------------\n\n",
        formats_body, "\n\n", before_model.rstrip("\n"), "\n\n\n", model_body.strip("\n"), "\n\n\n",
        after_model.strip("\n"), "\n",
    ])


@functools.cache
def _script_names() -> frozenset[str]:
    """Top-level names the script defines or imports (the model class must not shadow them)."""
    stand_in = _stand_in_script()
    names: set[str] = set()
    for node in ast.parse(stand_in).body:
        if isinstance(node, ast.FunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Import | ast.ImportFrom):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
    return frozenset(names - {_STAND_IN})


def _stand_in_script() -> str:
    """The script as exported for the template's own stand-in model, with default settings."""
    template = template_path().read_text(encoding="utf-8")
    _, body = _split_module(template)
    _, model, _ = _between(body, "# @model-begin", "# @model-end")
    constants = _constants(settings_from_training({})[0], PUBLISHED_STATS)
    return _fill("The template's stand-in model.", constants, model, _STAND_IN)
