"""Does the network take the chosen images? The training panel's compatibility line and its
one-click fixes (pad or resize the images, or change the Input node's shape, undoably).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING

from netbuilder.core.model.layers import get_spec
from netbuilder.core.model.shapes import fmt_shape
from netbuilder.core.train.data import check_compat
from netbuilder.core.train.fit import rows_shape
from netbuilder.gui import theme
from netbuilder.gui.training.datasets import KNOWN_SHAPES, PRETTY, shape_probe
from netbuilder.gui.training.settings_form import set_combo
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton

if TYPE_CHECKING:
    from netbuilder.gui.training.panel import TrainingPanel


class CompatCheck:
    """The compatibility label and fix buttons of one :class:`TrainingPanel`."""

    def __init__(self, panel: TrainingPanel) -> None:
        self.panel = panel
        self.document = panel.document
        self.label = QLabel()
        self.label.setWordWrap(True)
        self.fix_buttons: list[QPushButton] = []
        self.fix_row = QHBoxLayout()
        self.fix_row.setContentsMargins(0, 0, 0, 0)

    def input_shape(self) -> tuple[int, ...] | None:
        """The network's input shape (without the batch), or None without a valid Input."""
        r = self.document.result
        if not r.ok or r.input_id is None:
            return None
        shape = r.nodes[r.input_id].output_shape
        return tuple(shape) if shape is not None else None

    def problem(self) -> str | None:
        """Why the network's Input does not take the chosen data (None when it does)."""
        r = self.document.result
        if not r.ok:
            err = r.errors[0].message if r.errors else "the network has no output"
            return f"The network has errors to fix first: {err}"
        shape = self.input_shape()
        if shape is None:
            return "The network has no Input node."
        name = self.panel.dataset_key()[0]
        ds = self.panel.dataset()
        probe = ds if ds is not None else shape_probe(name)
        return check_compat(shape, probe, str(self.panel.form.value("fit_input")),
                            "long" if r.input_vocab is not None else "float")

    def update(self) -> None:
        """Show whether the data fits, with the fixes that would make it fit."""
        for b in self.fix_buttons:
            self.fix_row.removeWidget(b)
            b.deleteLater()
        self.fix_buttons = []
        problem = self.problem()
        name = self.panel.dataset_key()[0]
        ds = self.panel.dataset()
        data = ds.shape if ds is not None else KNOWN_SHAPES[name]
        shape = self.input_shape()
        if problem is None:
            fit = self.panel.form.value("fit_input")
            how = "" if fit == "none" or (shape and tuple(shape) == data) else f" after {fit}"
            self.label.setText(f"✓ The network's Input {fmt_shape(shape or ())} takes {PRETTY[name]} "
                               f"images ({fmt_shape(data)}){how}.")
            theme.set_tone(self.label, "ok")
            return
        self.label.setText("✗ " + problem[0].upper() + problem[1:])
        theme.set_tone(self.label, "error")
        if shape is None or self.panel.active:
            return
        fixes: list[tuple[str, str, Callable[[], object]]] = []
        if len(shape) == 3 and shape[0] == data[0]:
            if shape[1] >= data[1] and shape[2] >= data[2]:
                fixes.append(("Pad images", f"Pad the {fmt_shape(data)} images with zeros to "
                              f"{fmt_shape(shape)}", partial(self.set_fit_input, "pad")))
            fixes.append(("Resize images", f"Resize the images to {fmt_shape(shape)} (bilinear)",
                          partial(self.set_fit_input, "resize")))
        if len(shape) == 2 and tuple(shape) == rows_shape(data):
            fixes.append(("Read rows", f"Read each {fmt_shape(data, batch=False)} image as a sequence of its "
                          f"{data[1]} rows ({shape[1]} features each)", partial(self.set_fit_input, "rows")))
        if len(shape) == 1:
            flat = (data[0] * data[1] * data[2],)
            fixes.append((f"Set Input to {flat[0]}", "Make the Input take the flattened images",
                          partial(self.set_input_shape, flat)))
        elif tuple(shape) != tuple(data):
            fixes.append((f"Set Input to {'×'.join(map(str, data))}", "Change the Input node's shape to the "
                          "images' shape (undoable)", partial(self.set_input_shape, tuple(data))))
        for text, tip, fn in fixes:
            self._add_fix(text, tip, fn)

    def _add_fix(self, text: str, tip: str, fn: Callable[[], object]) -> None:
        b = QPushButton(text)
        b.setToolTip(tip)

        def clicked(_checked: bool = False) -> None:
            fn()

        b.clicked.connect(clicked)
        self.fix_row.addWidget(b)
        self.fix_buttons.append(b)

    def set_fit_input(self, mode: str) -> None:
        """One-click fix: let the trainer pad or resize the images to the Input's size."""
        set_combo(self.panel.form.fit_box, mode)  # emits → undo command

    def set_input_shape(self, shape: tuple[int, ...]) -> bool:
        """One-click fix: set the Input node's shape (an undoable edit). False if refused."""
        from netbuilder.gui.editor import commands

        r = self.document.result
        if r.input_id is None:
            return False
        node = self.document.graph.node(r.input_id)
        spec = get_spec(node.type)
        pname = next((p.name for p in spec.params if p.kind == "shape"), None)
        if pname is None:
            self.panel.show_message(f"The Input node '{node.id}' has no shape setting to change.", "error")
            return False
        try:
            commands.execute(self.document, commands.SetParams(self.document, node.id, {pname: tuple(shape)}))
        except Exception as e:  # GraphError / LockedError: show why
            self.panel.show_message(f"Could not set the Input shape: {e}", "error")
            return False
        self.document.flush()
        self.update()
        return True
