"""The live gradient view: how well each layer is learning, during training.

Fed by the trainer's :class:`~netbuilder.core.train.events.GradStatsEvent` (every ``stats_every`` steps) and
:class:`~netbuilder.core.train.events.HistogramEvent` through :meth:`GradientView.on_event`:

- a table with one row per parameter tensor (or per layer, weight and bias combined): the gradient
  L2 norm as a bar on a log scale and as a number, the weight norm, and the update-to-weight ratio
  ``‖Δw‖/‖w‖`` of the last step; filter by text, sort by network order, name, norm or ratio;
- a gradient-flow chart over the steps, one line per layer (log scale);
- the histogram of a tensor's gradient values;
- the Health list: warnings from :class:`netbuilder.core.inspect.health.HealthMonitor` (vanishing, exploding)
  and the result of the dead-ReLU check (:func:`netbuilder.core.inspect.health.dead_relu_report`: a summary
  and one row per ReLU), each naming the layer; a click selects it on the canvas; "No problems found so far"
  while there is nothing to report;
- "Tint canvas by gradient norm": colours the canvas nodes through ``scene.set_node_tint`` with
  an absolute log colour scale (blue = vanishing, green = healthy, red = exploding) and a legend.

(Over 500 lines: one widget with four linked views of the same statistics; the colour scale, the
legend and the table's rows are in :mod:`netbuilder.gui.inspect.gradient_scale`.)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

import numpy as np
import pyqtgraph as pg
from netbuilder.core.inspect.health import EXPLODING, VANISHING, HealthMonitor, HealthWarning, dead_relu_report
from netbuilder.core.train.events import GradStatsEvent, HistogramEvent
from netbuilder.gui import theme
from netbuilder.gui.editor.document import Document
from netbuilder.gui.inspect.gradient_scale import (
    LINE_COLOURS,
    GradientLegend,
    LogAxis,
    Row,
    fmt,
    norm_colour,
    rows_of,
    sort_rows,
)
from netbuilder.gui.window import ModelContext, TrainingSource
from PySide6.QtCore import QModelIndex, QPersistentModelIndex, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QPainter
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSplitter,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

if TYPE_CHECKING:
    import torch
    from netbuilder.core.train.data import Dataset
    from netbuilder.gui.window import AppWindow

COLUMNS = ("Tensor", "Layer", "‖grad‖ (log bar)", "‖grad‖", "‖weight‖", "update / weight")
SORTS = (("Network order", "order"), ("Name", "name"), ("Gradient norm ↓", "norm"), ("Gradient norm ↑", "norm_up"),
         ("Update ratio ↓", "ratio"))
ROLE_VALUE = int(Qt.ItemDataRole.UserRole) + 1


class _BarDelegate(QStyledItemDelegate):
    """Paints the gradient norm as a bar on the log scale of the visible rows."""

    def __init__(self, view: GradientView) -> None:
        super().__init__(view)
        self.view = view

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex
              ) -> None:
        value = index.data(ROLE_VALUE)
        if value is None:
            return super().paint(painter, option, index)
        lo, hi = self.view.bar_range
        v = float(value)
        frac = 1.0 if not math.isfinite(v) else (
            0.0 if v <= 0 else min(1.0, max(0.02, (math.log10(v) - lo) / (hi - lo))))
        r = QRectF(option.rect).adjusted(3, 4, -3, -4)
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QColor(theme.current().grid_minor))
        painter.drawRoundedRect(r, 2, 2)
        painter.setBrush(norm_colour(v))
        painter.drawRoundedRect(QRectF(r.left(), r.top(), r.width() * frac, r.height()), 2, 2)
        painter.restore()


class TintTarget(Protocol):
    """What the tint needs from the canvas scene (``netbuilder.gui.editor.canvas.GraphScene``)."""

    def set_node_tint(self, node_id: str, color: QColor | None) -> None: ...


class LegendHost(Protocol):
    """What the legend needs from the canvas view (``GraphView``): a corner widget slot."""

    def set_legend(self, widget: QWidget | None) -> None: ...

    def legend(self) -> QWidget | None: ...


class GradientView(QWidget):
    """The gradient panel for ``document``. Feed it with :meth:`on_event`; give it the canvas with
    :meth:`set_scene` (and :meth:`set_canvas_view` for the legend)."""

    warning_added = Signal(object)  # HealthWarning

    def __init__(self, document: Document, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.document = document
        self.monitor = HealthMonitor()
        self.last: GradStatsEvent | None = None
        self.history_steps: list[int] = []
        self.layer_history: dict[str, list[float]] = {}  # layer → combined grad norm per statistics step
        self.ratio_history: dict[str, list[float]] = {}
        self.histograms: dict[str, HistogramEvent] = {}
        self.warnings: list[HealthWarning] = []
        # the last ReLU check's rows: (text, layer, colour name in the theme, resolved when drawn)
        self.relu_rows: list[tuple[str, str | None, str]] = []
        self.bar_range = (-8.0, 3.0)
        self._scene: TintTarget | None = None
        self._canvas_view: LegendHost | None = None
        self._tinted: set[str] = set()
        self._model: torch.nn.Module | None = None
        self._dataset: Dataset | None = None
        self._shown_rows: list[Row] = []

        # controls
        self.filter_edit = QLineEdit()
        self.filter_edit.setPlaceholderText("Filter layers or tensors…")
        self.filter_edit.setClearButtonEnabled(True)
        self.filter_edit.textChanged.connect(lambda _t: self._update_all())
        self.collapse_box = QCheckBox("One row per layer")
        self.collapse_box.setToolTip("Combine each layer's weight and bias: norms add in squares")
        self.collapse_box.toggled.connect(lambda _c: self._update_table())
        self.sort_box = QComboBox()
        for text, key in SORTS:
            self.sort_box.addItem(text, key)
        self.sort_box.setToolTip("Row order")
        self.sort_box.currentIndexChanged.connect(lambda _i: self._update_table())
        self.tint_box = QCheckBox("Tint canvas by gradient norm")
        self.tint_box.setToolTip("Colour each canvas node by its layer's gradient norm (legend on the canvas)")
        self.tint_box.toggled.connect(self._on_tint_toggled)
        bar = QHBoxLayout()
        bar.setContentsMargins(0, 0, 0, 0)
        bar.addWidget(self.filter_edit, 1)
        bar.addWidget(self.collapse_box)
        bar.addWidget(QLabel("Sort:"))
        bar.addWidget(self.sort_box)
        bar.addWidget(self.tint_box)
        self.status = QLabel()
        self.status.setObjectName("muted")
        self.status.setWordWrap(True)

        # table
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setItemDelegateForColumn(2, _BarDelegate(self))
        hh = self.table.horizontalHeader()
        for c in range(len(COLUMNS)):
            hh.setSectionResizeMode(c, QHeaderView.ResizeMode.ResizeToContents)
        hh.setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        header = self.table.horizontalHeaderItem(5)
        assert header is not None  # set by setHorizontalHeaderLabels above
        header.setToolTip(
            "‖Δw‖ / ‖w‖ of the last optimisation step: around 1e-3 is usual; much larger means the weights "
            "jump around (learning rate too high), much smaller means they hardly move")
        self.table.itemSelectionChanged.connect(self._on_row_selected)

        # charts
        self.flow_plot = pg.PlotWidget(background=None, axisItems={"left": LogAxis("left")})
        fi = self.flow_plot.getPlotItem()
        fi.setLabel("bottom", "training step")
        fi.setLabel("left", "gradient L2 norm (log)")
        fi.showGrid(x=True, y=True, alpha=0.25)
        for axis in ("bottom", "left"):
            fi.getAxis(axis).enableAutoSIPrefix(False)  # "×0.001" on a log axis only confuses
        self.flow_legend = fi.addLegend(offset=(-8, 8), labelTextSize="8pt")
        self.flow_metric = QComboBox()
        self.flow_metric.addItem("Gradient norm per layer", "grad")
        self.flow_metric.addItem("Update / weight ratio per layer", "ratio")
        self.flow_metric.currentIndexChanged.connect(lambda _i: self._update_flow())
        flow_box = QWidget()
        fl = QVBoxLayout(flow_box)
        fl.setContentsMargins(0, 0, 0, 0)
        fl.addWidget(self.flow_metric)
        fl.addWidget(self.flow_plot, 1)
        self.flow_curves: dict[str, pg.PlotDataItem] = {}

        self.hist_plot = pg.PlotWidget(background=None)
        hi = self.hist_plot.getPlotItem()
        hi.setLabel("bottom", "gradient value")
        hi.setLabel("left", "count")
        for axis in ("bottom", "left"):
            hi.getAxis(axis).enableAutoSIPrefix(False)
        self.hist_label = QLabel("Select a tensor in the table.")
        self.hist_label.setWordWrap(True)
        self.hist_label.setObjectName("muted")
        hist_box = QWidget()
        hl = QVBoxLayout(hist_box)
        hl.setContentsMargins(0, 0, 0, 0)
        hl.addWidget(self.hist_label)
        hl.addWidget(self.hist_plot, 1)
        self.hist_shown: str | None = None

        self.warning_list = QListWidget()
        self.warning_list.setWordWrap(True)
        self.warning_list.itemClicked.connect(self._on_warning_clicked)
        self.dead_button = QPushButton("Check dead ReLUs on a test batch")
        self.dead_button.setEnabled(False)
        self.dead_button.setToolTip("Needs a trained model (after a run)")
        self.dead_button.clicked.connect(self.check_dead_relus)
        health_box = QWidget()
        hb = QVBoxLayout(health_box)
        hb.setContentsMargins(0, 0, 0, 0)
        hb.addWidget(self.warning_list, 1)
        hb.addWidget(self.dead_button)

        self.tabs = QTabWidget()
        self.tabs.addTab(flow_box, "Gradient flow")
        self.tabs.addTab(hist_box, "Histogram")
        self.tabs.addTab(health_box, "Health")
        for plot in (self.flow_plot, self.hist_plot):
            theme.style_plot(plot)
        theme.hub().changed.connect(self._on_theme)  # bound: dies with this object
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(self.table)
        split.addWidget(self.tabs)
        split.setSizes([560, 440])
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addLayout(bar)
        lay.addWidget(self.status)
        lay.addWidget(split, 1)
        self.legend = GradientLegend()
        self.legend.hide()
        self._update_status()
        self._update_health_tab()

    # --- wiring ---------------------------------------------------------------------------------
    def set_scene(self, scene: TintTarget | None) -> None:
        """The canvas scene to tint (anything with ``set_node_tint(node_id, QColor | None)``)."""
        if self._scene is not None and scene is not self._scene:
            self._clear_tints()
        self._scene = scene
        self._apply_tints()

    def set_canvas_view(self, view: LegendHost | None) -> None:
        """The canvas view whose ``set_legend(widget)`` shows the tint legend while tinting."""
        self._canvas_view = view
        self._apply_tints()

    def set_model(self, model: torch.nn.Module | None, dataset: Dataset | None = None) -> None:
        """A trained (or training) model: enables the dead-ReLU check and live gradient histograms."""
        self._model, self._dataset = model, dataset
        self.dead_button.setEnabled(model is not None and dataset is not None)
        self.dead_button.setToolTip("" if self.dead_button.isEnabled() else "Needs a trained model (after a run)")
        self._update_histogram()

    def reset(self) -> None:
        """Forget the statistics (a new run starts)."""
        self.monitor.reset()
        self.last = None
        self.history_steps.clear()
        self.layer_history.clear()
        self.ratio_history.clear()
        self.histograms.clear()
        self.warnings.clear()
        self.relu_rows.clear()
        self._update_health_tab()
        self.flow_plot.getPlotItem().clear()
        self.flow_legend.clear()
        self.flow_curves.clear()
        self._clear_tints()
        self._update_all()

    # --- events ---------------------------------------------------------------------------------
    def on_event(self, event: object) -> None:
        """Slot for every training event; uses GradStatsEvent and HistogramEvent, ignores the rest."""
        if isinstance(event, GradStatsEvent):
            if self.last is not None and event.global_step <= self.last.global_step:
                self.reset()  # the step counter went back: a new run
            self.last = event
            self.history_steps.append(event.global_step)
            for layer, rs in self._by_layer(event).items():
                g2 = [r.grad for r in rs]
                norm = math.sqrt(sum(v * v for v in g2)) if all(math.isfinite(v) for v in g2) else math.inf
                w = math.sqrt(sum(r.weight ** 2 for r in rs))
                ratio = math.sqrt(sum((r.ratio * r.weight) ** 2 for r in rs)) / w if w > 0 else 0.0
                self.layer_history.setdefault(layer, []).append(norm)
                self.ratio_history.setdefault(layer, []).append(ratio)
            for warning in self.monitor.update(event):
                self.add_warning(warning)
            self._update_all()
        elif isinstance(event, HistogramEvent):
            self.histograms[event.name] = event
            if self.hist_shown is None or self.hist_shown == event.name:
                self._update_histogram()

    @staticmethod
    def _by_layer(event: GradStatsEvent) -> dict[str, list[Row]]:
        out: dict[str, list[Row]] = {}
        for r in rows_of(event, collapse=False):
            out.setdefault(r.layer, []).append(r)
        return out

    def add_warning(self, w: HealthWarning) -> None:
        """Show one health warning (click: select its layer)."""
        self.warnings.append(w)
        self._update_health_tab()
        self.warning_added.emit(w)

    def _update_health_tab(self) -> None:
        """Rebuild the Health list: the warnings, then the last ReLU check's rows; the "no problems"
        line while there are no warnings."""
        t = theme.current()
        n = len(self.warnings)
        self.tabs.setTabText(2, f"Health ({n})" if n else "Health")
        rows: list[tuple[str, str | None, str]] = []
        if not n:
            rows.append((f"No problems found so far (vanishing: norm < {VANISHING:g} for {self.monitor.k} "
                         f"checks; exploding: > {EXPLODING:g} or not finite).", None, "ok"))
        labels = {"vanishing": "Vanishing", "exploding": "Exploding", "dead_relu": "Dead ReLU"}
        for w in self.warnings:
            rows.append((f"⚠ {labels.get(w.kind, w.kind)} — {w.message}", w.layer,
                         "error" if w.kind == "exploding" else "warning"))
        rows += self.relu_rows
        self.warning_list.clear()
        for text, layer, colour in rows:
            item = QListWidgetItem(text)
            item.setData(Qt.ItemDataRole.UserRole, layer)
            item.setForeground(t.c(colour))
            item.setToolTip(text)
            if layer is None:  # nothing to select: not clickable, still drawn in its colour
                item.setFlags(Qt.ItemFlag.ItemIsEnabled)
            self.warning_list.addItem(item)

    def health_texts(self) -> list[str]:
        """The rows of the Health list, top to bottom."""
        return [self.warning_list.item(i).text() for i in range(self.warning_list.count())]

    def _on_theme(self, t: theme.Theme) -> None:
        for plot in (self.flow_plot, self.hist_plot):
            theme.style_plot(plot, t)
        self._update_health_tab()
        self._update_table()

    def _on_warning_clicked(self, item: QListWidgetItem) -> None:
        layer = item.data(Qt.ItemDataRole.UserRole)
        if layer:
            self.document.select_nodes([layer])

    def check_dead_relus(self) -> list[HealthWarning]:
        """Run a test batch through the model and list the ReLUs with over 90% zeros."""
        if self._model is None or self._dataset is None:
            return []
        from netbuilder.core.train.data import prepare_images

        try:
            result = self.document.result
            shape = result.nodes[result.input_id].output_shape if result.input_id else None
            ds = self._dataset
            x = prepare_images(ds.test_x[:256], ds, tuple(shape or ds.shape),
                               str(self.document.training.get("fit_input", "none")), "cpu")
            param = next(self._model.parameters(), None)
            if param is not None:
                x = x.to(param.device)
            report = dead_relu_report(self._model, x, graph=self.document.graph)
        except Exception as e:  # the graph was edited since training, or the data does not fit
            self.relu_rows = [(f"✗ Dead-ReLU check failed: {e}", None, "error")]
            self._update_health_tab()
            self.tabs.setCurrentIndex(2)
            return []
        # the result goes into the Health list, next to the button: a summary, then one row per ReLU
        dead = {w.layer for w in report.warnings}
        self.relu_rows = [(f"Dead-ReLU check on {len(x)} test images: {len(report.stats)} ReLUs, "
                           f"{len(report.warnings)} with over 90% zeros", None, "text")]
        self.relu_rows += [
            (f"{'⚠' if s.node in dead else '✓'} {s.node} ({s.type}): {s.zero_fraction:.0%} of outputs zero, "
             f"{s.dead_units} of {s.units} units never active", s.node, "warning" if s.node in dead else "ok")
            for s in report.stats]
        for w in report.warnings:
            self.add_warning(w)
        self._update_health_tab()
        self.tabs.setCurrentIndex(2)
        return report.warnings

    # --- drawing --------------------------------------------------------------------------------
    def _matches(self, r: Row) -> bool:
        text = self.filter_edit.text().strip().lower()
        return not text or text in r.name.lower() or text in r.layer.lower()

    def visible_rows(self) -> list[Row]:
        """The rows now in the table, in table order."""
        return list(self._shown_rows)

    def _update_all(self) -> None:
        self._update_table()
        self._update_flow()
        self._apply_tints()
        self._update_status()

    def _update_status(self) -> None:
        if self.last is None:
            self.status.setText("No gradient statistics yet: they arrive during training, every few steps "
                                "(the training setting “stats every”).")
            return
        e = self.last
        finite = [v for v in e.grad_norms if math.isfinite(v)]
        total = math.sqrt(sum(v * v for v in finite))
        self.status.setText(f"Step {e.global_step} · {len(e.names)} tensors in {len(set(e.layers))} layers · "
                            f"total gradient norm {fmt(total)} · bars: log scale "
                            f"1e{self.bar_range[0]:+.0f} … 1e{self.bar_range[1]:+.0f}")

    def _update_table(self) -> None:
        if self.last is None:
            self._shown_rows = []
            self.table.setRowCount(0)
            return
        rows = [r for r in rows_of(self.last, self.collapse_box.isChecked()) if self._matches(r)]
        rows = sort_rows(rows, self.sort_box.currentData())
        logs = [math.log10(r.grad) for r in rows if math.isfinite(r.grad) and r.grad > 0]
        if logs:
            lo, hi = math.floor(min(logs)) - 1, math.ceil(max(logs))
            self.bar_range = (float(lo), float(max(hi, lo + 2)))
        selected = self._selected_name()
        self._shown_rows = rows
        self.table.setUpdatesEnabled(False)
        self.table.setRowCount(len(rows))
        t = theme.current()
        for i, r in enumerate(rows):
            cells = [r.name, r.layer, "", fmt(r.grad), fmt(r.weight), fmt(r.ratio)]
            items: list[QTableWidgetItem] = []
            for c, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if c >= 3:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                self.table.setItem(i, c, item)
                items.append(item)
            items[0].setData(Qt.ItemDataRole.UserRole, r.name)
            items[2].setData(ROLE_VALUE, r.grad)
            items[2].setToolTip(f"{r.name}: gradient L2 norm {r.grad!r}")
            items[3].setData(ROLE_VALUE, r.grad)
            if not math.isfinite(r.grad) or r.grad > EXPLODING:
                items[3].setForeground(QColor(t.error))
            elif r.grad < VANISHING:
                items[3].setForeground(QColor(t.warning))
            if r.ratio > 1e-1:
                items[5].setForeground(QColor(t.error))
        self.table.setUpdatesEnabled(True)
        if selected is not None:
            for i, r in enumerate(rows):
                if r.name == selected:
                    self.table.blockSignals(True)
                    self.table.selectRow(i)
                    self.table.blockSignals(False)

    def _selected_name(self) -> str | None:
        items = self.table.selectedItems()
        if not items:
            return None
        item = self.table.item(items[0].row(), 0)
        return str(item.data(Qt.ItemDataRole.UserRole)) if item is not None else None

    def _update_flow(self) -> None:
        metric = self.flow_metric.currentData()
        hist = self.layer_history if metric == "grad" else self.ratio_history
        self.flow_plot.getPlotItem().setLabel(
            "left", "gradient L2 norm (log)" if metric == "grad" else "‖Δw‖ / ‖w‖ (log)")
        text = self.filter_edit.text().strip().lower()
        layers = [layer for layer in hist if not text or text in layer.lower()]
        xs = np.asarray(self.history_steps, dtype=float)
        want = set(layers)
        for layer in list(self.flow_curves):
            if layer not in want:
                curve = self.flow_curves.pop(layer)
                self.flow_plot.removeItem(curve)
                self.flow_legend.removeItem(curve)
        n = max(1, len(layers))
        for i, layer in enumerate(layers):
            ys = np.asarray(hist[layer], dtype=float)
            ys = np.log10(np.where(np.isfinite(ys) & (ys > 0), ys, np.nan))
            curve = self.flow_curves.get(layer)
            if curve is None:
                colour = (QColor(LINE_COLOURS[i]) if n <= len(LINE_COLOURS)
                          else pg.intColor(i, hues=n, values=1, maxValue=200))
                curve = self.flow_plot.plot([], [], pen=pg.mkPen(colour, width=2), name=layer)
                self.flow_curves[layer] = curve
            k = min(len(xs), len(ys))
            curve.setData(xs[-k:], ys[-k:], connect="finite")
        self.flow_legend.setVisible(len(layers) <= 14)  # a legend of 50 lines hides the chart

    def _on_row_selected(self) -> None:
        name = self._selected_name()
        if name is None:
            return
        self.hist_shown = name
        self._update_histogram()
        row = next((r for r in self._shown_rows if r.name == name), None)
        if row is not None:
            self.document.select_nodes([row.layer])

    def _update_histogram(self) -> None:
        """Show the trainer's histogram of the selected tensor, or compute it from the model's gradient."""
        name = self.hist_shown
        pi = self.hist_plot.getPlotItem()
        pi.clear()
        ev = self.histograms.get(name) if name else None
        if ev is None and name is None and self.histograms:
            ev = next(reversed(self.histograms.values()))
        source = ""
        if ev is not None:
            counts, edges = list(ev.counts), list(ev.edges)
            source = f"{ev.name} at step {ev.global_step} (recorded by the trainer)"
        else:
            counts, edges = self._live_histogram(name)
            if counts:
                source = f"{name}: the model's current gradient"
        if not counts:
            recorded = ", ".join(self.histograms) or "none yet"
            self.hist_label.setText(
                (f"No gradient histogram of {name}. " if name else "Select a tensor in the table. ")
                + f"The trainer records one tensor's histogram every “histogram every” steps (set "
                f"“histogram param” in the training settings to choose it); recorded: {recorded}.")
            return
        e = np.asarray(edges, dtype=float)
        c = np.asarray(counts, dtype=float)
        bars = pg.BarGraphItem(x0=e[:-1], x1=e[1:], height=c, brush=pg.mkBrush(60, 120, 200, 200),
                               pen=pg.mkPen(40, 80, 150))
        pi.addItem(bars)
        total = int(c.sum())
        self.hist_label.setText(f"Gradient values of {source} · {total} values · range {fmt(e[0])} … {fmt(e[-1])}")

    def _live_histogram(self, name: str | None) -> tuple[list[int], list[float]]:
        if self._model is None or name is None:
            return [], []
        params = dict(self._model.named_parameters())
        grads = [g for n in self._tensors_of(name) if n in params and (g := params[n].grad) is not None]
        if not grads:
            return [], []
        import torch

        g = torch.cat([x.detach().float().reshape(-1).cpu() for x in grads])
        lo, hi = float(g.min()), float(g.max())
        if not hi > lo:
            lo, hi = lo - 0.5, hi + 0.5
        counts = torch.histc(g, bins=60, min=lo, max=hi).to(torch.int64).tolist()
        step = (hi - lo) / 60
        return counts, [lo + i * step for i in range(61)]

    def _tensors_of(self, name: str) -> Sequence[str]:
        row = next((r for r in self._shown_rows if r.name == name), None)
        return row.tensors if row is not None else (name,)

    # --- canvas tint ----------------------------------------------------------------------------
    def layer_norms(self) -> dict[str, float]:
        """The last combined gradient norm of every layer."""
        return {layer: h[-1] for layer, h in self.layer_history.items() if h}

    def _on_tint_toggled(self, on: bool) -> None:
        if on:
            self._apply_tints()
        else:
            self._clear_tints()

    def _apply_tints(self) -> None:
        if not self.tint_box.isChecked():
            return
        if self._canvas_view is not None and hasattr(self._canvas_view, "set_legend"):
            self._canvas_view.set_legend(self.legend)
        if self._scene is None:
            return
        norms = self.layer_norms()
        for layer in self._tinted - set(norms):
            self._scene.set_node_tint(layer, None)
        for layer, v in norms.items():
            self._scene.set_node_tint(layer, norm_colour(v))
        self._tinted = set(norms)

    def _clear_tints(self) -> None:
        if self._scene is not None:
            for layer in self._tinted:
                self._scene.set_node_tint(layer, None)
        self._tinted = set()
        if self._canvas_view is not None and self._canvas_view.legend() is self.legend:
            self._canvas_view.set_legend(None)


def install(window: AppWindow, training: TrainingSource | None = None) -> GradientView:
    """Dock a :class:`GradientView` in ``window``, tint ``window.scene`` with its legend on
    ``window.view``, and with a training source: feed it every event and the model."""
    view = GradientView(window.document)
    window.add_panel(view, "Gradients", Qt.DockWidgetArea.BottomDockWidgetArea, "GradientsDock")
    view.set_scene(window.scene)
    view.set_canvas_view(window.view)
    if training is not None:
        connect_training(view, training)
    return view


def connect_training(view: GradientView, training: TrainingSource) -> None:
    """Feed ``view`` every event of ``training`` and hand it the live model as soon as a run produces
    statistics (for live histograms and the ReLU check); forget both on ``model_cleared``."""
    def on_event(event: object) -> None:
        model = training.live_model
        if model is not None and model is not view._model:
            view.set_model(model, training.live_dataset)
        view.on_event(event)

    def on_model(context: ModelContext) -> None:
        if context.model is not view._model:
            view.set_model(context.model, context.dataset)

    def on_cleared() -> None:
        view.set_model(None)
        view.reset()

    training.event_received.connect(on_event)
    training.model_available.connect(on_model)
    training.model_cleared.connect(on_cleared)
