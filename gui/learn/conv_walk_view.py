"""The convolution walk-through: a convolution played one window position at a time.

Left to right, one row per input channel: the input channel (padding drawn as a hatched border
of zeros, the window as a thick frame, the previous window dashed so the stride shows), the
current filter's slice for that channel, the element-wise products (each cell reads
``input × weight`` above the product) and the slice's sum. Then the sum of the slice sums plus the
bias, with an arrow to the output cell it lands in; one output channel per filter, filled as the
walk goes on. Play, Pause, Step, Back, Restart, Finish and a speed slider drive it; clicking an
output cell jumps to the computation of that cell.

Sizes (C, H, W, kernel, stride, padding, M) are editable; values are small integers (checkable by
hand) or random. It opens with the classic example (3×5×5 input, four 3×3×3 filters, no padding,
stride 1 → 4×3×3). :meth:`ConvWalkView.from_layer` opens with a canvas convolution's real sizes,
and, given a (trained) model, its real weights on a real input. All numbers come from
:class:`core.conv_walk.ConvWalk`, whose walk equals ``torch.nn.functional.conv2d``.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import Any

import torch
from netbuilder.core.learn.conv_walk import ConvStep, ConvWalk, ConvWalkError
from netbuilder.core.model.layers import REGISTRY, LayerSpec
from netbuilder.core.model.shapes import pair
from netbuilder.gui import theme
from netbuilder.gui.editor.document import Document
from PySide6.QtCore import QPointF, QRectF, Qt, QTimer, Signal
from PySide6.QtGui import QBrush, QColor, QFont, QFontMetrics, QMouseEvent, QPainter, QPaintEvent, QPen, QPolygonF
from PySide6.QtWidgets import (
    QComboBox,
    QFrame,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QSlider,
    QSpinBox,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

MINUS = "−"
# The parameters a layer must declare for the walk-through to show it as a 2-D convolution.
CONV_PARAMS = frozenset({"in_channels", "out_channels", "kernel_size", "stride", "padding"})


def is_convolution(spec: LayerSpec) -> bool:
    """True when ``spec`` is a learnable sliding-window layer the walk-through can play.

    Read from what the spec declares, never from its type name: an explicit ``extra["conv_walk"]``
    flag wins; otherwise a layer with parameters that declares channels in and out, a kernel size,
    a stride and a padding qualifies."""
    flag = spec.extra.get("conv_walk") if spec.extra else None
    if flag is not None:
        return bool(flag)
    return spec.has_parameters and {p.name for p in spec.params} >= CONV_PARAMS


def fmt(v: float, decimals: int = 2) -> str:
    """A cell's number: whole numbers as such, others with ``decimals`` decimals; a real minus sign."""
    if math.isnan(v):
        return ""
    if float(v).is_integer() and abs(v) < 10_000:
        s = str(int(v))
    else:
        s = f"{v:.{decimals}f}"
        if float(s) == 0:
            s = s.lstrip("-")  # no "−0.00" for a tiny negative
    return s.replace("-", MINUS)


def _par(v: float, decimals: int = 2) -> str:
    """A number inside a sum: negatives in brackets so ``3 + (−2)`` reads right."""
    s = fmt(v, decimals)
    return f"({s})" if v < 0 else s


def _tint(value: float, scale: float, base: QColor, pos: QColor, neg: QColor) -> QColor:
    """``base`` blended towards ``pos``/``neg`` by |value|/scale (a diverging colour scale)."""
    if scale <= 0 or math.isnan(value):
        return base
    a = min(1.0, abs(value) / scale) * 0.75
    c = pos if value > 0 else neg
    return QColor(int(base.red() + (c.red() - base.red()) * a), int(base.green() + (c.green() - base.green()) * a),
                  int(base.blue() + (c.blue() - base.blue()) * a))


