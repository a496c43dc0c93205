"""Export the model as a Python file: the very source that :mod:`netbuilder.core.model.compiler` executes.

With a :class:`Feed` (how the model was fed in training), the file also says how to feed it: the input's
shape and dtype and the dataset's per-channel mean and std as module constants and in the module
docstring, and a ``preprocess(images)`` helper that fits and normalises images exactly as training did
(a copy of :func:`netbuilder.core.train.formats.prepare`, so the file still needs only torch). Those
lines go around the generated class, whose text stays the one the app compiles.
"""

from __future__ import annotations

import ast
import json
import os
import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from netbuilder.core.model.codegen import GeneratedCode, generate
from netbuilder.core.model.graph import Graph
from netbuilder.core.model.inference import infer
from netbuilder.core.model.project import atomic_write
from netbuilder.core.model.shapes import fmt_shape
from netbuilder.core.train import formats
from netbuilder.core.train.config import FIT_INPUTS, TrainConfig
from netbuilder.core.train.dataset import PUBLISHED_STATS, DataError

MAIN_GUARD = 'if __name__ == "__main__":'


@dataclass(frozen=True)
class Feed:
    """How the model was fed in training: the dataset, its per-channel mean and std (0..1 scale; None when
    no normalisation was recorded), where those came from, and the input fit (``TrainConfig.fit_input``)."""

    dataset: str | None
    mean: tuple[float, ...] | None
    std: tuple[float, ...] | None
    origin: str
    fit: str = "none"


NO_FEED = Feed(None, None, None, "no training settings, so no normalisation was recorded")


def feed_from_training(training: Mapping[str, object] | None,
                       stats: Mapping[str, tuple[Sequence[float], Sequence[float]]] | None = None) -> Feed:
    """The feed of a project's training settings. ``stats`` are the exact statistics the app computed (by
    dataset name, as :func:`netbuilder.core.interop.script_export.dataset_stats` gives them); without them
    the published ones stand in (said so in the file). Settings left out take the app's defaults, as in
    training; no settings at all (None, e.g. a bare graph) and no normalisation is recorded."""
    if training is None:
        return NO_FEED
    cfg = TrainConfig.from_dict(dict(training))
    name = cfg.dataset
    if stats and name in stats:
        mean, std = stats[name]
        origin = f"the exact statistics of the {name} training images"
    elif name == "sample":
        from netbuilder.core.train.data import load_dataset

        try:  # bundled with the app, always at hand
            ds = load_dataset("sample")
        except DataError:
            return Feed(name, None, None, "the bundled sample is missing, so no normalisation was recorded",
                        cfg.fit_input)
        mean, std = ds.mean, ds.std
        origin = "the exact statistics of the bundled MNIST sample's training images"
    elif name in PUBLISHED_STATS:
        mean, std = PUBLISHED_STATS[name]
        origin = f"the published statistics of {name}, as its files were not at hand to compute the exact ones"
    else:
        return Feed(name, None, None, f"no statistics known for {name}, so no normalisation was recorded",
                    cfg.fit_input)
    return Feed(name, tuple(float(v) for v in mean), tuple(float(v) for v in std), origin, cfg.fit_input)


def export_python(graph: Graph, path: str | os.PathLike[str], class_name: str = "Net",
                  feed: Feed | None = None) -> GeneratedCode:
    """Write the generated module for ``graph`` to ``path`` (atomically) and return it. With ``feed``, the
    file also states the input it expects and defines ``preprocess`` (see the module docstring)."""
    code = generate(graph, class_name=class_name)
    text = code.source if feed is None else python_source(graph, code, feed)
    atomic_write(path, text.encode("utf-8"))
    return code


