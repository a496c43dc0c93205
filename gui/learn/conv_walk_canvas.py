"""The painting half of the convolution walk-through: :class:`WalkCanvas` draws a
:class:`~netbuilder.core.learn.conv_walk.ConvWalk` at its current step, and the number formatting
shared with the view's arithmetic line (:func:`fmt`, :func:`par`, :func:`formula_html`).

Left to right, one row per input channel: the input channel (padding drawn as a hatched border
of zeros, the window as a thick frame, the previous window dashed so the stride shows), the
current filter's slice for that channel, the element-wise products (each cell reads
``input × weight`` above the product) and the slice's sum. Then the sum of the slice sums plus the
bias, with an arrow to the output cell it lands in; one output channel per filter, filled as the
walk goes on. Clicking an output cell emits :attr:`WalkCanvas.cell_clicked` with its step.
"""

from __future__ import annotations

import html
import math
from dataclasses import dataclass

import torch
from netbuilder.core.learn.conv_walk import ConvStep, ConvWalk
from netbuilder.gui import theme
from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QFont, QFontMetrics, QMouseEvent, QPainter, QPaintEvent, QPen, QPolygonF
from PySide6.QtWidgets import QSizePolicy, QWidget

MINUS = "−"


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


def par(v: float, decimals: int = 2) -> str:
    """A number inside a sum: negatives in brackets so ``3 + (−2)`` reads right."""
    s = fmt(v, decimals)
    return f"({s})" if v < 0 else s


def tint(value: float, scale: float, base: QColor, pos: QColor, neg: QColor) -> QColor:
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
        wide = max(fm.horizontalAdvance(f"{fmt(a)}×{par(b)}") for a in xs for b in ws)
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
                    p.fillRect(rect, tint(v, self._scale_out, base, pos, neg))
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
                    p.fillRect(rect, tint(v, self._scale_in, base, pos, neg))
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
                p.fillRect(rect, tint(v, scale, base, pos, neg))
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
                               f"{fmt(a)}×{par(b)}")
                    p.setFont(self._font(13, True))
                    p.setPen(text)
                    p.drawText(rect.adjusted(2, ch / 2 - 3, -2, -1), Qt.AlignmentFlag.AlignCenter, fmt(v))

    def _equation(self, p: QPainter, s: ConvStep, g: _Geom, text: QColor, sub: QColor, accent: QColor) -> None:
        sums = [float(v) for v in s.slice_sums]
        lines = []
        dg = 4  # more digits than the cells, so the sum checks out by hand
        if len(sums) <= 4:
            lines.append(" + ".join(par(v, dg) for v in sums))
        else:
            lines.append(" + ".join(par(v, dg) for v in sums[:2]) + " + …")
            lines.append(f"({len(sums)} slice sums) = {fmt(s.total, dg)}")
        lines.append(f"+ bias {par(s.bias, dg)}" if self.walk is not None and self.walk.has_bias else "(no bias)")
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


def formula_html(s: ConvStep, has_bias: bool) -> str:
    """The whole arithmetic of one step: per slice, one line per kernel row, then the total. Four
    decimals here (two in the cells) so the sums check out by hand."""
    lines = []
    for r, ch in enumerate(s.channels):
        patch, weights = s.patch[r].tolist(), s.weights[r].tolist()
        rows = [" + ".join(f"{fmt(a, 4)}×{par(b, 4)}" for a, b in zip(pr, wr, strict=True))
                for pr, wr in zip(patch, weights, strict=True)]
        head = f"channel {ch + 1}: "
        lines.append(head + ("\n" + " " * len(head) + "+ ").join(rows) + f"  = {fmt(float(s.slice_sums[r]), 4)}")
    sums = " + ".join(par(float(v), 4) for v in s.slice_sums)
    bias = f" + bias {par(s.bias, 4)}" if has_bias else ""
    lines.append(f"output[{s.m + 1}][{s.i + 1}, {s.j + 1}] = {sums}{bias} = {fmt(s.value, 4)}")
    return html.escape("\n".join(lines))
