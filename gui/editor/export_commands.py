"""File ▸ Export beyond the model file: the training script, trained weights, ONNX, the autograd graph and
the summary table, and how the model is fed (for File ▸ Export Python). A part of
:class:`~netbuilder.gui.editor.file_commands.FileCommands`, which supplies the window, document and
training session."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import TYPE_CHECKING

from netbuilder.core.errors import UserError
from netbuilder.core.interop.exporter import Feed, feed_from_training
from netbuilder.core.model.graph import Graph
from netbuilder.core.model.project import atomic_write
from PySide6.QtWidgets import QMessageBox

if TYPE_CHECKING:
    import torch
    from netbuilder.core.train.dataset import Stats
    from netbuilder.gui.editor.document import Document
    from netbuilder.gui.editor.main_window import MainWindow
    from netbuilder.gui.window import TrainingSource


class ExportCommands:
    """The export commands of :class:`~netbuilder.gui.editor.file_commands.FileCommands`."""

    window: MainWindow
    document: Document
    _training: TrainingSource | None

    @property
    def graph(self) -> Graph:
        return self.document.graph

    def _fail(self, title: str, error: Exception) -> bool:
        QMessageBox.warning(self.window, title, str(error))
        self.window.status(f"{title}: {error}", True)
        return False

    def trained_state(self) -> dict[str, torch.Tensor] | None:
        """The weights of the model trained (or loaded) in the training panel, if any."""
        model = self._training.live_model if self._training is not None else None
        if model is None:
            return None
        return {k: v.detach().cpu() for k, v in model.state_dict().items()}

    # ------------------------------------------------------------------ exports
    def _stats(self, with_sample: bool) -> dict[str, Stats]:
        """The exact statistics the app normalises with: the loaded dataset's, else computed from its files
        (the bundled sample's are not MNIST's, so the training script leaves them out)."""
        from netbuilder.core.interop.script_export import dataset_stats

        ds = self._training.live_dataset if self._training is not None else None
        if ds is not None and (with_sample or ds.name != "sample"):
            return {ds.name: (ds.mean, ds.std)}
        return dataset_stats(self.document.training)

    def feed(self) -> Feed:
        """How the model is fed in training (the project's settings and the loaded dataset), for File ▸
        Export Python."""
        training = dict(self.document.training)
        if self._training is not None and self._training.live_dataset is not None:
            training.setdefault("dataset", self._training.live_dataset.name)
        return feed_from_training(training, self._stats(with_sample=True))

    def export_training_script(self, path: str) -> bool:
        """A standalone train/test/main script (pytorch/examples style) with the project's settings."""
        from netbuilder.core.interop.script_export import training_script

        try:
            stats = self._stats(with_sample=False)
            source = training_script(self.graph, self.document.training, stats=stats)
            atomic_write(path, source.encode("utf-8"))
        except (UserError, OSError) as e:
            return self._fail("Cannot export the training script", e)
        self.window.status(f"Wrote {path}: run it with  python {Path(path).name} --epochs 1 --data-dir DIR")
        return True

    def export_weights(self, path: str) -> bool:
        """The trained weights as a state_dict (``.pt``) or safetensors file (``.safetensors``)."""
        from netbuilder.core.interop.weights import export_state_dict

        state = self.trained_state()
        if state is None:
            return self._fail("No trained weights", UserError(
                "train the network (Tools ▸ Train) or load a checkpoint first; the weights of the model "
                "trained in this session are what gets exported"))
        try:
            export_state_dict(state, path)
        except (UserError, OSError) as e:
            return self._fail("Cannot export the weights", e)
        self.window.status(f"Wrote {path}: load it with  model.load_state_dict(torch.load(path, weights_only=True))")
        return True

    def export_onnx(self, path: str) -> bool:
        """ONNX (the trained weights when there are some), checked against onnxruntime if installed."""
        from netbuilder.core.interop.weights import export_onnx

        try:
            report = export_onnx(self.graph, path, state_dict=self.trained_state())
        except (UserError, OSError) as e:
            return self._fail("Cannot export ONNX", e)
        self.window.status(report.message or f"Wrote {path}")
        return True

    def export_autograd(self, path: str) -> bool:
        """The autograd graph of one tutorial-style step as DOT, SVG, PNG or JSON."""
        import json

        from netbuilder.core.cli.autograd import render
        from netbuilder.core.inspect.autograd import autograd_graph

        suffix = Path(path).suffix.lower()
        try:
            if suffix not in (".dot", ".gv", ".svg", ".png", ".json"):
                raise UserError(f"choose a .dot, .svg, .png or .json file, not {suffix or 'no extension'}")
            ag = autograd_graph(self.graph)
            if suffix == ".json":
                atomic_write(path, json.dumps(ag.to_json(), indent=2).encode("utf-8"))
            elif suffix in (".dot", ".gv"):
                atomic_write(path, ag.to_dot(self.graph.name).encode("utf-8"))
            else:
                render(ag.to_dot(self.graph.name), path)
        except (UserError, OSError) as e:
            return self._fail("Cannot export the autograd graph", e)
        self.window.status(f"Wrote {path} ({len(ag.nodes)} backward nodes)")
        return True

    def summary_text(self, fmt: str) -> str:
        """The summary table as ``"csv"`` or ``"md"`` (Markdown) text; UserError if the graph is invalid."""
        from netbuilder.core.model.summary import summary_data

        data = summary_data(self.graph, self.document.result)
        if "errors" in data:
            raise UserError("the network has errors: " + "; ".join(e["message"] for e in data["errors"]))
        rows = [(n["id"], n["type"], "×".join(map(str, n["output_shape"])), n["params"], n["macs"])
                for n in data["nodes"]]
        head = ("id", "type", "output shape", "params", "MACs")
        if fmt == "csv":
            buf = io.StringIO()
            w = csv.writer(buf, lineterminator="\n")
            w.writerow(head)
            w.writerows(rows)
            w.writerow(("total", "", "", data["total_params"], data["total_macs"]))
            return buf.getvalue()
        lines = ["| " + " | ".join(head) + " |", "|---|---|---|---:|---:|"]
        lines += [f"| {i} | {t} | {s} | {p:,} | {m:,} |" for i, t, s, p, m in rows]
        lines.append(f"| **total** | | | **{data['total_params']:,}** | **{data['total_macs']:,}** |")
        return "\n".join(lines) + "\n"

    def export_summary(self, path: str) -> bool:
        """The summary table as CSV (``.csv``) or Markdown (``.md``)."""
        fmt = "csv" if Path(path).suffix.lower() == ".csv" else "md"
        try:
            atomic_write(path, self.summary_text(fmt).encode("utf-8"))
        except (UserError, OSError) as e:
            return self._fail("Cannot export the summary", e)
        self.window.status(f"Wrote {path}")
        return True
