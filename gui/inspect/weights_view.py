"""Weights and activations: convolution kernels as image grids, and the feature maps of a test image.

The numbers come from :mod:`core.inspect_model` (kernel grids normalised for display with their raw
range, feature maps of every node); this view paints them with a colour scale. The model is the one
just trained (:meth:`WeightsView.set_model`, wired to the training panel), one loaded from a
checkpoint (:meth:`WeightsView.load_checkpoint`), or the current network with fresh random weights
(to compare before and after training).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import numpy as np
from netbuilder.core.inspect.model_view import FeatureMap, KernelGrid, feature_maps, kernel_grids, model_from_checkpoint
from netbuilder.core.model.graph import Graph
from netbuilder.core.model.layers import REGISTRY
from netbuilder.gui import theme
from netbuilder.gui.editor.document import Document
from PySide6.QtCore import QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QImage, QLinearGradient, QPainter, QPaintEvent, QPixmap
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFrame,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QSpinBox,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

if TYPE_CHECKING:
    import torch
    from netbuilder.core.train.data import Dataset
    from netbuilder.gui.window import AppWindow, TrainingSource

# Categories of the layer registry whose outputs are shown as feature maps by default.
FEATURE_CATEGORIES = ("Convolution", "Pooling")
COLOUR_MAPS = (("Diverging (blue − 0 + red)", "diverging"), ("Greyscale", "grey"))


def colourise(a: np.ndarray, cmap: str) -> np.ndarray:
    """0..1 array (H×W) → uint8 H×W×3. ``"grey"``: black → white; ``"diverging"``: blue → white → red
    (0.5, the zero of a symmetric normalisation, is white)."""
    gap = np.isnan(a)[..., None]  # NaN: the space between tiles, a colour no value has
    a = np.clip(np.nan_to_num(a, nan=0.5), 0.0, 1.0).astype(np.float32)
    if cmap == "grey":
        g = (a * 255).round().astype(np.uint8)
        return np.where(gap, np.array([120, 160, 210], np.uint8), np.stack([g, g, g], axis=-1))
    blue = np.array([33, 102, 172], dtype=np.float32)
    white = np.array([247, 247, 247], dtype=np.float32)
    red = np.array([178, 24, 43], dtype=np.float32)
    t = a[..., None]
    lo = white + (blue - white) * np.clip(1 - 2 * t, 0, 1)
    hi = white + (red - white) * np.clip(2 * t - 1, 0, 1)
    out = np.where(t < 0.5, lo, hi).round().astype(np.uint8)
    return np.where(gap, np.array([205, 208, 214], np.uint8), out)


def to_qimage(rgb: np.ndarray) -> QImage:
    """uint8 H×W×3 → a QImage that owns its pixels."""
    rgb = np.ascontiguousarray(rgb)
    h, w = rgb.shape[:2]
    return QImage(rgb.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()


def _fmt(v: float) -> str:
    return f"{v:.3g}"


class MosaicWidget(QWidget):
    """Paints a 0..1 mosaic with nearest-neighbour pixels at ``scale`` screen pixels per value."""

    def __init__(self, mosaic: np.ndarray, cmap: str, scale: int, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.image = to_qimage(colourise(mosaic, cmap))
        self.scale = scale
        self.setFixedSize(self.sizeHint())

    def sizeHint(self) -> QSize:
        return QSize(self.image.width() * self.scale, self.image.height() * self.scale)

    def paintEvent(self, event: QPaintEvent) -> None:
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, False)
        p.drawImage(QRectF(0, 0, self.width(), self.height()), self.image)
        p.end()


class ColourBar(QWidget):
    """The scale of a mosaic: the colour map with the raw values at its ends (and 0 when diverging)."""

    def __init__(self, lo: float, hi: float, cmap: str, symmetric: bool, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.lo, self.hi, self.cmap, self.symmetric = lo, hi, cmap, symmetric
        self.setFixedSize(220, 34)
        self.setToolTip("Colour scale: the values the colours stand for")

    def paintEvent(self, event: QPaintEvent) -> None:
        t = theme.current()
        p = QPainter(self)
        bar = QRectF(4, 2, self.width() - 8, 12)
        grad = QLinearGradient(bar.left(), 0, bar.right(), 0)
        for x in np.linspace(0, 1, 9):
            r, g, b = colourise(np.array([[x]]), self.cmap)[0, 0]
            grad.setColorAt(float(x), QColor(int(r), int(g), int(b)))
        p.setPen(QColor(t.node_border))
        p.setBrush(grad)
        p.drawRect(bar)
        f = p.font()
        f.setPointSizeF(8)
        p.setFont(f)
        p.setPen(QColor(t.subtext))
        if self.symmetric:
            m = max(abs(self.lo), abs(self.hi))
            left, mid, right = f"−{_fmt(m)}", "0", f"+{_fmt(m)}"
        else:
            left, mid, right = _fmt(self.lo), "", _fmt(self.hi)
        text_r = QRectF(0, bar.bottom() + 2, self.width(), 16)
        p.drawText(text_r, Qt.AlignmentFlag.AlignLeft, left)
        p.drawText(text_r, Qt.AlignmentFlag.AlignHCenter, mid)
        p.drawText(text_r, Qt.AlignmentFlag.AlignRight, right)
        p.end()


def _scale_for(h: int, w: int, target: int = 84, max_scale: int = 16) -> int:
    """Screen pixels per value so a tile is about ``target`` pixels (5×5 kernels become big)."""
    return max(1, min(max_scale, target // max(1, max(h, w))))


class KernelSection(QFrame):
    """One convolution layer's filters as a grid of tiles, with caption and colour scale."""

    def __init__(self, grid: KernelGrid, cmap: str, layer_type: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.grid = grid
        m, c, kh, kw = grid.shape
        rows, cols = grid.layout()
        self.tile_count = len(grid.positions())
        arrangement = (f"{m} filters, one per row, × {c} input channels, one per column" if c > 1
                       else f"{m} filters")
        self.caption = (f"{grid.node} — {grid.param} {list(grid.shape)}: {self.tile_count} tiles of {kh}×{kw} "
                        f"({arrangement}) · values {_fmt(grid.raw_min)} … {_fmt(grid.raw_max)}")
        title = QLabel(self.caption)
        title.setWordWrap(True)
        title.setObjectName("sectionTitle")
        scale = _scale_for(kh, kw, 84 if rows * cols <= 64 else 36)
        self.mosaic = MosaicWidget(grid.mosaic(gap=1, background=float("nan")), cmap, scale)
        norm = {"symmetric": "shared scale for the layer, 0 in the middle",
                "minmax": "shared scale for the layer",
                "tile": "each tile stretched to its own range"}.get(grid.normalisation, grid.normalisation)
        note = QLabel(norm)
        note.setObjectName("muted")
        lay = QVBoxLayout(self)
        lay.setContentsMargins(6, 6, 6, 10)
        lay.addWidget(title)
        row = QHBoxLayout()
        row.addWidget(self.mosaic, 0, Qt.AlignmentFlag.AlignTop)
        side = QVBoxLayout()
        if grid.normalisation != "tile":
            side.addWidget(ColourBar(grid.raw_min, grid.raw_max, cmap, grid.normalisation == "symmetric"))
        side.addWidget(note)
        side.addStretch(1)
        row.addLayout(side)
        row.addStretch(1)
        lay.addLayout(row)


class FeatureSection(QFrame):
    """One node's output for the chosen image: every channel as a tile, the shape in the caption."""

    def __init__(self, fmap: FeatureMap, cmap: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.fmap = fmap
        shape = "×".join(str(d) for d in fmap.shape)
        what = (f"{fmap.shape[0]} channel{'s' if fmap.shape[0] != 1 else ''} of {fmap.shape[1]}×{fmap.shape[2]}"
                if fmap.is_image else f"{fmap.shape[0] if fmap.shape else 1} values")
        self.caption = f"{fmap.node} ({fmap.type}) — output {shape}: {what}"
        if fmap.notes:
            self.caption += " · " + ", ".join(fmap.notes)
        title = QLabel(self.caption)
        title.setObjectName("sectionTitle")
        title.setWordWrap(True)
        if fmap.is_image:
            scale = _scale_for(fmap.shape[1], fmap.shape[2], 112 if fmap.shape[0] <= 16 else 56, 10)
        else:
            scale = max(2, min(12, 600 // max(1, fmap.maps.size)))
        self.mosaic = MosaicWidget(fmap.mosaic(gap=1, background=float("nan")), cmap, scale)
        if not fmap.is_image:
            self.mosaic.setFixedSize(self.mosaic.image.width() * scale, 18)
        note = QLabel(f"values {_fmt(fmap.raw_min)} … {_fmt(fmap.raw_max)}; each channel stretched to its own "
                      f"range (dark = low, bright = high)" if fmap.is_image else
                      f"values {_fmt(fmap.raw_min)} … {_fmt(fmap.raw_max)} (dark = low, bright = high)")
        note.setObjectName("muted")
        note.setWordWrap(True)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(6, 6, 6, 10)
        lay.addWidget(title)
        lay.addWidget(self.mosaic)
        lay.addWidget(note)


def _scroll(inner: QWidget) -> QScrollArea:
    area = QScrollArea()
    area.setWidgetResizable(True)
    area.setFrameShape(QFrame.Shape.NoFrame)
    area.setWidget(inner)
    return area


def _tab(bar: QHBoxLayout) -> tuple[QWidget, QWidget, QVBoxLayout]:
    """A tab: ``bar`` above a scrolling body; returns the tab, the body and the body's layout."""
    body = QWidget()
    body_layout = QVBoxLayout(body)
    body_layout.setAlignment(Qt.AlignmentFlag.AlignTop)
    tab = QWidget()
    lay = QVBoxLayout(tab)
    lay.setContentsMargins(2, 2, 2, 2)
    lay.addLayout(bar)
    lay.addWidget(_scroll(body), 1)
    return tab, body, body_layout


class WeightsView(QWidget):
    """Kernels and feature maps for ``document``'s network (or a checkpoint's)."""

    model_changed = Signal()

    def __init__(self, document: Document, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.document = document
        self.model: torch.nn.Module | None = None
        self.dataset: Dataset | None = None
        self.graph: Graph | None = None
        self.source = ""
        self.fit_input = "none"
        self.error: str | None = None
        self.kernel_sections: list[KernelSection] = []
        self.feature_sections: list[FeatureSection] = []

        self.source_label = QLabel()
        self.source_label.setWordWrap(True)
        self.load_button = QPushButton("Load checkpoint…")
        self.load_button.setToolTip("Show the weights of a training checkpoint (.pt)")
        self.load_button.clicked.connect(self._ask_checkpoint)
        self.untrained_button = QPushButton("Untrained weights")
        self.untrained_button.setToolTip("The current network with fresh random weights (to compare)")
        self.untrained_button.clicked.connect(self.show_untrained)
        top = QHBoxLayout()
        top.setContentsMargins(0, 0, 0, 0)
        top.addWidget(self.source_label, 1)
        top.addWidget(self.untrained_button)
        top.addWidget(self.load_button)
        self.message = QLabel()
        self.message.setWordWrap(True)
        self.message.hide()

        # kernels tab
        self.kernel_cmap = QComboBox()
        for text, key in COLOUR_MAPS:
            self.kernel_cmap.addItem(text, key)
        self.kernel_norm = QComboBox()
        self.kernel_norm.addItem("Shared scale per layer", "symmetric")
        self.kernel_norm.addItem("Each tile its own range", "tile")
        self.kernel_cmap.currentIndexChanged.connect(lambda _i: self._update_kernels())
        self.kernel_norm.currentIndexChanged.connect(lambda _i: self._update_kernels())
        kbar = QHBoxLayout()
        kbar.addWidget(QLabel("Colours:"))
        kbar.addWidget(self.kernel_cmap)
        kbar.addWidget(self.kernel_norm)
        kbar.addStretch(1)
        ktab, self.kernel_body, self.kernel_layout = _tab(kbar)

        # feature maps tab
        self.image_spin = QSpinBox()
        self.image_spin.setPrefix("test image #")
        self.image_spin.setMinimumWidth(150)
        self.image_spin.valueChanged.connect(lambda _v: self._update_features())
        self.image_label = QLabel()
        self.image_thumb = QLabel()
        self.all_layers = QCheckBox("Every layer")
        self.all_layers.setToolTip("Also show activations, flatten and linear outputs (default: conv and pool)")
        self.all_layers.toggled.connect(lambda _c: self._update_features())
        self.feature_cmap = QComboBox()
        for text, key in reversed(COLOUR_MAPS):
            self.feature_cmap.addItem(text, key)
        self.feature_cmap.currentIndexChanged.connect(lambda _i: self._update_features())
        fbar = QHBoxLayout()
        fbar.addWidget(self.image_spin)
        fbar.addWidget(self.image_thumb)
        fbar.addWidget(self.image_label, 1)
        fbar.addWidget(self.all_layers)
        fbar.addWidget(self.feature_cmap)
        ftab, self.feature_body, self.feature_layout = _tab(fbar)

        self.tabs = QTabWidget()
        self.tabs.addTab(ktab, "Kernels")
        self.tabs.addTab(ftab, "Feature maps")
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addLayout(top)
        lay.addWidget(self.message)
        lay.addWidget(self.tabs, 1)
        self._update_source()

    # --- sources --------------------------------------------------------------------------------
    def set_model(self, model: torch.nn.Module | None, dataset: Dataset | None = None, graph: Graph | None = None,
                  source: str | None = None, fit_input: str | None = None) -> None:
        """Show ``model`` (compiled from ``graph``, default the document's network) and feature maps of
        ``dataset``'s test images. None clears the view."""
        self.model = model
        self.dataset = dataset
        self.graph = (graph if graph is not None else self.document.graph.copy()) if model is not None else None
        self.source = source or ("the model trained in this session" if model is not None else "")
        self.fit_input = fit_input or str(self.document.training.get("fit_input", "none"))
        self.error = None
        self._update_source()
        self._update_kernels()
        self._update_features()
        self.model_changed.emit()

    def load_checkpoint(self, path: str | os.PathLike[str]) -> bool:
        """Show the weights of a training checkpoint (its own network), with its dataset's test images
        when they can be loaded. Returns False and shows why when the file cannot be used."""
        try:
            graph, model, ckpt = model_from_checkpoint(path)
        except Exception as e:  # user error (bad file) or unexpected: say so in the panel
            self._show_error(f"Cannot open the checkpoint {os.fspath(path)}: {e}")
            return False
        config = ckpt.config if isinstance(ckpt.config, dict) else {}
        dataset, data_note = self._dataset_for(config)
        name = os.path.basename(os.fspath(path))
        self.set_model(model, dataset, graph, f"checkpoint {name} (epoch {ckpt.epoch}, step {ckpt.global_step})",
                       str(config.get("fit_input", "none")))
        if data_note:
            self._show_error(data_note, error=False)
        return True

    def _dataset_for(self, config: dict[str, Any]) -> tuple[Dataset | None, str | None]:
        from netbuilder.core.train.data import load_dataset

        name = str(config.get("dataset", "mnist"))
        try:
            return load_dataset(name, config.get("data_dir")), None
        except Exception as e:
            return None, f"Feature maps need the {name} test images, which could not be loaded: {e}"

    def show_untrained(self) -> None:
        """The current network with fresh random weights (and the bundled MNIST sample as images)."""
        from netbuilder.core.model.compiler import build_model

        try:
            self.document.flush()
            model, _ = build_model(self.document.graph)
        except Exception as e:
            self._show_error(f"Cannot build the network: {e}")
            return
        dataset = self.dataset
        if dataset is None:
            try:
                from netbuilder.core.train.data import load_dataset

                dataset = load_dataset("sample")
            except Exception:
                dataset = None
        self.set_model(model, dataset, source="the current network with untrained (random) weights")

    def _ask_checkpoint(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open a training checkpoint", "",
                                              "Checkpoints (*.pt *.pth *.ckpt);;All files (*)")
        if path:
            self.load_checkpoint(path)

    def _show_error(self, text: str, error: bool = True) -> None:
        self.error = text if error else None
        t = theme.current()
        self.message.setStyleSheet(f"color: {t.error if error else t.warning};")
        self.message.setText(text)
        self.message.show()

    def _update_source(self) -> None:
        self.message.hide()
        if self.model is None:
            self.source_label.setText("No trained model yet: train the network (Training panel), load a "
                                      "checkpoint, or look at the untrained weights.")
        else:
            ds = f" · images: {self.dataset.name} test set" if self.dataset is not None else ""
            self.source_label.setText(f"Showing {self.source}{ds}")

    # --- kernels --------------------------------------------------------------------------------
    def _clear(self, layout: QVBoxLayout) -> None:
        while layout.count():
            item = layout.takeAt(0)
            w = item.widget() if item is not None else None
            if w is not None:
                w.setParent(None)
                w.deleteLater()

    def _update_kernels(self) -> None:
        self._clear(self.kernel_layout)
        self.kernel_sections = []
        if self.model is None or self.graph is None:
            return
        try:
            grids = kernel_grids(self.graph, self.model, self.kernel_norm.currentData())
        except Exception as e:
            self._show_error(f"Cannot read the kernels: {e}")
            return
        if not grids:
            empty = QLabel("This network has no convolution layers (no 4-D weights to show as images).")
            empty.setObjectName("muted")
            self.kernel_layout.addWidget(empty)
        types = {n.id: n.type for n in self.graph.nodes}
        for g in grids:
            sec = KernelSection(g, self.kernel_cmap.currentData(), types.get(g.node, ""))
            self.kernel_layout.addWidget(sec)
            self.kernel_sections.append(sec)

    # --- feature maps ---------------------------------------------------------------------------
    def _image(self) -> tuple[torch.Tensor, int, torch.Tensor]:
        """(prepared 1×C×H×W tensor, label, raw uint8 image) of the chosen test image."""
        from netbuilder.core.model.inference import infer
        from netbuilder.core.train.data import prepare_images

        assert self.graph is not None and self.dataset is not None
        result = infer(self.graph)
        in_shape = result.nodes[result.input_id].output_shape if result.input_id else None
        i = self.image_spin.value()
        raw = self.dataset.test_x[i:i + 1]
        x = prepare_images(raw, self.dataset, tuple(in_shape or self.dataset.shape), self.fit_input, "cpu")
        return x, int(self.dataset.test_y[i]), raw[0]

    def _update_features(self) -> None:
        self._clear(self.feature_layout)
        self.feature_sections = []
        self.image_label.setText("")
        self.image_thumb.clear()
        if self.model is None or self.graph is None:
            return
        if self.dataset is None or len(self.dataset.test_y) == 0:
            note = QLabel("No test images available for this model.")
            note.setObjectName("muted")
            self.feature_layout.addWidget(note)
            return
        self.image_spin.blockSignals(True)
        self.image_spin.setRange(0, len(self.dataset.test_y) - 1)
        self.image_spin.blockSignals(False)
        try:
            x, label, raw = self._image()
            maps = feature_maps(self.graph, self.model, x)
        except Exception as e:
            self._show_error(f"Cannot compute the feature maps: {e}")
            return
        classes = list(self.dataset.classes or [])
        name = classes[label] if 0 <= label < len(classes) else str(label)
        out = maps[-1].raw.reshape(-1) if maps else np.zeros(0)
        text = f"label: {name}"
        if out.size == len(classes) and out.size > 1:
            p = np.exp(out - out.max())
            p = p / p.sum()
            k = int(p.argmax())
            text += f" · predicted: {classes[k]} ({p[k]:.0%})"
        self.image_label.setText(text)
        img = raw.float().numpy() / 255.0
        thumb = img[0] if img.shape[0] != 3 else img.mean(0)
        self.image_thumb.setPixmap(_pixmap(thumb, "grey", 2))
        show_all = self.all_layers.isChecked()
        for fm in maps:
            spec = REGISTRY.get(fm.type)
            if spec is None or spec.is_input:
                continue
            if not show_all and spec.category not in FEATURE_CATEGORIES:
                continue
            sec = FeatureSection(fm, self.feature_cmap.currentData())
            self.feature_layout.addWidget(sec)
            self.feature_sections.append(sec)


def _pixmap(a: np.ndarray, cmap: str, scale: int) -> QPixmap:
    img = to_qimage(colourise(a, cmap))
    return QPixmap.fromImage(img.scaled(img.width() * scale, img.height() * scale))


def install(window: AppWindow, training: TrainingSource | None = None) -> WeightsView:
    """Dock a :class:`WeightsView` in ``window``; with a training source, show the model when a run
    finishes or is stopped or a checkpoint is loaded (not during a run: the view puts the model in
    evaluation mode), and forget it with a new project or run."""
    view = WeightsView(window.document)
    view.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
    window.add_panel(view, "Weights and activations", Qt.DockWidgetArea.BottomDockWidgetArea, "WeightsDock")
    if training is not None:
        training.model_available.connect(lambda ctx: view.set_model(ctx.model, ctx.dataset, ctx.graph, ctx.origin,
                                                                    ctx.fit_input))
        training.model_cleared.connect(lambda: view.set_model(None))
    return view