def python_source(graph: Graph, code: GeneratedCode, feed: Feed) -> str:
    """``code``'s module with the input constants, the docstring's feeding note and ``preprocess``."""
    result = infer(graph)
    assert result.input_id is not None  # generate() has refused a graph without an input
    shape = tuple(result.nodes[result.input_id].output_shape or ())
    source = code.source
    tree = ast.parse(source)
    doc = tree.body[0]
    first_code = next(n for n in tree.body if not isinstance(n, ast.Expr | ast.Import | ast.ImportFrom))
    assert isinstance(doc, ast.Expr) and doc.end_lineno is not None
    lines = source.splitlines(keepends=True)
    imports = "".join(lines[doc.end_lineno:first_code.lineno - 1]).strip("\n")
    rest = "".join(lines[first_code.lineno - 1:])
    cut = rest.find("\n" + MAIN_GUARD)
    body, demo = (rest[:cut + 1], rest[cut + 1:]) if cut >= 0 else (rest, "")
    old_doc = ast.get_docstring(tree, clean=False) or ""
    if "import torch.nn.functional as F" not in imports:
        imports += "\nimport torch.nn.functional as F"
    return "".join([
        '"""', old_doc.rstrip("\n"), "\n\n", _feed_note(shape, feed), '"""\n\n',
        "from collections.abc import Sequence\n\n", imports, "\n\n",
        _constants(shape, feed), "\n\n", body.rstrip("\n"), "\n\n\n", _helpers(), "\n\n", demo,
    ])


def _feed_note(shape: tuple[int, ...], feed: Feed) -> str:
    def short(values: tuple[float, ...]) -> str:  # the constants below hold the exact values
        return "(" + ", ".join(f"{v:.4f}" for v in values) + ("," if len(values) == 1 else "") + ")"

    norm = (f"normalised per channel with MEAN = {short(feed.mean)} and STD = {short(feed.std)}"
            if feed.mean is not None and feed.std is not None else "on the 0..1 scale, not normalised")
    return "\n".join([
        f"Feeding it: float32 tensors {fmt_shape(shape)} (INPUT_SHAPE, INPUT_DTYPE),",
        f"{norm}:",
        textwrap.fill(f"{feed.origin}.", 100),
        textwrap.fill("preprocess(images) turns uint8 (0..255) or float (0..1) images, N×C×H×W or N×H×W, into "
                      "that input exactly as training did: model(preprocess(images)).", 100),
    ]) + "\n"


def _constants(shape: tuple[int, ...], feed: Feed) -> str:
    return "\n".join([
        f"INPUT_SHAPE = {shape!r}  # one sample, without the batch dimension",
        "INPUT_DTYPE = torch.float32",
        f"DATASET = {_quoted(feed.dataset)}  # what it was trained on",
        f"MEAN = {feed.mean!r}  # per channel, 0..1 scale; None: no normalisation was recorded",
        f"STD = {feed.std!r}",
        f"FIT_INPUT = {_quoted(feed.fit)}  # how other image sizes are fitted: {', '.join(FIT_INPUTS)}",
    ]) + "\n"


def _quoted(value: str | None) -> str:
    return "None" if value is None else json.dumps(value)  # double quotes, as ruff writes them


def _helpers() -> str:
    """``preprocess`` and the app's own ``prepare`` (its source, with ``FormatError`` a ValueError)."""
    text = Path(formats.__file__).read_text(encoding="utf-8")
    prepare = next(n for n in ast.parse(text).body if isinstance(n, ast.FunctionDef) and n.name == "prepare")
    prepare_src = ast.get_source_segment(text, prepare)
    assert prepare_src is not None
    return f'''def preprocess(images: torch.Tensor) -> torch.Tensor:
    """uint8 (0..255) or float (0..1) images, N×C×H×W (or N×H×W grey) → the float32 model input: fitted
    to INPUT_SHAPE and normalised with MEAN and STD, as in training."""
    x = torch.as_tensor(images)
    if x.dim() == 3:
        x = x.unsqueeze(1)
    mean = MEAN if MEAN is not None else (0.0,) * x.shape[1]
    std = STD if STD is not None else (1.0,) * x.shape[1]
    if FIT_INPUT == "rows":  # each image becomes the sequence of its rows, the channels side by side
        n, c, h, w = x.shape
        return prepare(x, (c, h, w), mean, std, "none").permute(0, 2, 1, 3).reshape(n, h, c * w)
    return prepare(x, INPUT_SHAPE, mean, std, FIT_INPUT)


FormatError = ValueError


{prepare_src}
'''
