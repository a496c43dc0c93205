"""The gradient panel's scales and rows: the absolute log colour scale of gradient norms (shared by
the table's bars, the canvas tint and its legend), the log axis of the flow chart, and the table's
rows built from a :class:`~netbuilder.core.train.events.GradStatsEvent`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import pairwise

import pyqtgraph as pg
from netbuilder.core.inspect.health import EXPLODING, VANISHING
from netbuilder.core.train.events import GradStatsEvent
from netbuilder.gui import theme
from PySide6.QtCore import QEvent, QObject, QPointF, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QFont, QFontMetrics, QLinearGradient, QMoveEvent, QPainter, QPaintEvent, QShowEvent
from PySide6.QtWidgets import QWidget

# The colour scale is absolute, so a colour means the same thing in every network and every run.
LOG_LO, LOG_HI = -8.0, 3.0
_STOPS = ((-8.0, "#3b4cc0"), (-7.0, "#4f6fd8"), (-5.0, "#8fb4f0"), (-3.0, "#7cc49a"), (0.0, "#3aa163"),
          (1.5, "#e9c43f"), (2.5, "#ef8a3a"), (3.0, "#d62728"))
NON_FINITE = "#9b1b8c"


def norm_colour(value: float) -> QColor:
    """The colour of a gradient norm on the absolute log scale (:data:`LOG_LO` … :data:`LOG_HI`)."""
    if not math.isfinite(value):
        return QColor(NON_FINITE)
    x = math.log10(value) if value > 0 else LOG_LO
    x = min(LOG_HI, max(LOG_LO, x))
    for (x0, c0), (x1, c1) in pairwise(_STOPS):
        if x <= x1:
            t = (x - x0) / (x1 - x0) if x1 > x0 else 0.0
            a, b = QColor(c0), QColor(c1)
            return QColor.fromRgbF(a.redF() + (b.redF() - a.redF()) * t, a.greenF() + (b.greenF() - a.greenF()) * t,
                                   a.blueF() + (b.blueF() - a.blueF()) * t)
    return QColor(_STOPS[-1][1])


def fmt(v: float) -> str:
    """A norm or ratio as text: 4 significant digits, scientific when small or large."""
    if not math.isfinite(v):
        return str(v)
    if v == 0:
        return "0"
    return f"{v:.4g}" if 1e-3 <= abs(v) < 1e4 else f"{v:.3e}"


@dataclass
class Row:
    """One row of the table: a tensor, or a layer when weight and bias are collapsed."""

    name: str
    layer: str
    order: int
    grad: float
    weight: float
    ratio: float
    tensors: tuple[str, ...]


def rows_of(event: GradStatsEvent, collapse: bool) -> list[Row]:
    """Table rows for ``event``; ``collapse`` combines each layer's tensors (norms add in squares, the
    ratio is ‖Δw‖/‖w‖ over all of them)."""
    rows = [Row(n, layer or n.rsplit(".", 1)[0], i, g, w, r, (n,)) for i, (n, layer, g, w, r) in
            enumerate(zip(event.names, event.layers, event.grad_norms, event.weight_norms, event.update_ratios,
                          strict=False))]
    if not collapse:
        return rows
    groups: dict[str, list[Row]] = {}
    for r in rows:
        groups.setdefault(r.layer, []).append(r)
    out = []
    for i, (layer, rs) in enumerate(groups.items()):
        g2 = sum(r.grad ** 2 for r in rs)
        w2 = sum(r.weight ** 2 for r in rs)
        d2 = sum((r.ratio * r.weight) ** 2 for r in rs)
        grad = math.sqrt(g2) if all(math.isfinite(r.grad) for r in rs) else math.inf
        weight = math.sqrt(w2)
        out.append(Row(layer, layer, i, grad, weight, math.sqrt(d2) / weight if weight > 0 else 0.0,
                       tuple(r.name for r in rs)))
    return out


def sort_rows(rows: list[Row], key: str) -> list[Row]:
    """Sort by ``"order"``, ``"name"``, ``"norm"`` (largest first), ``"norm_up"`` or ``"ratio"``."""
    def finite(v: float) -> float:
        return v if math.isfinite(v) else math.inf

    if key == "name":
        return sorted(rows, key=lambda r: r.name)
    if key == "norm":
        return sorted(rows, key=lambda r: -finite(r.grad))
    if key == "norm_up":
        return sorted(rows, key=lambda r: finite(r.grad))
    if key == "ratio":
        return sorted(rows, key=lambda r: -finite(r.ratio))
    return sorted(rows, key=lambda r: r.order)


class GradientLegend(QWidget):
    """The tint colour scale: a gradient bar from 1e-8 to 1e3 with what the ends mean. Shown over the
    canvas's bottom-right corner; it keeps itself there when the canvas is resized."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setFixedSize(self.sizeHint())
        self.setToolTip(f"Canvas tint: each layer's gradient L2 norm (weight and bias together) at the last "
                        f"statistics step. Vanishing below {VANISHING:g}, exploding above {EXPLODING:g}.")
        self._watched: QObject | None = None

    def sizeHint(self) -> QSize:
        fm = QFontMetrics(self._font())
        return QSize(max(320, fm.horizontalAdvance("1e-8") * 8), fm.height() * 3 + 26)

    def _font(self) -> QFont:
        f = QFont(self.font())
        f.setPointSizeF(8)
        return f

    def event(self, e: QEvent) -> bool:
        if e.type() == QEvent.Type.ParentChange:
            if self._watched is not None:
                self._watched.removeEventFilter(self)
            self._watched = self.parentWidget()
            if self._watched is not None:
                self._watched.installEventFilter(self)
                self._place()
        return super().event(e)

    def eventFilter(self, obj: QObject, e: QEvent) -> bool:
        if obj is self._watched and e.type() == QEvent.Type.Resize:
            self._place()
        return False

    def _place(self) -> None:
        parent = self.parentWidget()
        if parent is not None:
            self.move(parent.width() - self.width() - 12, parent.height() - self.height() - 12)

    def moveEvent(self, e: QMoveEvent) -> None:
        # A graphics view's viewport scrolls its child widgets along with the scene when it pans
        # (QWidget.scroll); put the legend back in the corner.
        super().moveEvent(e)
        parent = self.parentWidget()
        if parent is not None and (self.x() + self.width() + 12 != parent.width()
                                   or self.y() + self.height() + 12 != parent.height()):
            self._place()

    def showEvent(self, e: QShowEvent) -> None:
        super().showEvent(e)
        self._place()

    def paintEvent(self, event: QPaintEvent) -> None:
        t = theme.current()
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        p.setBrush(QColor(t.base))
        p.setPen(QColor(t.node_border))
        p.drawRoundedRect(QRectF(self.rect()).adjusted(0.5, 0.5, -0.5, -0.5), 5, 5)
        f = self._font()
        p.setFont(f)
        lh = QFontMetrics(f).height()
        pad = 10.0
        p.setPen(QColor(t.text))
        p.drawText(QRectF(pad, 4, self.width() - 2 * pad, lh), Qt.AlignmentFlag.AlignLeft,
                   "Canvas tint: gradient norm per layer (log scale)")
        bar = QRectF(pad + 12, 6 + lh, self.width() - 2 * pad - 24, 10)
        grad = QLinearGradient(bar.left(), 0, bar.right(), 0)
        for x, c in _STOPS:
            grad.setColorAt((x - LOG_LO) / (LOG_HI - LOG_LO), QColor(c))
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(grad)
        p.drawRect(bar)
        p.setPen(QColor(t.text))
        for e in (-8, -6, -4, -2, 0, 2):
            x = bar.left() + bar.width() * (e - LOG_LO) / (LOG_HI - LOG_LO)
            p.drawLine(QPointF(x, bar.bottom()), QPointF(x, bar.bottom() + 3))
            p.drawText(QRectF(x - 24, bar.bottom() + 3, 48, lh), Qt.AlignmentFlag.AlignHCenter, f"1e{e:+d}")
        p.setPen(QColor(t.subtext))
        low = QRectF(pad, bar.bottom() + 4 + lh, self.width() - 2 * pad, lh)
        p.drawText(low, Qt.AlignmentFlag.AlignLeft, "◀ vanishing")
        p.drawText(low, Qt.AlignmentFlag.AlignHCenter, "healthy")
        p.drawText(low, Qt.AlignmentFlag.AlignRight, "exploding ▶")
        p.end()


class LogAxis(pg.AxisItem):
    """A y axis for curves plotted as log10(value): ticks on whole decades, labelled 1e-3, 1e+0 …
    (pyqtgraph's own log mode labels the minor ticks too, which overlap)."""

    def tickValues(self, minVal: float, maxVal: float, size: float) -> list[tuple[float, list[float]]]:
        lo, hi = math.floor(minVal), math.ceil(maxVal)
        step = max(1, math.ceil((hi - lo) / 6))
        major = [float(v) for v in range(lo, hi + 1, step) if minVal <= v <= maxVal]
        if len(major) < 2:  # less than a decade shown: add the 2× and 5× values
            major = sorted(set(major) | {math.log10(m) + d for d in range(lo - 1, hi + 1) for m in (2, 5)
                                          if minVal <= math.log10(m) + d <= maxVal})
        return [(1.0, major)]

    def tickStrings(self, values: list[float], scale: float, spacing: float) -> list[str]:
        return [f"1e{round(v):+d}" if abs(v - round(v)) < 1e-9 else f"{10 ** v:.2g}" for v in values]


# A qualitative palette (matplotlib's tab10) reads better than evenly spaced hues for a few lines.
LINE_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
                "#bcbd22", "#17becf")
