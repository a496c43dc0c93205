"""Live training curves (pyqtgraph): loss per step (raw and smoothed), accuracy and loss per epoch,
and the learning rate.

Events are only *buffered* when they arrive (a list append); a QTimer redraws the curves that changed
at most :data:`REDRAW_HZ` times a second, however fast the steps come, so plotting costs the GUI thread
the same at 20 steps/s as at 2000. Each plot has axis titles with units, a legend, and a read-out of
the values under the mouse. The plots follow the theme (:func:`netbuilder.gui.theme.style_plot`), and
each series has a light and a dark colour.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pyqtgraph as pg
from netbuilder.core.train.events import EpochEvent, StepEvent
from netbuilder.gui import theme
from PySide6.QtCore import QPointF, Qt, QTimer, Signal
from PySide6.QtWidgets import QGridLayout, QLabel, QVBoxLayout, QWidget

REDRAW_HZ = 12
SMOOTHING = 0.95  # exponential moving average weight, bias-corrected (as TensorBoard does)

_COLORS = {
    "raw": (120, 160, 220, 110),
    "smooth": (25, 90, 200),
    "train": (25, 90, 200),
    "test": (220, 110, 20),
    "lr": (40, 150, 80),
}
# brighter on the dark background, where the dark blue and green above nearly vanish
_COLORS_DARK = {
    "raw": (120, 160, 220, 90),
    "smooth": (110, 170, 255),
    "train": (110, 170, 255),
    "test": (255, 150, 60),
    "lr": (100, 210, 130),
}


def series_color(key: str, t: theme.Theme | None = None) -> tuple[int, ...]:
    """The colour of the series ``key`` in theme ``t`` (the current one by default)."""
    return (_COLORS_DARK if (t or theme.current()).dark else _COLORS)[key]


def ema(values: Sequence[float], weight: float = SMOOTHING) -> list[float]:
    """Bias-corrected exponential moving average (the first values are not dragged toward 0).
    Non-finite values are skipped (the previous average is repeated)."""
    out: list[float] = []
    acc, norm = 0.0, 0.0
    for v in values:
        if math.isfinite(v):
            acc = weight * acc + (1 - weight) * v
            norm = weight * norm + (1 - weight)
        out.append(acc / norm if norm > 0 else float("nan"))
    return out


class _Plot(QWidget):
    """One titled pyqtgraph plot with a legend and a hover read-out line under it."""

    def __init__(self, title: str, x_label: str, x_units: str | None, y_label: str, y_units: str | None,
                 parent: QWidget | None = None, grid: bool = True) -> None:
        super().__init__(parent)
        self.widget = pg.PlotWidget(background=None)
        self.widget.setMinimumSize(220, 150)
        item = self.widget.getPlotItem()
        item.setTitle(title, size="10pt")
        item.setLabel("bottom", x_label, units=x_units)
        item.setLabel("left", y_label, units=y_units)
        for axis in ("bottom", "left"):
            item.getAxis(axis).enableAutoSIPrefix(False)
        if grid:  # the grid is painted by the axes: a plot redrawn many times a second goes without
            item.showGrid(x=True, y=True, alpha=0.2)
        item.setMenuEnabled(False)
        item.getViewBox().setMouseEnabled(x=False, y=False)  # ranges are managed; no accidental drags
        self.legend = item.addLegend(offset=(-6, 6), labelTextSize="8pt")
        self.readout = QLabel(" ")
        self.readout.setObjectName("plot_readout")
        self.readout.setStyleSheet("color: palette(placeholder-text); font-size: 8pt;")
        self.readout.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self._cursor = pg.InfiniteLine(angle=90, movable=False, pen=pg.mkPen((128, 128, 128, 120), width=1))
        self._cursor.setVisible(False)
        item.addItem(self._cursor, ignoreBounds=True)
        self.series: list[tuple[str, pg.PlotDataItem, str]] = []  # (name, item, format)
        self._styles: list[tuple[pg.PlotDataItem, str, float, Qt.PenStyle, bool]] = []  # to re-colour
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(0)
        lay.addWidget(self.widget, 1)
        lay.addWidget(self.readout)
        self.x_name = x_label
        self.widget.scene().sigMouseMoved.connect(self._on_mouse_moved)
        theme.style_plot(self.widget)
        theme.hub().changed.connect(self._on_theme)  # bound: dies with this object

    def _on_theme(self, t: theme.Theme) -> None:
        theme.style_plot(self.widget, t)
        hint = getattr(self, "_hint", None)
        if hint is not None:
            hint.setColor(t.subtext)
        for curve, key, width, style, symbol in self._styles:
            color = series_color(key, t)
            curve.setPen(pg.mkPen(color, width=width, style=style))
            if symbol:
                curve.setSymbolBrush(color)
        self.legend.update()  # its samples are drawn from the curves' pens

    @property
    def item(self) -> pg.PlotItem:
        return self.widget.getPlotItem()

    def set_placeholder(self, text: str, empty_y: tuple[float, float]) -> None:
        """A hint in the middle of the empty plot (hidden once it has points), whose y axis then spans
        ``empty_y``."""
        self.empty_y = empty_y
        self._hint = pg.TextItem(text, color=theme.current().subtext, anchor=(0.5, 0.5))
        self.item.getViewBox().addItem(self._hint, ignoreBounds=True)
        self._hint.setPos(0.5, sum(empty_y) / 2)

    def hide_placeholder(self, hidden: bool) -> None:
        hint = getattr(self, "_hint", None)
        if hint is not None:
            hint.setVisible(not hidden)

    def add_series(self, name: str, key: str, width: float = 1.5, symbol: str | None = None,
                   fmt: str = "{:.4g}", style: Qt.PenStyle = Qt.PenStyle.SolidLine,
                   antialias: bool = True) -> pg.PlotDataItem:
        """A curve coloured as the series ``key`` of the theme (see :func:`series_color`)."""
        color = series_color(key)
        pen = pg.mkPen(color, width=width, style=style)
        kw = {"symbol": symbol, "symbolSize": 6, "symbolBrush": color, "symbolPen": None} if symbol else {}
        curve = self.item.plot([], [], pen=pen, name=name, antialias=antialias, **kw)
        curve.setClipToView(True)
        curve.setDownsampling(auto=True, method="peak")
        self.series.append((name, curve, fmt))
        self._styles.append((curve, key, width, style, symbol is not None))
        return curve

    def _on_mouse_moved(self, pos: QPointF) -> None:
        vb = self.item.getViewBox()
        if not self.item.sceneBoundingRect().contains(pos):
            self._cursor.setVisible(False)
            self.readout.setText(" ")
            return
        x = vb.mapSceneToView(pos).x()
        self.readout.setText(self.readout_at(x))
        self._cursor.setPos(x)
        self._cursor.setVisible(True)

    def readout_at(self, x: float) -> str:
        """The values of every series at the data point nearest to ``x`` ("step 120: loss 0.41 ...")."""
        parts: list[str] = []
        at: float | None = None
        for name, curve, fmt in self.series:
            xs, ys = curve.xData, curve.yData
            if xs is None or len(xs) == 0:
                continue
            i = int(np.clip(np.searchsorted(xs, x), 0, len(xs) - 1))
            if i > 0 and abs(xs[i - 1] - x) < abs(xs[i] - x):
                i -= 1
            at = float(xs[i]) if at is None else at
            parts.append(f"{name} {fmt.format(float(ys[i]))}")
        if at is None:
            return " "
        return f"{self.x_name} {at:g}:  " + "   ".join(parts)


class TrainingPlots(QWidget):
    """The four live plots. Feed it events with :meth:`add_event` (cheap), or whole histories with
    :meth:`load_history` (checkpoint resume); it redraws on its own timer."""

    redrawn = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        pg.setConfigOptions(antialias=True)
        # The step plots change many times a second, so they are made cheap to repaint: no grid (the
        # axes paint it, and would then repaint with every curve update), fixed x range (the whole run)
        # and a y range that only grows, so the axes are re-laid out only when the run's length or
        # the loss's maximum changes; the dense raw curve is not antialiased.
        self.loss_plot = _Plot("Training loss per step", "step", None, "loss", None, grid=False)
        self.loss_raw = self.loss_plot.add_series("loss", "raw", 1.0, fmt="{:.4f}", antialias=False)
        self.loss_smooth = self.loss_plot.add_series("smoothed", "smooth", 2.0, fmt="{:.4f}")
        self.acc_plot = _Plot("Accuracy per epoch", "epoch", None, "accuracy", "%")
        # the train figures are averages over the epoch's steps (the weights kept changing), which is
        # why they can sit below the test figures after the first epoch
        self.train_acc = self.acc_plot.add_series("train (epoch avg)", "train", 2.0, "o", "{:.2f} %")
        self.test_acc = self.acc_plot.add_series("test", "test", 2.0, "s", "{:.2f} %")
        self.epoch_loss_plot = _Plot("Loss per epoch", "epoch", None, "loss", None)
        self.train_loss = self.epoch_loss_plot.add_series("train (epoch avg)", "train", 2.0, "o", "{:.4f}")
        self.test_loss = self.epoch_loss_plot.add_series("test", "test", 2.0, "s", "{:.4f}")
        self.lr_plot = _Plot("Learning rate", "step", None, "learning rate", None, grid=False)
        self.lr_curve = self.lr_plot.add_series("lr", "lr", 2.0, fmt="{:.3g}")
        for p in (self.acc_plot, self.epoch_loss_plot):
            p.item.getAxis("bottom").setTickSpacing(major=1, minor=1)
            p.item.setXRange(0, 1, padding=0)
            p.set_placeholder("measured on the test set\nat the end of each epoch",
                              (0.0, 100.0) if p is self.acc_plot else (0.0, 1.0))

        grid = QGridLayout(self)
        grid.setContentsMargins(0, 0, 0, 0)
        grid.setSpacing(6)
        grid.addWidget(self.loss_plot, 0, 0)
        grid.addWidget(self.acc_plot, 0, 1)
        grid.addWidget(self.epoch_loss_plot, 1, 0)
        grid.addWidget(self.lr_plot, 1, 1)

        self.steps: list[float] = []
        self.losses: list[float] = []
        self.smoothed: list[float] = []
        self.lrs: list[float] = []
        self.epochs: list[float] = []
        self.epoch_values: dict[str, list[float]] = {"train_acc": [], "test_acc": [], "train_loss": [],
                                                     "test_loss": []}
        self._ema = (0.0, 0.0)
        self.total_steps = 0  # the run's planned steps (x range of the step plots)
        self._loss_max = 0.0
        self._lr_max = 0.0
        self._ranges: tuple[float, float, float] = (-1.0, -1.0, -1.0)
        self._dirty_steps = False
        self._dirty_epochs = False
        self.redraw_count = 0
        self._timer = QTimer(self)
        self._timer.setInterval(int(1000 / REDRAW_HZ))
        self._timer.timeout.connect(self._on_timer)
        self._timer.start()
        self._dirty_epochs = True
        self.flush()
        self.redraw_count = 0

    # ---------------------------------------------------------------- data in
    def clear(self) -> None:
        """Forget every point (a new run)."""
        self.steps.clear()
        self.losses.clear()
        self.smoothed.clear()
        self.lrs.clear()
        self.epochs.clear()
        for v in self.epoch_values.values():
            v.clear()
        self._ema = (0.0, 0.0)
        self.total_steps = 0
        self._loss_max = self._lr_max = 0.0
        self._ranges = (-1.0, -1.0, -1.0)
        self._dirty_steps = self._dirty_epochs = True
        self.flush()

    def add_step(self, global_step: int, loss: float, lr: float, total_steps: int = 0) -> None:
        self.steps.append(float(global_step))
        self.losses.append(loss if math.isfinite(loss) else float("nan"))
        self.total_steps = max(self.total_steps, total_steps, global_step)
        if math.isfinite(lr):
            self._lr_max = max(self._lr_max, lr)
        acc, norm = self._ema
        if math.isfinite(loss):
            self._loss_max = max(self._loss_max, loss)
            acc = SMOOTHING * acc + (1 - SMOOTHING) * loss
            norm = SMOOTHING * norm + (1 - SMOOTHING)
            self._ema = (acc, norm)
        self.smoothed.append(acc / norm if norm > 0 else float("nan"))
        self.lrs.append(lr)
        self._dirty_steps = True

    def add_epoch(self, epoch: int, train_loss: float, train_acc: float, test_loss: float, test_acc: float) -> None:
        self.epochs.append(float(epoch))
        ev = self.epoch_values
        ev["train_acc"].append(100.0 * train_acc)
        ev["test_acc"].append(100.0 * test_acc)
        ev["train_loss"].append(train_loss)
        ev["test_loss"].append(test_loss)
        self._dirty_epochs = True

    def add_event(self, ev: object) -> None:
        """Buffer one train event (others than steps and epochs are ignored)."""
        if isinstance(ev, StepEvent):
            self.add_step(ev.global_step, ev.loss, ev.lr, ev.total_steps)
        elif isinstance(ev, EpochEvent):
            self.add_epoch(ev.epoch, ev.train_loss, ev.train_accuracy, ev.test_loss, ev.test_accuracy)

    def load_history(self, history: dict[str, list[float]]) -> None:
        """Replace the curves with a trainer's history (a resumed run continues from there)."""
        self.clear()
        for i, (loss, lr) in enumerate(zip(history.get("step_loss", []), history.get("lr", []), strict=False)):
            self.add_step(i + 1, loss, lr)
        cols = [history.get(k, []) for k in ("train_loss", "train_accuracy", "test_loss", "test_accuracy")]
        for e, (tl, ta, vl, va) in enumerate(zip(*cols, strict=False)):
            self.add_epoch(e + 1, tl, ta, vl, va)
        self.flush()

    # ---------------------------------------------------------------- drawing
    def _on_timer(self) -> None:
        if (self._dirty_steps or self._dirty_epochs) and self.isVisible():
            self.flush()

    def flush(self) -> None:
        """Redraw the changed curves now."""
        if self._dirty_steps:
            x = np.asarray(self.steps, dtype=float)
            self.loss_raw.setData(x, np.asarray(self.losses, dtype=float), connect="finite")
            self.loss_smooth.setData(x, np.asarray(self.smoothed, dtype=float), connect="finite")
            self.lr_curve.setData(x, np.asarray(self.lrs, dtype=float))
            self._update_step_ranges()
            self._dirty_steps = False
        if self._dirty_epochs:
            x = np.asarray(self.epochs, dtype=float)
            ev = self.epoch_values
            self.train_acc.setData(x, np.asarray(ev["train_acc"]))
            self.test_acc.setData(x, np.asarray(ev["test_acc"]))
            self.train_loss.setData(x, np.asarray(ev["train_loss"]))
            self.test_loss.setData(x, np.asarray(ev["test_loss"]))
            for p in (self.acc_plot, self.epoch_loss_plot):
                p.hide_placeholder(bool(self.epochs))
            lo = min(ev["train_acc"] + ev["test_acc"], default=0.0)
            # zoom in on the interesting band once accuracies are high, but never hide 100 %
            self.acc_plot.item.setYRange(max(0.0, min(lo, 90.0) - 5.0) if self.epochs else 0.0, 100, padding=0.02)
            if self.epochs:
                self.acc_plot.item.setXRange(0.5, max(self.epochs) + 0.5, padding=0)
                self.epoch_loss_plot.item.setXRange(0.5, max(self.epochs) + 0.5, padding=0)
                finite = [v for v in ev["train_loss"] + ev["test_loss"] if math.isfinite(v)]
                self.epoch_loss_plot.item.setYRange(0, max(finite, default=1.0) * 1.15 or 1.0, padding=0)
            else:
                for p in (self.acc_plot, self.epoch_loss_plot):
                    p.item.setXRange(0, 1, padding=0)
                    p.item.setYRange(*p.empty_y, padding=0)
            self._dirty_epochs = False
        self.redraw_count += 1
        self.redrawn.emit()

    def _update_step_ranges(self) -> None:
        """Set the step plots' ranges only when they must change (each change re-lays out the axes)."""
        if not self.steps:
            return
        total = float(max(1, self.total_steps))
        top_loss, top_lr = self._ranges[1], self._ranges[2]
        if self._loss_max > top_loss or top_loss <= 0:
            top_loss = self._loss_max * 1.08 or 1.0
        if self._lr_max > top_lr or top_lr <= 0:
            top_lr = self._lr_max * 1.1 or 1.0  # from 0: a constant rate is a flat line at its value
        if (total, top_loss, top_lr) != self._ranges:
            self._ranges = (total, top_loss, top_lr)
            for plot in (self.loss_plot, self.lr_plot):
                plot.item.setXRange(0, total, padding=0.01)
            self.loss_plot.item.setYRange(0, top_loss, padding=0)
            self.lr_plot.item.setYRange(0, top_lr, padding=0)

    def point_counts(self) -> dict[str, int]:
        """How many points each curve shows (for tests and the status line)."""
        def n(c: pg.PlotDataItem) -> int:
            return 0 if c.xData is None else len(c.xData)

        return {"loss": n(self.loss_raw), "smoothed": n(self.loss_smooth), "lr": n(self.lr_curve),
                "train_accuracy": n(self.train_acc), "test_accuracy": n(self.test_acc),
                "train_loss": n(self.train_loss), "test_loss": n(self.test_loss)}
