"""The training-step walk-through: the tutorial's five cells replayed one click at a time.

"Next step" runs, on the network on the canvas, one of::

    net.zero_grad()
    output = net(input)
    loss = criterion(output, target)
    loss.backward()
    for f in net.parameters(): f.data.sub_(f.grad.data * learning_rate)

and says what happened with the real numbers (:class:`netbuilder.core.learn.stepthrough.TrainingStep`). The code
listing marks the line just run; the canvas nodes involved are selected (optional) and announced by
``canvas_highlight``; the autograd nodes involved are announced by ``autograd_highlight`` as stable
keys (see :func:`autograd_key`) that any autograd viewer can match, and by
``autograd_highlight_ids`` as ids in :attr:`StepThroughView.autograd_graph`. A chosen parameter
(default the first layer's bias, the tutorial's ``conv1.bias``) is shown before and after each
step, with its gradient: ``None`` until the first backward, then values, and at the update the
table ``before − learning_rate × grad = after``.

(Over 500 lines: one widget whose code, values, parameter and canvas/autograd links all follow the
same step; the step itself is computed in :mod:`netbuilder.core.learn.stepthrough`.)
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

import torch
from netbuilder.core.inspect.autograd import AutogradGraph, BackwardNode
from netbuilder.core.learn.stepthrough import STATES, TITLES, StepInfo, StepThroughError, TrainingStep, format_values
from netbuilder.core.model.compiler import build_model
from netbuilder.gui import theme
from netbuilder.gui.editor.document import Document
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor, QFont, QShowEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QDockWidget,
    QDoubleSpinBox,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

if TYPE_CHECKING:
    from netbuilder.core.train.data import Dataset
    from netbuilder.gui.inspect.autograd_view import AutogradView
    from netbuilder.gui.window import AppWindow, TrainingSource

ROWS = 8  # parameter values shown in the table


def autograd_key(node: BackwardNode) -> str:
    """A key for a backward node that does not depend on how a graph was numbered: the parameter name
    for a parameter's ``AccumulateGrad`` (``"conv1.bias"``), else ``"<canvas node>:<name>"``
    (``"conv1:ConvolutionBackward0"``), with ``"loss"`` for the loss's own nodes."""
    if node.param is not None:
        return node.param
    return f"{node.layer if node.layer is not None else 'loss'}:{node.name}"


def _num(v: float) -> str:
    # 8 decimals: learning_rate × grad is often ~1e-4, and the subtraction must check out by hand.
    return f"{v:.8f}".replace("-", "−")


