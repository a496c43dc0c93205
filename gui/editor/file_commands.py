"""File ▸ Import and File ▸ Export commands beyond the editor's own (project files, Export Python).

Each command is a method taking an explicit path (what the tests call) behind a small dialog
wrapper. The work is done by core: the training script (:mod:`core.script_export`), weights and
ONNX (:mod:`core.weights`), the autograd graph (:mod:`core.autograd`), the summary
(:mod:`core.summary`) and the torch.fx import (:mod:`core.importer`).
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from netbuilder.core.errors import UserError
from netbuilder.core.model.project import atomic_write
from PySide6.QtWidgets import QFileDialog, QInputDialog, QMenu, QMessageBox


class FileActions:
    """The import/export commands of one main window."""

    def __init__(self, window: Any, training_panel: Any = None) -> None:
        self.window = window
        self.panel = training_panel

    # ------------------------------------------------------------------ helpers
    @property
    def graph(self) -> Any:
        return self.window.document.graph

    def _base(self, suffix: str) -> str:
        d = self.window.document
        stem = d.path.with_suffix("") if d.path else Path.home() / "network"
        return f"{stem}{suffix}"

    def _save_path(self, title: str, suffix: str, filters: str) -> str | None:
        path, _ = QFileDialog.getSaveFileName(self.window, title, self._base(suffix), filters)
        return path or None

    def _fail(self, title: str, error: Exception) -> bool:
        QMessageBox.warning(self.window, title, str(error))
        self.window.status(f"{title}: {error}", True)
        return False

    def trained_state(self) -> dict[str, Any] | None:
        """The weights of the model trained (or loaded) in the training panel, if any."""
        trainer = getattr(self.panel, "trainer", None)
        if trainer is None:
            return None
        return {k: v.detach().cpu() for k, v in trainer.model.state_dict().items()}

    # ------------------------------------------------------------------ exports
    def export_training_script(self, path: str) -> bool:
        """A standalone train/test/main script (pytorch/examples style) with the project's settings."""
        from netbuilder.core.interop.script_export import training_script

        try:
            source = training_script(self.graph, self.window.document.training)
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

        data = summary_data(self.graph, self.window.document.result)
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

    # ------------------------------------------------------------------ imports
    def import_model(self, path: str, class_name: str | None = None, input_shape: str | None = None) -> bool:
        """Import an ``nn.Module`` file (executing it) as a new, unsaved project; its weights become
        the starting weights of the next training run."""
        from netbuilder.core.interop.importer import import_model

        if not self.window.confirm_discard():
            return False
        try:
            imported = import_model(path, class_name=class_name, input_shape=input_shape)
        except UserError as e:
            return self._fail("Cannot import the model", e)
        self.window.load_graph(imported.graph, {}, None, modified=True)
        if self.panel is not None:
            self.panel.set_initial_weights(imported.state_dict, f"{imported.class_name} in {Path(path).name}")
        notes = "; ".join(imported.notes)
        self.window.status(f"Imported {imported.class_name} from {Path(path).name} "
                           f"({len(imported.graph)} nodes){': ' + notes if notes else ''}")
        return True

    def open_checkpoint_for_editing(self, path: str) -> bool:
        """Open a checkpoint's network to edit; its weights seed the next run where shapes still fit."""
        from netbuilder.core.interop.weights import weights_from_checkpoint

        if not self.window.confirm_discard():
            return False
        try:
            graph, state = weights_from_checkpoint(path)
        except UserError as e:
            return self._fail("Cannot open the checkpoint", e)
        self.window.load_graph(graph, self.window.document.training, None, modified=True)
        if self.panel is not None:
            self.panel.set_initial_weights(state, Path(path).name)
        self.window.status(f"Opened the network of {Path(path).name}: edit it, then Train — weights are kept "
                           "for every layer whose shape is unchanged")
        return True

    # ------------------------------------------------------------------ dialogs
    def _dialog_export(self, title: str, suffix: str, filters: str, fn: Any) -> None:
        path = self._save_path(title, suffix, filters)
        if path:
            fn(path)

    def import_dialog(self) -> None:
        answer = QMessageBox.question(
            self.window, "Import a PyTorch model",
            "Importing runs the Python file to get its nn.Module class, with your permissions.\n\n"
            "Only import files you trust. Continue?",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel, QMessageBox.StandardButton.Cancel)
        if answer != QMessageBox.StandardButton.Yes:
            return
        path, _ = QFileDialog.getOpenFileName(self.window, "Import PyTorch model (runs the file)",
                                              str(Path.home()), "Python files (*.py)")
        if not path:
            return
        shape, ok = QInputDialog.getText(
            self.window, "Input shape", "Input shape without the batch (C,H,W or features); empty = the "
            "class's input_shape attribute:", text="1,28,28")
        if ok:
            self.import_model(path, None, shape.strip() or None)

    def checkpoint_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self.window, "Open checkpoint to edit", str(Path.home()),
                                              "Checkpoints (*.ckpt *.pt);;All files (*)")
        if path:
            self.open_checkpoint_for_editing(path)


def install(window: Any, training_panel: Any = None) -> FileActions:
    """Add File ▸ Import PyTorch model…, Open checkpoint to edit… and the File ▸ Export submenu."""
    fa = FileActions(window, training_panel)
    window.file_actions = fa
    file_menu: QMenu = window.menu("File")
    before = window.act_quit
    imp = file_menu.addAction("&Import PyTorch model… (runs the file)")
    imp.setToolTip("Trace an nn.Module from a .py file with torch.fx into a project; the file is executed")
    imp.triggered.connect(lambda _=False: fa.import_dialog())
    ck = file_menu.addAction("Open &checkpoint to edit…")
    ck.setToolTip("Edit a trained network; training again keeps the weights of unchanged layers")
    ck.triggered.connect(lambda _=False: fa.checkpoint_dialog())
    sub = QMenu("E&xport", file_menu)
    for text, suffix, filters, fn in (
        ("Training &script…", "_train.py", "Python files (*.py)", fa.export_training_script),
        ("Trained &weights…", ".pt", "State dict (*.pt);;safetensors (*.safetensors)", fa.export_weights),
        ("&ONNX…", ".onnx", "ONNX (*.onnx)", fa.export_onnx),
        ("&Autograd graph…", "_autograd.svg", "SVG (*.svg);;PNG (*.png);;Graphviz DOT (*.dot);;JSON (*.json)",
         fa.export_autograd),
        ("Summary &table…", "_summary.md", "Markdown (*.md);;CSV (*.csv)", fa.export_summary),
    ):
        a = sub.addAction(text)
        a.triggered.connect(lambda _=False, t=text, s=suffix, f=filters, g=fn: fa._dialog_export(
            t.replace("&", "").rstrip("…"), s, f, g))
    for action in (imp, ck):
        file_menu.removeAction(action)
        file_menu.insertAction(before, action)
    file_menu.insertMenu(before, sub)
    file_menu.insertSeparator(before)
    return fa
