"""The convolution walk-through view: a convolution played one window position at a time.

:class:`ConvWalkView` holds the controls around a :class:`~netbuilder.gui.learn.conv_walk_canvas.WalkCanvas`:
Play, Pause, Step, Back, Restart, Finish and a speed slider drive the walk; clicking an output cell
jumps to the computation of that cell. Sizes (C, H, W, kernel, stride, padding, M) are editable;
values are small integers (checkable by hand) or random. It opens with the classic example
(3×5×5 input, four 3×3×3 filters, no padding, stride 1 → 4×3×3). :meth:`ConvWalkView.from_layer`
opens with a canvas convolution's real sizes and, given a (trained) model, its real weights on a
real input. All numbers come from :class:`netbuilder.core.learn.conv_walk.ConvWalk`, whose walk
equals ``torch.nn.functional.conv2d``.
"""

from __future__ import annotations

from typing import TypedDict

import torch
from netbuilder.core.learn.conv_walk import ConvStep, ConvWalk, ConvWalkError
from netbuilder.core.model.layers import REGISTRY, LayerSpec
from netbuilder.core.model.shapes import pair
from netbuilder.gui import theme
from netbuilder.gui.editor.document import Document
from netbuilder.gui.learn.conv_walk_canvas import WalkCanvas, formula_html
from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QCloseEvent, QKeyEvent
from PySide6.QtWidgets import (
    QComboBox,
    QFrame,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QSlider,
    QSpinBox,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

# The parameters a layer must declare for the walk-through to show it as a 2-D convolution.
CONV_PARAMS = frozenset({"in_channels", "out_channels", "kernel_size", "stride", "padding"})


class _LayerSizes(TypedDict):
    """A canvas convolution's sizes, read from its resolved parameters (pairs kept as given)."""

    node: str
    C: int
    H: int
    W: int
    M: int
    k: tuple[int, int]
    stride: tuple[int, int]
    padding: int | str | tuple[int, int]  # "same"/"valid" are passed on to ConvWalk as they are
    dilation: tuple[int, int]
    groups: int
    bias: bool


def is_convolution(spec: LayerSpec) -> bool:
    """True when ``spec`` is a learnable sliding-window layer the walk-through can play.

    Read from what the spec declares, never from its type name: an explicit ``extra["conv_walk"]``
    flag wins; otherwise a layer with parameters that declares channels in and out, a kernel size,
    a stride and a padding qualifies."""
    flag = spec.extra.get("conv_walk") if spec.extra else None
    if flag is not None:
        return bool(flag)
    return spec.has_parameters and {p.name for p in spec.params} >= CONV_PARAMS


class ConvWalkView(QWidget):
    """The interactive convolution walk-through (see the module docstring).

    ``ConvWalkView()`` opens with the classic example; :meth:`from_layer` with a canvas layer."""

    SPEEDS = (0.5, 1, 2, 4, 8, 15, 30, 60, 120)  # steps per second, one per slider notch

    def __init__(self, walk: ConvWalk | None = None, title: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Convolution walk-through")
        self.walk: ConvWalk | None = None
        self.index = -1  # index of the step shown; -1 before the first
        self.out: torch.Tensor | None = None
        self.seed = 0
        self._real: ConvWalk | None = None  # the layer's real weights on a real input, when given
        self._real_source = ""
        self._layer: _LayerSizes | None = None  # sizes of a canvas layer
        self._building = False

        self.title = QLabel(title)
        self.title.setObjectName("sectionTitle")
        self.title.setWordWrap(True)

        # sizes
        self.spins: dict[str, QSpinBox] = {}
        sizes = QHBoxLayout()
        sizes.setSpacing(4)
        for key, label, lo, hi, tip in (
            ("C", "C", 1, 64, "Input channels (each filter has one slice per channel)"),
            ("H", "H", 1, 64, "Input height"),
            ("W", "W", 1, 64, "Input width"),
            ("k", "kernel", 1, 11, "Kernel (filter slice) size k×k"),
            ("stride", "stride", 1, 8, "How far the window moves each time"),
            ("padding", "padding", 0, 8, "Zeros added on every side (the hatched border)"),
            ("M", "M filters", 1, 64, "Number of filters = output channels"),
        ):
            lab = QLabel(label)
            sb = QSpinBox()
            sb.setRange(lo, hi)
            sb.setToolTip(tip)
            lab.setToolTip(tip)
            sb.valueChanged.connect(self._on_size_changed)
            self.spins[key] = sb
            sizes.addWidget(lab)
            sizes.addWidget(sb)
        sizes.addSpacing(10)
        self.values = QComboBox()
        self.values.addItem("Small integers", "integers")
        self.values.addItem("Random", "random")
        self.values.setToolTip("Small integers let you check every sum by hand")
        self.values.currentIndexChanged.connect(self._on_values_changed)
        sizes.addWidget(self.values)
        self.new_values = QPushButton("New values")
        self.new_values.setToolTip("Draw other values of the same kind")
        self.new_values.clicked.connect(self._reseed)
        sizes.addWidget(self.new_values)
        self.classic_button = QPushButton("Classic example")
        self.classic_button.setToolTip("Input 3×5×5, four 3×3×3 filters, no padding, stride 1 → output 4×3×3")
        self.classic_button.clicked.connect(self.load_classic)
        sizes.addWidget(self.classic_button)
        sizes.addStretch(1)

        # playback
        play = QHBoxLayout()
        self.restart_button = QPushButton("Restart")
        self.back_button = QPushButton("◀ Back")
        self.step_button = QPushButton("Step ▶")
        self.play_button = QPushButton("Play")
        self.pause_button = QPushButton("Pause")
        self.finish_button = QPushButton("Finish")
        self.restart_button.setToolTip("Back to before the first window position")
        self.back_button.setToolTip("One window position back")
        self.step_button.setToolTip("One window position on (Right arrow)")
        self.play_button.setToolTip("Move the window on by itself at the chosen speed")
        self.finish_button.setToolTip("Compute every remaining position at once")
        for b, slot in ((self.restart_button, self.restart), (self.back_button, self.back),
                        (self.step_button, self.step), (self.play_button, self.play),
                        (self.pause_button, self.pause), (self.finish_button, self.finish)):
            b.clicked.connect(slot)
            play.addWidget(b)
        play.addSpacing(12)
        play.addWidget(QLabel("Speed"))
        self.speed = QSlider(Qt.Orientation.Horizontal)
        self.speed.setRange(0, len(self.SPEEDS) - 1)
        self.speed.setValue(2)
        self.speed.setFixedWidth(140)
        self.speed.valueChanged.connect(self._on_speed)
        play.addWidget(self.speed)
        self.speed_label = QLabel()
        self.speed_label.setMinimumWidth(80)
        play.addWidget(self.speed_label)
        play.addSpacing(12)
        self.position = QLabel()
        play.addWidget(self.position, 1)

        self.canvas = WalkCanvas()
        self.canvas.cell_clicked.connect(self.go_to)
        self.scroll_area = QScrollArea()
        self.scroll_area.setWidget(self.canvas)
        self.scroll_area.setWidgetResizable(False)
        self.scroll_area.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        self.arith = QLabel()
        self.arith.setWordWrap(True)
        self.arith.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.arith.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        arith_scroll = QScrollArea()
        arith_scroll.setWidgetResizable(True)
        arith_scroll.setWidget(self.arith)
        arith_scroll.setFrameShape(QFrame.Shape.NoFrame)
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(self.scroll_area)
        split.addWidget(arith_scroll)
        split.setStretchFactor(0, 5)
        split.setStretchFactor(1, 1)
        split.setSizes([620, 130])
        self.error = QLabel()
        self.error.setObjectName("inlineError")
        self.error.setWordWrap(True)
        self.error.hide()

        lay = QVBoxLayout(self)
        lay.addWidget(self.title)
        lay.addLayout(sizes)
        lay.addWidget(self.error)
        lay.addLayout(play)
        lay.addWidget(split, 1)

        self.timer = QTimer(self)
        self.timer.timeout.connect(self._tick)
        self._on_speed(self.speed.value())
        theme.hub().changed.connect(self._on_theme)  # a bound method: disconnected when the view goes
        if walk is None:
            self.load_classic()
        else:
            self._set_sizes_from(walk)
            self.set_walk(walk)

    # --- opening ----------------------------------------------------------------------------------
    @classmethod
    def from_layer(cls, document: Document, node_id: str, model: torch.nn.Module | None = None,
                   image: torch.Tensor | None = None) -> ConvWalkView:
        """A view on the canvas convolution ``node_id``: its real sizes with small-integer values, and
        with ``model`` (compiled from the document's graph, e.g. trained) its real weights applied to what
        reaches the layer when ``image`` (1×C×H×W or C×H×W, prepared as for training; default a random
        input) goes through the network. Raises :class:`ConvWalkError` for a node that is not a
        convolution or whose sizes are unknown."""
        document.flush()
        graph, result = document.graph, document.result
        if node_id not in graph:
            raise ConvWalkError(f"there is no node '{node_id}'")
        spec = REGISTRY[graph.node(node_id).type]
        if not is_convolution(spec):
            raise ConvWalkError(f"'{node_id}' ({spec.type_name}) is not a convolution")
        info = result.nodes.get(node_id)
        if info is None or info.error or not info.input_shapes or info.output_shape is None:
            why = info.error if info is not None and info.error else "its input size is unknown"
            raise ConvWalkError(f"cannot walk through '{node_id}': {why}")
        p = info.resolved
        c, h, w = info.input_shapes[0]
        layer = _LayerSizes(node=node_id, C=int(c), H=int(h), W=int(w), M=int(p["out_channels"]),
                            k=pair(p["kernel_size"]), stride=pair(p["stride"]), padding=p["padding"],
                            dilation=pair(p.get("dilation", 1)), groups=int(p.get("groups", 1)),
                            bias=bool(p.get("bias", True)))
        view = cls(title="")
        view._layer = layer
        given_image = image is not None
        if model is not None:
            if image is None:
                assert result.input_id is not None
                shape = result.nodes[result.input_id].output_shape
                assert shape is not None
                image = torch.randn(1, *shape, generator=torch.Generator().manual_seed(0))
            view._real = ConvWalk.from_layer(graph, model, node_id, image)
            direct = any(e.src == result.input_id for e in graph.in_edges(node_id))
            what = "the test image" if given_image else "a random input"
            view._real_source = (f"on {what} (normalised as for training)" if direct
                                 else f"on what reaches it when {what} goes through the layers before it")
            view.values.addItem("Layer's weights on the input", "real")
            view.values.setCurrentIndex(view.values.count() - 1)  # rebuilds with the real values
        else:
            view._rebuild()
        return view

    def load_classic(self) -> None:
        """The classic example: input 3×5×5, four 3×3×3 filters, no padding, stride 1 → output 4×3×3."""
        self._layer = None
        if self.values.currentData() == "real":
            self.values.setCurrentIndex(0)
        self._building = True
        for key, v in (("C", 3), ("H", 5), ("W", 5), ("k", 3), ("stride", 1), ("padding", 0), ("M", 4)):
            self.spins[key].setValue(v)
        self._building = False
        self._rebuild()

    def set_walk(self, walk: ConvWalk, title: str | None = None) -> None:
        """Show ``walk`` from its beginning."""
        self.pause()
        self.walk = walk
        self.index = -1
        self.out = torch.full(walk.out_shape, float("nan"), dtype=torch.float64)
        self.error.hide()
        self.canvas.set_walk(walk)
        if title is not None:
            self.title.setText(title)
        self._show()

    # --- playback -------------------------------------------------------------------------------
    def step(self) -> bool:
        """One window position on; False at the end."""
        if self.walk is None or self.index + 1 >= len(self.walk):
            self.pause()
            return False
        self.index += 1
        s = self.walk.step_at(self.index)
        assert self.out is not None
        self.out[s.m, s.i, s.j] = s.value
        self._show(s)
        return True

    def back(self) -> None:
        """One window position back (its output cell empties again)."""
        self.pause()
        if self.walk is None or self.index < 0:
            return
        m, i, j = self.walk.position(self.index)
        assert self.out is not None
        self.out[m, i, j] = float("nan")
        self.index -= 1
        self._show()

    def restart(self) -> None:
        self.pause()
        if self.walk is not None:
            self.set_walk(self.walk)

    def finish(self) -> None:
        """Compute every remaining position and show the last one."""
        if self.walk is not None:
            self.go_to(len(self.walk) - 1)

    def go_to(self, index: int) -> None:
        """Show the computation of step ``index``; every output cell up to it is filled, later ones emptied."""
        self.pause()
        if self.walk is None or not 0 <= index < len(self.walk):
            return
        assert self.out is not None
        for k in range(self.index + 1, index + 1):
            s = self.walk.step_at(k)
            self.out[s.m, s.i, s.j] = s.value
        for k in range(index + 1, self.index + 1):
            m, i, j = self.walk.position(k)
            self.out[m, i, j] = float("nan")
        self.index = index
        self._show()

    def play(self) -> None:
        if self.walk is None:
            return
        if self.index + 1 >= len(self.walk):
            self.restart()
        self.timer.start()
        self._update_buttons()

    def pause(self) -> None:
        self.timer.stop()
        self._update_buttons()

    @property
    def playing(self) -> bool:
        return self.timer.isActive()

    def output(self) -> torch.Tensor:
        """The output computed so far (cells not reached yet are NaN)."""
        assert self.out is not None
        return self.out.clone()

    def _tick(self) -> None:
        if not self.step():
            self.pause()

    def _on_speed(self, notch: int) -> None:
        sps = self.SPEEDS[notch]
        self.timer.setInterval(max(1, round(1000 / sps)))
        self.speed_label.setText(f"{sps:g} step{'s' if sps != 1 else ''}/s")

    # --- sizes and values -----------------------------------------------------------------------
    def _set_sizes_from(self, walk: ConvWalk) -> None:
        self._building = True
        c, h, w = walk.input.shape
        for key, v in (("C", c), ("H", h), ("W", w), ("k", walk.kernel[0]), ("stride", walk.stride[0]),
                       ("padding", walk.pad[0]), ("M", walk.out_shape[0])):
            self.spins[key].setValue(int(v))
        self._building = False

    def _on_size_changed(self, _v: int) -> None:
        if self._building:
            return
        self._layer = None  # the user now plays with sizes of their own
        if self.values.currentData() == "real":
            self.values.blockSignals(True)
            self.values.setCurrentIndex(0)
            self.values.blockSignals(False)
        self._rebuild()

    def _on_values_changed(self, _i: int) -> None:
        self._rebuild()

    def _reseed(self) -> None:
        self.seed += 1
        if self.values.currentData() == "real":
            self.values.setCurrentIndex(0)
        else:
            self._rebuild()

    def _rebuild(self) -> None:
        kind = self.values.currentData()
        real = kind == "real" and self._real is not None
        for sb in self.spins.values():
            sb.setEnabled(not real)
        self.new_values.setEnabled(True)
        try:
            if real:
                assert self._real is not None and self._layer is not None
                walk = self._real
                self._set_sizes_from(walk)
                title = f"{self._layer['node']} with the model's weights {self._real_source}: {walk.describe()}"
            elif self._layer is not None:
                walk = self._layer_walk(kind)
                self._set_sizes_from(walk)
                title = f"{self._layer['node']}'s sizes with {self.values.currentText().lower()}: {walk.describe()}"
            else:
                v = {k: sb.value() for k, sb in self.spins.items()}
                walk = ConvWalk.random(v["C"], v["H"], v["W"], v["M"], v["k"], v["stride"], v["padding"],
                                       values=kind, seed=self.seed)
                title = walk.describe()
        except ConvWalkError as e:
            self.pause()
            self.walk = None
            self.out = None
            self.index = -1
            self.error.setText(f"⚠ {e}")
            self.error.show()
            self.canvas.set_walk(None, str(e))
            self._show()
            return
        self.set_walk(walk, title)

    def _layer_walk(self, kind: str) -> ConvWalk:
        lay = self._layer
        assert lay is not None
        groups = lay["groups"]
        if groups == 1:
            return ConvWalk.random(lay["C"], lay["H"], lay["W"], lay["M"], lay["k"], lay["stride"], lay["padding"],
                                   lay["dilation"], lay["bias"], values=kind, seed=self.seed)
        gen = torch.Generator().manual_seed(self.seed)
        kh, kw = lay["k"]
        shape_w = (lay["M"], lay["C"] // groups, kh, kw)
        if kind == "integers":
            x = torch.randint(0, 3, (lay["C"], lay["H"], lay["W"]), generator=gen).double()
            w = torch.randint(-1, 2, shape_w, generator=gen).double()
            b = torch.randint(0, 2, (lay["M"],), generator=gen).double()
        else:
            x = torch.randn(lay["C"], lay["H"], lay["W"], generator=gen, dtype=torch.float64)
            w = torch.randn(shape_w, generator=gen, dtype=torch.float64)
            b = torch.randn(lay["M"], generator=gen, dtype=torch.float64)
        return ConvWalk(x, w, b if lay["bias"] else None, lay["stride"], lay["padding"], lay["dilation"], groups)

    # --- display --------------------------------------------------------------------------------
    def current_step(self) -> ConvStep | None:
        return self.walk.step_at(self.index) if self.walk is not None and self.index >= 0 else None

    def _show(self, s: ConvStep | None = None) -> None:
        w = self.walk
        if w is None:
            self.position.setText("")
            self.arith.setText("")
            self._update_buttons()
            return
        s = s if s is not None else self.current_step()
        prev = w.step_at(self.index - 1) if self.index >= 1 else None
        self.canvas.set_state(s, prev, self.out)
        n = len(w)
        if s is None:
            self.position.setText(f"0 of {n} positions. Press Step or Play to slide the first filter's window.")
            self.arith.setText("Each step puts the window on the next position, multiplies every slice of the "
                               "filter with the channel under it, adds it all up with the bias and writes the "
                               "result in one output cell.")
        else:
            self.position.setText(
                f"Step {s.index + 1} of {n} · filter {s.m + 1} of {w.out_shape[0]} · output row {s.i + 1}, "
                f"column {s.j + 1} · window rows {s.rows[0] + 1}–{s.rows[-1] + 1}, columns {s.cols[0] + 1}–"
                f"{s.cols[-1] + 1} of the padded input")
            self.arith.setText("<pre style='margin:0'>" + formula_html(s, w.has_bias) + "</pre>")
            if self.isVisible():
                r = self.canvas.output_cell_rect(s.m, s.i, s.j)
                # Follow the output cell up and down only: sideways would hide the input's window.
                bar = self.scroll_area.verticalScrollBar()
                top, height = bar.value(), self.scroll_area.viewport().height()
                if r.top() < top + 40 or r.bottom() > top + height - 40:
                    bar.setValue(int(r.center().y() - height / 2))
        self._update_buttons()

    def _update_buttons(self) -> None:
        w = self.walk
        has = w is not None
        at_end = has and self.index + 1 >= len(w)  # type: ignore[arg-type]
        self.step_button.setEnabled(has and not at_end)
        self.finish_button.setEnabled(has and not at_end)
        self.back_button.setEnabled(has and self.index >= 0)
        self.restart_button.setEnabled(has and self.index >= 0)
        self.play_button.setEnabled(has and not self.timer.isActive())
        self.pause_button.setEnabled(self.timer.isActive())

    def _on_theme(self, _t: object) -> None:
        self.canvas.update()

    def keyPressEvent(self, event: QKeyEvent) -> None:
        key = event.key()
        if key == Qt.Key.Key_Right:
            self.step()
        elif key == Qt.Key.Key_Left:
            self.back()
        elif key == Qt.Key.Key_Space:
            self.pause() if self.playing else self.play()
        else:
            super().keyPressEvent(event)

    def closeEvent(self, event: QCloseEvent) -> None:
        self.timer.stop()
        super().closeEvent(event)