class StepThroughView(QWidget):
    """The training-step walk-through panel for ``document`` (see the module docstring)."""

    stepped = Signal(object)  # StepInfo
    canvas_highlight = Signal(list)  # canvas node ids involved in the last step
    autograd_highlight = Signal(list)  # autograd_key() of every backward node involved
    autograd_highlight_ids = Signal(list)  # the same nodes as ids in self.autograd_graph

    def __init__(self, document: Document, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.document = document
        self.stepper: TrainingStep | None = None
        self.last: StepInfo | None = None
        self._stale = True
        self._model: torch.nn.Module | None = None  # a trained model (copied before every run)
        self._image: torch.Tensor | None = None
        self._label: torch.Tensor | None = None
        self._dataset: Dataset | None = None
        self.dock: QDockWidget | None = None  # set by install()

        # settings
        self.loss_box = QComboBox()
        self.loss_box.addItem("MSE, random target (tutorial)", "mse")
        self.loss_box.addItem("Cross-entropy", "cross-entropy")
        self.lr_box = QDoubleSpinBox()
        self.lr_box.setDecimals(4)
        self.lr_box.setRange(0.0001, 10.0)
        self.lr_box.setSingleStep(0.01)
        self.lr_box.setValue(0.01)
        self.lr_box.setToolTip("learning_rate in the update step")
        self.param_box = QComboBox()
        self.param_box.setMinimumContentsLength(14)
        self.param_box.setToolTip("The parameter whose values and gradient are shown before and after each step")
        self.input_box = QComboBox()
        self.input_box.addItem("Random input, new weights", "random")
        self.input_box.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.image_box = QSpinBox()
        self.image_box.setPrefix("test image #")
        self.image_box.setToolTip("Which test image to feed the trained network (try one it gets wrong)")
        self.image_box.setVisible(False)
        self.input_box.setToolTip("Random input with freshly initialised weights (as in the tutorial), or the "
                                  "trained weights on a test image once a training run has finished")
        self.restart_button = QPushButton("Restart")
        self.restart_button.setToolTip("Start again from fresh weights and a cleared state")
        self.canvas_box = QCheckBox("Select on canvas")
        self.canvas_box.setChecked(True)
        self.canvas_box.setToolTip("Select the layers involved in each step on the canvas")
        settings = QHBoxLayout()
        for label, w in (("Loss", self.loss_box), ("learning_rate", self.lr_box), ("Watch", self.param_box),
                         ("Input", self.input_box)):
            settings.addWidget(QLabel(label))
            settings.addWidget(w)
        settings.addWidget(self.image_box)
        settings.addWidget(self.restart_button)
        settings.addWidget(self.canvas_box)
        settings.addStretch(1)

        # code and the button
        self.code_list = QListWidget()
        self.code_list.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.code_list.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        mono = QFont("monospace")
        mono.setStyleHint(QFont.StyleHint.Monospace)
        self.code_list.setFont(mono)
        self.code_list.setToolTip("The tutorial's training step; the line just run is marked")
        rows = len(TrainingStep.code_listing())
        self.code_list.setFixedHeight(self.code_list.fontMetrics().lineSpacing() * rows + 4 * rows + 12)
        self.next_button = QPushButton("Next step ▶")
        f = self.next_button.font()
        f.setPointSizeF(f.pointSizeF() * 1.25)
        f.setBold(True)
        self.next_button.setFont(f)
        self.next_button.setMinimumHeight(40)
        self.next_label = QLabel()
        self.next_label.setObjectName("muted")
        self.next_label.setWordWrap(True)
        right = QVBoxLayout()
        right.addWidget(self.next_button)
        right.addWidget(self.next_label)
        right.addStretch(1)
        top = QHBoxLayout()
        top.addWidget(self.code_list, 3)
        top.addLayout(right, 1)

        # narrative
        self.title = QLabel()
        tf = self.title.font()
        tf.setPointSizeF(tf.pointSizeF() * 1.2)
        tf.setBold(True)
        self.title.setFont(tf)
        self.narrative = QLabel()
        self.narrative.setWordWrap(True)
        self.narrative.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.error = QLabel()
        self.error.setObjectName("inlineError")
        self.error.setWordWrap(True)
        self.error.hide()

        # the watched parameter
        watch = QFrame()
        watch.setFrameShape(QFrame.Shape.StyledPanel)
        grid = QGridLayout(watch)
        self.grad_caption = QLabel()
        self.grad_caption.setObjectName("sectionTitle")
        self.grad_value = QLabel()
        self.grad_value.setFont(mono)
        self.grad_value.setWordWrap(True)
        self.grad_value.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.value_caption = QLabel()
        self.value_caption.setObjectName("sectionTitle")
        self.value_value = QLabel()
        self.value_value.setFont(mono)
        self.value_value.setWordWrap(True)
        self.value_value.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.table = QTableWidget(0, 5)
        self.table.setHorizontalHeaderLabels(["", "before", "grad", "learning_rate × grad", "after"])
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        self.table.setFont(mono)
        self.table_caption = QLabel()
        self.table_caption.setObjectName("muted")
        self.table_caption.setWordWrap(True)
        grid.addWidget(self.grad_caption, 0, 0)
        grid.addWidget(self.grad_value, 0, 1)
        grid.addWidget(self.value_caption, 1, 0)
        grid.addWidget(self.value_value, 1, 1)
        grid.addWidget(self.table_caption, 2, 0, 1, 2)
        grid.addWidget(self.table, 3, 0, 1, 2)
        grid.setColumnStretch(1, 1)
        grid.setRowStretch(4, 1)  # keep the rows together at the top

        self.involved = QLabel()
        self.involved.setObjectName("muted")
        self.involved.setWordWrap(True)

        lay = QVBoxLayout(self)
        lay.addLayout(settings)
        lay.addWidget(self.error)
        lay.addLayout(top)
        lay.addWidget(self.title)
        lay.addWidget(self.narrative)
        lay.addWidget(watch)
        lay.addWidget(self.involved)
        lay.addStretch(1)

        self.next_button.clicked.connect(self.next_step)
        self.restart_button.clicked.connect(self.restart)
        self.loss_box.currentIndexChanged.connect(lambda _i: self.restart())
        self.lr_box.valueChanged.connect(lambda _v: self.restart())
        self.param_box.currentIndexChanged.connect(lambda _i: self.restart(keep_params=True))
        self.input_box.currentIndexChanged.connect(lambda _i: self.restart())
        self.image_box.valueChanged.connect(self._on_image_changed)
        document.inferred.connect(self._on_inferred)
        document.reset.connect(self._on_inferred)
        theme.hub().changed.connect(self._on_theme)  # a bound method: disconnected when the view goes
        self.restart()

    # --- public API -----------------------------------------------------------------------------
    @property
    def autograd_graph(self) -> AutogradGraph | None:
        """The backward graph recorded by the last forward step (None before it)."""
        return self.stepper.autograd if self.stepper is not None else None

    @property
    def param_name(self) -> str | None:
        """The watched parameter chosen in the box (None while the box is empty)."""
        data = self.param_box.currentData()
        return str(data) if data is not None else None

    def set_model(self, model: torch.nn.Module | None, dataset: Dataset | None = None) -> None:
        """Offer "Trained weights, test image" as input: a copy of ``model`` (compiled from the current
        network) on a test image of ``dataset`` (chosen with the image box) and its label. ``None``
        withdraws it."""
        self._model = model
        self._dataset = dataset if model is not None else None
        n = len(getattr(self._dataset, "test_y", ())) if self._dataset is not None else 0
        self.image_box.blockSignals(True)
        self.image_box.setRange(0, max(0, n - 1))
        self.image_box.blockSignals(False)
        self._load_image()
        i = self.input_box.findData("trained")
        self.input_box.blockSignals(True)
        if model is None and i >= 0:
            self.input_box.removeItem(i)
        elif model is not None and i < 0:
            text = "Trained weights, test image" if self._image is not None else "Trained weights, random input"
            self.input_box.addItem(text, "trained")
        self.input_box.blockSignals(False)
        if model is not None:
            if self._label is not None:  # a real image has a real class: measure the loss against it
                self.loss_box.blockSignals(True)
                self.loss_box.setCurrentIndex(self.loss_box.findData("cross-entropy"))
                self.loss_box.blockSignals(False)
            self.input_box.setCurrentIndex(self.input_box.findData("trained"))
        self.restart()

    def _load_image(self) -> None:
        self._image = self._label = None
        ds = self._dataset
        if ds is None or len(getattr(ds, "test_y", ())) == 0:
            return
        from netbuilder.core.train.data import prepare_images

        k = self.image_box.value()
        res = self.document.result
        shape = res.nodes[res.input_id].output_shape if res.input_id else None
        try:
            self._image = prepare_images(ds.test_x[k:k + 1], ds, tuple(shape or ()), "resize")
            self._label = ds.test_y[k:k + 1].long()
        except Exception:  # an image that cannot be fitted to this network: random input then
            self._image = self._label = None

    def _on_image_changed(self, _k: int) -> None:
        self._load_image()
        self.restart()

    def restart(self, keep_params: bool = False) -> None:
        """Start over: new stepper (fresh weights or a fresh copy of the trained model), nothing run yet."""
        self._stale = False
        self.stepper = None
        self.last = None
        self.document.flush()
        self.image_box.setVisible(self.input_box.currentData() == "trained" and self._dataset is not None)
        if not keep_params:
            self._fill_params()
        try:
            self.stepper = self._make_stepper()
            self.error.hide()
        except StepThroughError as e:
            self.error.setText(f"⚠ {e}")
            self.error.show()
        except Exception as e:  # a trained model that no longer fits the network
            self.error.setText(f"⚠ cannot run a training step on this network: {e}")
            self.error.show()
        self.next_button.setEnabled(self.stepper is not None)
        self._show_code()
        self._show_ready()

    def next_step(self) -> StepInfo | None:
        """Run the next of the five steps and show it."""
        if self._stale:
            self.restart()
        if self.stepper is None:
            return None
        try:
            info = self.stepper.step()
        except Exception as e:  # shown, never raised into the event loop
            self.error.setText(f"⚠ the step failed: {e}")
            self.error.show()
            return None
        self.last = info
        self._show_step(info)
        self.stepped.emit(info)
        self.canvas_highlight.emit(list(info.canvas_nodes))
        if self.canvas_box.isChecked():
            self.document.select_nodes(list(info.canvas_nodes))
        g = self.autograd_graph
        ids = list(info.autograd_nodes)
        self.autograd_highlight_ids.emit(ids)
        self.autograd_highlight.emit([autograd_key(g.nodes[i]) for i in ids] if g is not None else [])
        return info

    def code_lines(self) -> list[str]:
        """The listing as shown, without the marker of the current line."""
        return [self.code_list.item(i).text().removeprefix("▶").strip() for i in range(self.code_list.count())]

    # --- internals ------------------------------------------------------------------------------
    def _fill_params(self) -> None:
        names: list[str] = []
        res = self.document.result
        if res.ok:
            try:
                with torch.random.fork_rng(devices=[]):
                    model, _ = build_model(self.document.graph, res)
                names = [n for n, _ in model.named_parameters()]
            except Exception:
                names = []
        current = self.param_box.currentData()
        self.param_box.blockSignals(True)
        self.param_box.clear()
        for n in names:
            self.param_box.addItem(n, n)
        i = self.param_box.findData(current)
        self.param_box.setCurrentIndex(i if i >= 0 else -1)
        self.param_box.blockSignals(False)

    def _make_stepper(self) -> TrainingStep:
        doc = self.document
        param = self.param_name
        kwargs: dict[str, Any] = {"loss": self.loss_box.currentData(), "lr": self.lr_box.value(), "param": param}
        if self.input_box.currentData() == "trained" and self._model is not None:
            model = copy.deepcopy(self._model).float()  # the update step must not touch the trained model
            if self._image is not None:
                kwargs["input"] = self._image
                if kwargs["loss"] == "cross-entropy":
                    kwargs["target"] = self._label
            st = TrainingStep(doc.graph, model, result=doc.result, **kwargs)
        else:
            st = TrainingStep(doc.graph, result=doc.result, **kwargs)
        if param is None:  # the default the core picks (the first layer's bias): show it in the box
            self.param_box.blockSignals(True)
            self.param_box.setCurrentIndex(self.param_box.findData(st.param))
            self.param_box.blockSignals(False)
        return st

    def _on_inferred(self, *_a: object) -> None:
        # The network changed: what was run belongs to the old one. Start over lazily.
        self._stale = True
        if self.isVisible():
            self.restart()

    def _on_theme(self, _t: object) -> None:
        self._show_code()

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if self._stale:
            self.restart()

    def _show_code(self) -> None:
        st = self.stepper
        lines = TrainingStep.code_listing(self.lr_box.value(), self.loss_box.currentData())
        self.code_list.clear()
        t = theme.current()
        current = (st.number + 1) if st is not None and st.number else -1  # listing row of the last step run
        for k, line in enumerate(lines):
            item = QListWidgetItem(("▶ " if k == current else "   ") + line)
            if k == current:
                item.setBackground(QColor(t.code_line))
                f = item.font()
                f.setBold(True)
                item.setFont(f)
            self.code_list.addItem(item)
        nxt = st.next_state if st is not None else None
        text = f"Next: {TITLES[nxt]}\n{_code_of(nxt)}" if nxt else ""
        if st is not None and st.loss is not None and st.number >= 3:
            text += f"\n\nloss = {float(st.loss.detach()):.4g} (iteration {st.iteration})"
        self.next_label.setText(text)

    def _show_ready(self) -> None:
        st = self.stepper
        if st is None:
            self.title.setText("")
            self.narrative.setText("")
            self._show_param(None)
            self.involved.setText("")
            return
        self.title.setText("Ready")
        where = ("the trained weights" if self.input_box.currentData() == "trained" and self._model is not None
                 else "freshly initialised weights")
        if self.image_box.isVisibleTo(self) and self._label is not None:
            classes = getattr(self._dataset, "classes", None) or []
            k = int(self._label[0])
            what = (f"test image #{self.image_box.value()} (class {classes[k] if k < len(classes) else k}) as input "
                    f"{tuple(st.input.shape)}")
        else:
            what = f"a random input {tuple(st.input.shape)}"
        self.narrative.setText(
            f"The network on the canvas is built with {where}, with {what} and target {tuple(st.target.shape)}. "
            "Press Next step to run the five lines of a training step one by one.")
        self._show_param(None)
        self.involved.setText("")

    def _show_step(self, info: StepInfo) -> None:
        self._show_code()
        self.title.setText(info.title)
        self.narrative.setText(info.narrative)
        self._show_param(info)
        g = self.autograd_graph
        names: list[str] = []
        if g is not None:
            for i in info.autograd_nodes:
                n = g.nodes[i].name
                if n not in names:
                    names.append(n)
        shown = ", ".join(names[:6]) + (", …" if len(names) > 6 else "")
        self.involved.setText(
            f"Layers involved: {', '.join(info.canvas_nodes) or '—'}.  Autograd nodes: "
            f"{len(info.autograd_nodes)}{' (' + shown + ')' if shown else ''}.")

    def _show_param(self, info: StepInfo | None) -> None:
        st = self.stepper
        name = info.param if info is not None else (st.param if st is not None else "")
        self.grad_caption.setText(f"{name}.grad" if name else "")
        self.value_caption.setText(name)
        if st is None:
            self.grad_value.setText("")
            self.value_value.setText("")
            self.table.setRowCount(0)
            self.table_caption.setText("")
            return
        p = dict(st.net.named_parameters())[st.param]
        if info is None:
            self.grad_value.setText(format_values(p.grad))
            self.value_value.setText(format_values(p.detach()))
        else:
            gb, ga = info.grad_before, info.grad_after
            self.grad_value.setText(format_values(ga) if info.watch != "grad" or _same(gb, ga)
                                    else f"{format_values(gb)}  →  {format_values(ga)}")
            changed = not torch.equal(info.value_before, info.value_after)
            self.value_value.setText(f"{format_values(info.value_before)}  →  {format_values(info.value_after)}"
                                     if changed else format_values(info.value_after))
        self._fill_table(info, p)

    def _fill_table(self, info: StepInfo | None, p: torch.Tensor) -> None:
        before = (info.value_before if info is not None else p.detach()).flatten()
        after = (info.value_after if info is not None else p.detach()).flatten()
        grad = info.grad_after if info is not None else p.grad
        lr = self.stepper.lr if self.stepper is not None else self.lr_box.value()
        n = min(ROWS, before.numel())
        self.table.setRowCount(n)
        # Exactly as tall as its rows: no scroll bar for at most ROWS values.
        tb = self.table
        tb.setFixedHeight(tb.horizontalHeader().sizeHint().height()
                          + n * tb.verticalHeader().defaultSectionSize() + 2 * tb.frameWidth() + 2)
        t = theme.current()
        is_update = info is not None and info.state == "update"
        for r in range(n):
            g = float(grad.flatten()[r]) if grad is not None else None
            cells = [f"[{r}]", _num(float(before[r])), "None" if g is None else _num(g),
                     "" if g is None else _num(lr * g), _num(float(after[r]))]
            for c, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                if is_update and c == 4:
                    item.setBackground(QColor(t.code_line))
                self.table.setItem(r, c, item)
        # lr × grad and "after" only mean something at the update; elsewhere they would just repeat.
        self.table.setHorizontalHeaderLabels(["", "before" if is_update else "value", "grad", "learning_rate × grad",
                                              "after"])
        self.table.setColumnHidden(3, not is_update)
        self.table.setColumnHidden(4, not is_update)
        more = f" (first {n} of {before.numel():,} values)" if before.numel() > n else ""
        if is_update:
            self.table_caption.setText(f"Update: after = before − learning_rate × grad, learning_rate = {lr:g}{more}")
        elif grad is None:
            self.table_caption.setText(f"No gradient yet: .grad is None until loss.backward() runs{more}")
        else:
            self.table_caption.setText(f"Values and gradient now{more}")


def _same(a: torch.Tensor | None, b: torch.Tensor | None) -> bool:
    if a is None or b is None:
        return a is b
    return a.shape == b.shape and torch.equal(a, b)


def _code_of(state: str | None) -> str:
    from netbuilder.core.learn.stepthrough import CODE

    return CODE.get(state or "", "")


def connect_autograd_view(step_view: StepThroughView, autograd_view: AutogradView) -> None:
    """Highlight in the autograd viewer the backward nodes of each step, matched by
    :func:`autograd_key` (the viewer draws its own graph, so ids would not match)."""
    def on_keys(keys: list[str]) -> None:
        items = autograd_view.view.items_by_id
        if not items:
            return
        wanted = set(keys)
        for it in items.values():
            it.set_highlighted(autograd_key(it.node) in wanted)

    step_view.autograd_highlight.connect(on_keys)


def install(window: AppWindow, training: TrainingSource | None = None,
            autograd: AutogradView | None = None) -> StepThroughView:
    """Dock the walk-through in ``window`` (bottom area) with a Help-menu entry; link it to the
    ``autograd`` viewer when given; with a training source, offer the trained (or loaded) weights and
    withdraw them with a new project or run."""
    view = StepThroughView(window.document)
    dock = window.add_panel(view, "Training step", Qt.DockWidgetArea.BottomDockWidgetArea, "StepThroughDock")
    view.dock = dock
    act = window.menu("Help").addAction("Learn: one &training step, line by line")

    def show_dock() -> None:
        dock.show()
        dock.raise_()

    act.triggered.connect(show_dock)
    if autograd is not None:
        connect_autograd_view(view, autograd)
    if training is not None:
        training.model_available.connect(lambda ctx: view.set_model(ctx.model, ctx.dataset))
        training.model_cleared.connect(lambda: view.set_model(None))
    return view


__all__ = ["STATES", "StepThroughView", "autograd_key", "connect_autograd_view", "install"]