@dataclass
class _Geom:
    """Where everything is drawn; computed for the current walk and reused for hit tests."""

    cell_in: float
    cell_out: float
    small_w: float
    small_h: float
    x_in: float
    x_filter: float
    x_prod: float
    x_sum: float
    x_eq: float
    x_out: float
    row_y: list[float]  # top of each channel row
    out_y: list[float]  # top of each output channel grid
    width: float
    height: float


class WalkCanvas(QWidget):
    """Paints a :class:`ConvWalk` at its current step (see the module docstring)."""

    cell_clicked = Signal(int)  # the step index of a clicked output cell

    TOP = 44.0
    LABEL = 20.0
    GAP = 18.0

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.walk: ConvWalk | None = None
        self.step: ConvStep | None = None
        self.prev: ConvStep | None = None
        self.output: torch.Tensor | None = None
        self.message = ""
        self._scale_in = self._scale_w = self._scale_out = 1.0
        self._geom: _Geom | None = None
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Preferred)
        self.setMouseTracking(False)

    # --- state ----------------------------------------------------------------------------------
    def set_walk(self, walk: ConvWalk | None, message: str = "") -> None:
        self.walk, self.step, self.prev, self.message = walk, None, None, message
        if walk is not None:
            self._scale_in = float(walk.padded.abs().max()) or 1.0
            self._scale_w = float(walk.weight.abs().max()) or 1.0
            # Only a colour scale for the output cells; the numbers shown come from the walk.
            ref = torch.nn.functional.conv2d(walk.padded[None], walk.weight, walk.bias, walk.stride, 0,
                                             walk.dilation, walk.groups)
            self._scale_out = float(ref.abs().max()) or 1.0
        self._geom = self._layout()
        if self._geom is not None:
            self.setFixedSize(int(self._geom.width), int(self._geom.height))
        else:
            self.setFixedSize(500, 120)
        self.update()

    def set_state(self, step: ConvStep | None, prev: ConvStep | None, output: torch.Tensor | None) -> None:
        self.step, self.prev, self.output = step, prev, output
        self.update()

    def output_cell_rect(self, m: int, i: int, j: int) -> QRectF:
        g = self._geom
        assert g is not None
        return QRectF(g.x_out + j * g.cell_out, g.out_y[m] + self.LABEL + i * g.cell_out, g.cell_out, g.cell_out)

    def input_window_rect(self) -> QRectF | None:
        g, s = self._geom, self.step
        if g is None or s is None:
            return None
        return QRectF(g.x_in + s.cols[0] * g.cell_in, g.row_y[0] + self.LABEL + s.rows[0] * g.cell_in,
                      (s.cols[-1] - s.cols[0] + 1) * g.cell_in, (s.rows[-1] - s.rows[0] + 1) * g.cell_in)

    # --- layout ---------------------------------------------------------------------------------
    def _filter_cell(self) -> float:
        w = self.walk
        assert w is not None
        fm = QFontMetrics(self._font(13, True))
        wide = max(fm.horizontalAdvance(fmt(float(w.weight.max()))), fm.horizontalAdvance(fmt(float(w.weight.min()))))
        return max(38.0, min(80.0, wide + 10.0))

    def _small_cell(self) -> tuple[float, float]:
        """Product cells: wide enough for their "input×(weight)" line at the font it is drawn with."""
        w = self.walk
        assert w is not None
        fm = QFontMetrics(self._font(9))
        xs = (float(w.padded.max()), float(w.padded.min()))
        ws = (float(w.weight.max()), float(w.weight.min()))
        wide = max(fm.horizontalAdvance(f"{fmt(a)}×{_par(b)}") for a in xs for b in ws)
        return max(46.0, min(110.0, wide + 8.0)), 38.0

    def _layout(self) -> _Geom | None:
        w = self.walk
        if w is None:
            return None
        _c, hp, wp = w.padded.shape
        m, oh, ow = w.out_shape
        kh, kw = w.kernel
        cells = max(hp, wp)
        cell_in = max(7.0, min(34.0, 380.0 / cells, 760.0 / max(1, w.weight.shape[1] * hp)))
        cell_out = max(5.0, min(34.0, 300.0 / max(oh, ow), 900.0 / max(1, m * oh)))
        sw, sh = self._small_cell()
        per = w.weight.shape[1]  # slices per filter
        row_h = max(hp * cell_in, kh * sh + 26) + self.LABEL + self.GAP  # 26: the Σ line under the products
        x_in = 16.0
        x_filter = x_in + wp * cell_in + 40
        x_prod = x_filter + kw * self._filter_cell() + 40
        x_sum = x_prod  # each slice's Σ is written under its products
        x_eq = x_prod + kw * sw + 36
        x_out = x_eq + 210
        row_y = [self.TOP + k * row_h for k in range(per)]
        out_h = oh * cell_out + self.LABEL + self.GAP
        out_y = [self.TOP + k * out_h for k in range(m)]
        width = x_out + ow * cell_out + 30
        height = max(row_y[-1] + row_h, out_y[-1] + out_h, self.TOP + 200) + 10
        return _Geom(cell_in, cell_out, sw, sh, x_in, x_filter, x_prod, x_sum, x_eq, x_out, row_y, out_y, width,
                     height)

    # --- painting -------------------------------------------------------------------------------
    @staticmethod
    def _font(px: float, bold: bool = False) -> QFont:
        f = QFont()
        f.setPixelSize(max(7, int(px)))
        f.setBold(bold)
        return f

    def paintEvent(self, event: QPaintEvent) -> None:
        t = theme.current()
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        p.fillRect(self.rect(), t.c("base"))
        p.setBrush(Qt.BrushStyle.NoBrush)  # grid rectangles are outlines; fills use fillRect
        if self.walk is None or self._geom is None:
            p.setPen(t.c("error") if self.message else t.c("subtext"))
            p.setFont(self._font(13))
            p.drawText(QRectF(16, 16, max(300, self.width() - 32), 80), Qt.TextFlag.TextWordWrap,
                       self.message or "Nothing to show")
            p.end()
            return
        g, w, s = self._geom, self.walk, self.step
        base, text, sub = t.c("base"), t.c("text"), t.c("subtext")
        pos, neg = QColor("#e0605a"), QColor("#4a7fd4")
        grid_pen = QPen(t.c("node_border"), 1)
        accent = t.c("accent")
        m_cur = s.m if s is not None else 0
        channels = s.channels if s is not None else list(range(w.weight.shape[1]))

        # Column headers
        p.setFont(self._font(13, True))
        p.setPen(text)
        c_in, hh, ww = w.input.shape
        pad = w.pad
        pad_txt = "no padding" if not any(pad) else f"padding {pad[0]}" if len(set(pad)) == 1 else f"padding {pad}"
        heads = [
            (g.x_in, f"Input {c_in}×{hh}×{ww} ({pad_txt})"),
            (g.x_filter, f"Filter {m_cur + 1} of {w.out_shape[0]}"),
            (g.x_prod, "Input × weight, and their sum Σ"),
            (g.x_out, f"Output {w.out_shape[0]}×{w.out_shape[1]}×{w.out_shape[2]}"),
        ]
        for x, label in heads:
            p.drawText(QPointF(x, 18), label)
        p.setFont(self._font(11))
        p.setPen(sub)
        stride = w.stride[0] if w.stride[0] == w.stride[1] else f"{w.stride[0]}×{w.stride[1]}"
        p.drawText(QPointF(g.x_in, 34), f"window {w.kernel[0]}×{w.kernel[1]}, stride {stride}")
        n_sl = w.weight.shape[1]
        p.drawText(QPointF(g.x_filter, 34), f"{n_sl} slice{'s' if n_sl != 1 else ''} of {w.kernel[0]}×{w.kernel[1]}"
                   + (" + bias" if w.has_bias else ""))
        p.drawText(QPointF(g.x_out, 34), "one channel per filter")

        # One row per channel the filter sees
        for r, ch in enumerate(channels):
            y = g.row_y[r]
            p.setFont(self._font(11, True))
            p.setPen(text)
            p.drawText(QPointF(g.x_in, y + 14), f"channel {ch + 1}")
            self._grid_input(p, ch, g.x_in, y + self.LABEL, base, pos, neg, grid_pen, sub, text)
            p.setFont(self._font(11, True))
            p.setPen(text)
            p.drawText(QPointF(g.x_filter, y + 14), f"slice {r + 1}")
            self._grid_small(p, w.weight[m_cur, r], None, g.x_filter, y + self.LABEL, self._filter_cell(), g.small_h,
                             self._scale_w, base, pos, neg, grid_pen, text, sub)
            if s is not None:
                prods = s.products[r]
                scale = float(s.products.abs().max()) or 1.0
                self._grid_small(p, prods, (s.patch[r], s.weights[r]), g.x_prod, y + self.LABEL, g.small_w,
                                 g.small_h, scale, base, pos, neg, grid_pen, text, sub)
                p.setFont(self._font(14, True))
                p.setPen(text)
                below = y + self.LABEL + w.kernel[0] * g.small_h + 19
                p.drawText(QPointF(g.x_sum, below), f"Σ = {fmt(float(s.slice_sums[r]), 4)}")
            # the "×" between the input's window and the slice, to read the row as a sentence
            p.setFont(self._font(18, True))
            p.setPen(sub)
            p.drawText(QPointF(g.x_filter - 30, y + self.LABEL + w.kernel[0] * g.small_h / 2 + 6), "×")
            if s is not None:
                p.drawText(QPointF(g.x_prod - 28, y + self.LABEL + w.kernel[0] * g.small_h / 2 + 6), "=")

        # Bias under the last slice
        yb = g.row_y[len(channels) - 1] + self.LABEL + w.kernel[0] * g.small_h + 18
        p.setFont(self._font(12, True))
        p.setPen(text)
        p.drawText(QPointF(g.x_filter, yb), f"bias = {fmt(float(w.bias[m_cur]))}" if w.has_bias else "no bias")

        # The equation and the arrow to the output cell
        if s is not None:
            self._equation(p, s, g, text, sub, accent)

        # Outputs
        out = self.output
        for mm in range(w.out_shape[0]):
            y = g.out_y[mm]
            p.setFont(self._font(11, True))
            p.setPen(accent if mm == m_cur and s is not None else text)
            p.drawText(QPointF(g.x_out, y + 14), f"channel {mm + 1} (filter {mm + 1})")
            show_text = g.cell_out >= 22
            p.setFont(self._font(min(13, g.cell_out * 0.38)))
            for i in range(w.out_shape[1]):
                for j in range(w.out_shape[2]):
                    rect = self.output_cell_rect(mm, i, j)
                    v = float(out[mm, i, j]) if out is not None else float("nan")
                    p.fillRect(rect, _tint(v, self._scale_out, base, pos, neg))
                    p.setPen(grid_pen)
                    p.drawRect(rect)
                    if show_text and not math.isnan(v):
                        p.setPen(text)
                        p.drawText(rect, Qt.AlignmentFlag.AlignCenter, fmt(v))
        if s is not None:
            rect = self.output_cell_rect(s.m, s.i, s.j)
            p.setPen(QPen(accent, 3))
            p.setBrush(Qt.BrushStyle.NoBrush)
            p.drawRect(rect.adjusted(-1, -1, 1, 1))
        p.end()

    def _grid_input(self, p: QPainter, ch: int, x0: float, y0: float, base: QColor, pos: QColor, neg: QColor,
                    grid_pen: QPen, sub: QColor, text: QColor) -> None:
        w, g, s = self.walk, self._geom, self.step
        assert w is not None and g is not None
        cell = g.cell_in
        vals = w.padded[ch]
        border = w.border
        hp, wp = vals.shape
        show_text = cell >= 20
        p.setFont(self._font(min(13, cell * 0.4)))
        pad_brush = QBrush(QColor(sub.red(), sub.green(), sub.blue(), 70), Qt.BrushStyle.BDiagPattern)
        for i in range(hp):
            for j in range(wp):
                rect = QRectF(x0 + j * cell, y0 + i * cell, cell, cell)
                v = float(vals[i, j])
                if bool(border[i, j]):
                    p.fillRect(rect, theme.current().c("window"))
                    p.fillRect(rect, pad_brush)
                else:
                    p.fillRect(rect, _tint(v, self._scale_in, base, pos, neg))
                p.setPen(grid_pen)
                p.drawRect(rect)
                if show_text:
                    p.setPen(sub if bool(border[i, j]) else text)
                    p.drawText(rect, Qt.AlignmentFlag.AlignCenter, fmt(v))
        accent = theme.current().c("accent")
        for st, style, width in ((self.prev, Qt.PenStyle.DashLine, 1.5), (s, Qt.PenStyle.SolidLine, 3.0)):
            if st is None or ch not in st.channels or (st is self.prev and (s is None or st.m != s.m)):
                continue
            r = QRectF(x0 + st.cols[0] * cell, y0 + st.rows[0] * cell, (st.cols[-1] - st.cols[0] + 1) * cell,
                       (st.rows[-1] - st.rows[0] + 1) * cell)
            p.setBrush(Qt.BrushStyle.NoBrush)
            p.setPen(QPen(accent, width, style))
            p.drawRect(r)

    def _grid_small(self, p: QPainter, vals: torch.Tensor, factors: tuple[torch.Tensor, torch.Tensor] | None,
                    x0: float, y0: float, cw: float, ch: float, scale: float, base: QColor, pos: QColor,
                    neg: QColor, grid_pen: QPen, text: QColor, sub: QColor) -> None:
        kh, kw = vals.shape
        for i in range(kh):
            for j in range(kw):
                rect = QRectF(x0 + j * cw, y0 + i * ch, cw, ch)
                v = float(vals[i, j])
                p.fillRect(rect, _tint(v, scale, base, pos, neg))
                p.setPen(grid_pen)
                p.drawRect(rect)
                if factors is None:
                    p.setFont(self._font(13, True))
                    p.setPen(text)
                    p.drawText(rect, Qt.AlignmentFlag.AlignCenter, fmt(v))
                else:
                    a, b = float(factors[0][i, j]), float(factors[1][i, j])
                    p.setFont(self._font(9))
                    p.setPen(sub)
                    p.drawText(rect.adjusted(2, 1, -2, -ch / 2), Qt.AlignmentFlag.AlignCenter,
                               f"{fmt(a)}×{_par(b)}")
                    p.setFont(self._font(13, True))
                    p.setPen(text)
                    p.drawText(rect.adjusted(2, ch / 2 - 3, -2, -1), Qt.AlignmentFlag.AlignCenter, fmt(v))

    def _equation(self, p: QPainter, s: ConvStep, g: _Geom, text: QColor, sub: QColor, accent: QColor) -> None:
        sums = [float(v) for v in s.slice_sums]
        lines = []
        dg = 4  # more digits than the cells, so the sum checks out by hand
        if len(sums) <= 4:
            lines.append(" + ".join(_par(v, dg) for v in sums))
        else:
            lines.append(" + ".join(_par(v, dg) for v in sums[:2]) + " + …")
            lines.append(f"({len(sums)} slice sums) = {fmt(s.total, dg)}")
        lines.append(f"+ bias {_par(s.bias, dg)}" if self.walk is not None and self.walk.has_bias else "(no bias)")
        lines.append(f"= {fmt(s.value, dg)}")
        y0 = g.row_y[0] + self.LABEL
        p.setFont(self._font(12, True))
        p.setPen(text)
        p.drawText(QPointF(g.x_eq, y0 - 6), "Sum + bias")
        p.setFont(self._font(14))
        fm = QFontMetrics(self._font(14))
        box_w = 0.0
        for k, line in enumerate(lines):
            p.setFont(self._font(14, k == len(lines) - 1))
            p.drawText(QPointF(g.x_eq + 8, y0 + 22 + k * 22), line)
            box_w = max(box_w, fm.horizontalAdvance(line) + 20)
        box = QRectF(g.x_eq, y0 + 2, min(box_w, g.x_out - g.x_eq - 30), 14 + 22 * len(lines))
        p.setPen(QPen(accent, 1.5))
        p.setBrush(Qt.BrushStyle.NoBrush)
        p.drawRoundedRect(box, 5, 5)
        p.setFont(self._font(11))
        p.setPen(sub)
        p.drawText(QPointF(g.x_eq, box.bottom() + 16), f"→ output[{s.m + 1}][{s.i + 1}, {s.j + 1}]")
        # Arrow from the box to the output cell it lands in
        cell = self.output_cell_rect(s.m, s.i, s.j)
        a = QPointF(box.right(), box.center().y())
        b = QPointF(cell.left() - 3, cell.center().y())
        p.setPen(QPen(accent, 2))
        p.drawLine(a, b)
        d = b - a
        n = math.hypot(d.x(), d.y()) or 1.0
        ux, uy = d.x() / n, d.y() / n
        head = QPolygonF([b, QPointF(b.x() - 10 * ux + 5 * uy, b.y() - 10 * uy - 5 * ux),
                          QPointF(b.x() - 10 * ux - 5 * uy, b.y() - 10 * uy + 5 * ux)])
        p.setBrush(accent)
        p.drawPolygon(head)
        p.setBrush(Qt.BrushStyle.NoBrush)

    def mousePressEvent(self, event: QMouseEvent) -> None:
        w, g = self.walk, self._geom
        if w is None or g is None or event.button() != Qt.MouseButton.LeftButton:
            super().mousePressEvent(event)
            return
        pt = event.position()
        m, oh, ow = w.out_shape
        for mm in range(m):
            top = g.out_y[mm] + self.LABEL
            if g.x_out <= pt.x() < g.x_out + ow * g.cell_out and top <= pt.y() < top + oh * g.cell_out:
                i = int((pt.y() - top) // g.cell_out)
                j = int((pt.x() - g.x_out) // g.cell_out)
                self.cell_clicked.emit(mm * oh * ow + i * ow + j)
                return
        super().mousePressEvent(event)


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
        self._layer: dict[str, Any] | None = None  # sizes of a canvas layer (pairs kept as given)
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
        layer = {"C": int(c), "H": int(h), "W": int(w), "k": pair(p["kernel_size"]), "stride": pair(p["stride"]),
                 "padding": p["padding"], "M": int(p["out_channels"]), "dilation": pair(p.get("dilation", 1)),
                 "groups": int(p.get("groups", 1)), "bias": bool(p.get("bias", True)), "node": node_id}
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
            self.arith.setText("<pre style='margin:0'>" + _formula_html(s, w.has_bias) + "</pre>")
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

    def keyPressEvent(self, event: Any) -> None:
        key = event.key()
        if key == Qt.Key.Key_Right:
            self.step()
        elif key == Qt.Key.Key_Left:
            self.back()
        elif key == Qt.Key.Key_Space:
            self.pause() if self.playing else self.play()
        else:
            super().keyPressEvent(event)

    def closeEvent(self, event: Any) -> None:
        self.timer.stop()
        super().closeEvent(event)


def _formula_html(s: ConvStep, has_bias: bool) -> str:
    """The whole arithmetic of one step: per slice, one line per kernel row, then the total. Four
    decimals here (two in the cells) so the sums check out by hand."""
    import html

    lines = []
    for r, ch in enumerate(s.channels):
        patch, weights = s.patch[r].tolist(), s.weights[r].tolist()
        rows = [" + ".join(f"{fmt(a, 4)}×{_par(b, 4)}" for a, b in zip(pr, wr, strict=True))
                for pr, wr in zip(patch, weights, strict=True)]
        head = f"channel {ch + 1}: "
        lines.append(head + ("\n" + " " * len(head) + "+ ").join(rows) + f"  = {fmt(float(s.slice_sums[r]), 4)}")
    sums = " + ".join(_par(float(v), 4) for v in s.slice_sums)
    bias = f" + bias {_par(s.bias, 4)}" if has_bias else ""
    lines.append(f"output[{s.m + 1}][{s.i + 1}, {s.j + 1}] = {sums}{bias} = {fmt(s.value, 4)}")
    return html.escape("\n".join(lines))


# --- integration ------------------------------------------------------------------------------

def open_conv_walk(window: Any, node_id: str) -> ConvWalkView | None:
    """Open the walk-through for canvas node ``node_id`` in its own window (the canvas context menu's
    "Open convolution walk-through"). Uses the last trained model and a test image when
    :func:`install` has seen a training run finish; reports problems in the status bar."""
    model, image = getattr(window, "teaching_model", None), getattr(window, "teaching_image", None)
    if model is not None:
        # A copy: reading it switches it to eval mode for a moment, which must not touch a model that
        # a training run may be using.
        model = copy.deepcopy(model)
    try:
        view = ConvWalkView.from_layer(window.document, node_id, model, image)
    except ConvWalkError as e:
        if hasattr(window, "status"):
            window.status(str(e), True)
        return None
    except Exception as e:  # a model from an older network no longer fits: fall back to the sizes only
        if model is None:
            raise
        view = ConvWalkView.from_layer(window.document, node_id)
        if hasattr(window, "status"):
            window.status(f"Showing {node_id}'s sizes only: the trained model does not fit the network now ({e})",
                          True)
    view.setParent(window, Qt.WindowType.Window)
    view.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    view.setWindowTitle(f"Convolution walk-through — {node_id}")
    view.resize(1280, 820)
    view.show()
    window._conv_walk_views = [*getattr(window, "_conv_walk_views", []), view]
    view.destroyed.connect(lambda *_: setattr(window, "_conv_walk_views",
                                              [v for v in getattr(window, "_conv_walk_views", []) if v is not view]))
    return view


def is_convolution_node(document: Document, node_id: str) -> bool:
    """Whether the context menu should offer the walk-through for ``node_id``."""
    return node_id in document.graph and is_convolution(REGISTRY[document.graph.node(node_id).type])


def install(window: Any, training_panel: Any = None) -> None:
    """Tools menu: "Convolution walk-through" (the classic example, or the selected conv layer).
    With a training panel, remember its model and a test image after each run so the walk-through
    opens with real weights on a real input."""
    def open_from_menu() -> None:
        ids = window.document.selected_ids()
        if len(ids) == 1 and is_convolution_node(window.document, ids[0]):
            open_conv_walk(window, ids[0])
            return
        view = ConvWalkView()
        view.setParent(window, Qt.WindowType.Window)
        view.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        view.resize(1280, 820)
        view.show()

    act = window.menu("Tools").addAction("Convolution walk-through…")
    act.setToolTip("Play a convolution step by step (the selected Conv2d layer, or the classic example)")
    act.triggered.connect(lambda _=False: open_from_menu())
    if training_panel is not None:
        follow_training(window, training_panel)


def follow_training(window: Any, panel: Any) -> None:
    """After a training run of ``panel`` finishes or stops, keep its model and the first test image
    (prepared as for training) on ``window`` for the teaching views."""
    from netbuilder.core.train.data import prepare_images
    from netbuilder.core.train.events import FinishedEvent, StoppedEvent

    def on_event(event: object) -> None:
        if not isinstance(event, FinishedEvent | StoppedEvent):
            return
        trainer = getattr(panel, "trainer", None)
        if trainer is None:
            return
        window.teaching_model = trainer.model
        ds = trainer.dataset
        try:
            window.teaching_image = prepare_images(ds.test_x[:1], ds, trainer.input_shape, trainer.config.fit_input,
                                                   next(trainer.model.parameters()).device)
        except Exception:  # an image that cannot be fitted: the views fall back to a random input
            window.teaching_image = None

    panel.event_received.connect(on_event)
