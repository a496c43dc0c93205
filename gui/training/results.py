"""Results of an evaluation: a confusion-matrix heat map with counts and a gallery of misclassified
test images labelled with their true and predicted classes.

Clicking a cell of the matrix shows only those mistakes in the gallery (click it again for all).
"""

from __future__ import annotations

import numpy as np
import torch
from netbuilder.core.train.data import Dataset
from netbuilder.core.train.events import EpochEvent
from netbuilder.gui import theme
from PySide6.QtCore import QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QFont, QIcon, QImage, QMouseEvent, QPainter, QPaintEvent, QPixmap
from PySide6.QtWidgets import (
    QLabel,
    QListView,
    QListWidget,
    QListWidgetItem,
    QSizePolicy,
    QSplitter,
    QToolTip,
    QVBoxLayout,
    QWidget,
)

MAX_GALLERY = 200


def image_to_qimage(img: torch.Tensor | np.ndarray) -> QImage:
    """A uint8 C×H×W image (1 or 3 channels) as an owned QImage."""
    a = img.numpy() if isinstance(img, torch.Tensor) else np.asarray(img)
    a = np.asarray(a, dtype=np.uint8)
    if a.ndim == 3 and a.shape[0] == 1:
        a = a[0]
    if a.ndim == 2:
        a = np.ascontiguousarray(a)
        h, w = a.shape
        return QImage(a.data, w, h, w, QImage.Format.Format_Grayscale8).copy()
    a = np.ascontiguousarray(a[:3].transpose(1, 2, 0))
    h, w, _ = a.shape
    return QImage(a.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()



def _mix(a: QColor, b: QColor, t: float) -> QColor:
    """``a`` moved the fraction ``t`` of the way to ``b``."""
    return QColor.fromRgbF(*(x + (y - x) * t for x, y in ((a.redF(), b.redF()), (a.greenF(), b.greenF()),
                                                           (a.blueF(), b.blueF()))))

class ConfusionMatrixView(QWidget):
    """K×K heat map, rows = true class, columns = predicted class. Colour is the share of the row
    (so rare classes read as clearly as common ones); each cell prints its count."""

    cell_clicked = Signal(int, int)  # true, predicted

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.matrix = np.zeros((0, 0), dtype=np.int64)
        self.classes: list[str] = []
        self.selected: tuple[int, int] | None = None
        self.setMouseTracking(True)
        self.setMinimumSize(260, 240)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)

    def set_matrix(self, confusion: list[list[int]], classes: list[str]) -> None:
        self.matrix = np.asarray(confusion, dtype=np.int64).reshape(len(classes), len(classes)) if classes else \
            np.zeros((0, 0), dtype=np.int64)
        self.classes = list(classes)
        self.selected = None
        self.update()

    def clear(self) -> None:
        self.set_matrix([], [])

    # geometry: a margin for labels at the left and top
    def _layout(self) -> tuple[float, float, float]:
        k = max(1, len(self.classes))
        fm = self.fontMetrics()
        label_w = max((fm.horizontalAdvance(c) for c in self.classes), default=10)
        left = min(label_w + 28.0, self.width() * 0.35)
        top = fm.height() * 2 + 8.0
        cell = max(8.0, min((self.width() - left - 4) / k, (self.height() - top - 4) / k))
        return left, top, cell

    def cell_at(self, pos: QPointF) -> tuple[int, int] | None:
        k = len(self.classes)
        if not k:
            return None
        left, top, cell = self._layout()
        c, r = int((pos.x() - left) // cell), int((pos.y() - top) // cell)
        return (r, c) if 0 <= r < k and 0 <= c < k and pos.x() >= left and pos.y() >= top else None

    def paintEvent(self, _e: QPaintEvent) -> None:
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing, False)
        text_color = self.palette().text().color()
        k = len(self.classes)
        if not k:
            p.setPen(self.palette().placeholderText().color())
            p.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, "The confusion matrix appears\nafter the first epoch")
            p.end()
            return
        left, top, cell = self._layout()
        rows = self.matrix.sum(axis=1, keepdims=True).clip(min=1)
        share = self.matrix / rows
        font = QFont(self.font())
        font.setPointSizeF(max(6.0, min(9.0, cell / 3.2)))
        p.setFont(font)
        fm = p.fontMetrics()
        p.setPen(text_color)
        p.drawText(QRectF(left, 0, cell * k, fm.height() + 2), Qt.AlignmentFlag.AlignCenter, "predicted class →")
        for i, name in enumerate(self.classes):
            short = fm.elidedText(name, Qt.TextElideMode.ElideRight, int(max(cell, left - 24)))
            p.drawText(QRectF(left + i * cell, fm.height() + 2, cell, fm.height() + 4),
                       Qt.AlignmentFlag.AlignCenter, fm.elidedText(name, Qt.TextElideMode.ElideRight, int(cell)))
            p.drawText(QRectF(16, top + i * cell, left - 20, cell), Qt.AlignmentFlag.AlignVCenter
                       | Qt.AlignmentFlag.AlignRight, short)
        p.save()
        p.translate(10, top + cell * k / 2)
        p.rotate(-90)
        p.drawText(QRectF(-cell * k / 2, -8, cell * k, 14), Qt.AlignmentFlag.AlignCenter, "← true class")
        p.restore()
        th = theme.current()
        base = th.c("base")  # empty cells take the panel's background, so the dark theme has no white grid
        green, red = QColor.fromRgbF(0.15, 0.55, 0.15), QColor.fromRgbF(0.9, 0.25, 0.25)
        light_text, dark_text = QColor(255, 255, 255), QColor(20, 20, 20)
        for r in range(k):
            for c in range(k):
                s = float(share[r, c])
                rect = QRectF(left + c * cell, top + r * cell, cell, cell)
                # green diagonal; mistakes are rarer, so their red scale is stretched
                color = _mix(base, green, s) if r == c else _mix(base, red, min(1.0, s * 4))
                p.fillRect(rect, color)
                p.setPen(th.c("node_border"))
                p.drawRect(rect)
                n = int(self.matrix[r, c])
                if n and cell >= 14:
                    p.setPen(max((light_text, dark_text), key=lambda t: theme.contrast_ratio(t, color)))
                    p.drawText(rect, Qt.AlignmentFlag.AlignCenter, str(n))
        if self.selected is not None:
            r, c = self.selected
            p.setPen(th.c("accent"))
            p.drawRect(QRectF(left + c * cell + 1, top + r * cell + 1, cell - 2, cell - 2))
        p.end()

    def mouseMoveEvent(self, e: QMouseEvent) -> None:
        rc = self.cell_at(e.position())
        if rc is None:
            QToolTip.hideText()
            return
        r, c = rc
        n, row = int(self.matrix[r, c]), int(self.matrix[r].sum())
        pct = 100.0 * n / row if row else 0.0
        what = "correct" if r == c else "mistaken"
        QToolTip.showText(e.globalPosition().toPoint(),
                          f"true {self.classes[r]}, predicted {self.classes[c]}: {n} images "
                          f"({pct:.1f} % of the {row} {self.classes[r]} images, {what})", self)

    def mousePressEvent(self, e: QMouseEvent) -> None:
        rc = self.cell_at(e.position())
        if rc is not None:
            self.selected = None if self.selected == rc else rc
            self.update()
            self.cell_clicked.emit(*(self.selected or (-1, -1)))


class MisclassifiedGallery(QListWidget):
    """Thumbnails of misclassified test images, each captioned "true → predicted"."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setViewMode(QListView.ViewMode.IconMode)
        self.setIconSize(QSize(56, 56))
        self.setGridSize(QSize(84, 92))
        self.setResizeMode(QListView.ResizeMode.Adjust)
        self.setMovement(QListView.Movement.Static)
        self.setUniformItemSizes(True)
        self.setWordWrap(True)
        self.setSelectionMode(QListWidget.SelectionMode.NoSelection)
        self.entries: list[tuple[int, int, int]] = []  # (test index, true, predicted)
        self._dataset: Dataset | None = None
        self._filter: tuple[int, int] | None = None

    def set_results(self, dataset: Dataset, indices: list[int], predictions: list[int]) -> None:
        self._dataset = dataset
        y = dataset.test_y
        self.entries = [(int(i), int(y[i]), int(p)) for i, p in zip(indices, predictions, strict=False)
                        if 0 <= i < len(y)]
        self._filter = None
        self._fill()

    def set_filter(self, true: int, predicted: int) -> None:
        """Show only images of class ``true`` predicted as ``predicted`` (negative values: all)."""
        self._filter = None if true < 0 else (true, predicted)
        self._fill()

    def shown(self) -> list[tuple[int, int, int]]:
        if self._filter is None:
            return self.entries
        return [e for e in self.entries if (e[1], e[2]) == self._filter]

    def _fill(self) -> None:
        self.clear()
        ds = self._dataset
        if ds is None:
            return
        for idx, t, pr in self.shown()[:MAX_GALLERY]:
            pix = QPixmap.fromImage(image_to_qimage(ds.test_x[idx])).scaled(
                56, 56, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.FastTransformation)
            item = QListWidgetItem(QIcon(pix), f"{ds.classes[t]} → {ds.classes[pr]}")
            item.setToolTip(f"test image #{idx}: true class {ds.classes[t]}, the model said {ds.classes[pr]}")
            item.setTextAlignment(Qt.AlignmentFlag.AlignHCenter)
            self.addItem(item)

    def clear_results(self) -> None:
        self.entries = []
        self._dataset = None
        self.clear()


class ResultsView(QWidget):
    """Heading, confusion matrix and misclassified gallery, refreshed after every evaluation."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.heading = QLabel("Results appear after the first epoch's evaluation on the test set.")
        self.heading.setWordWrap(True)
        self.matrix = ConfusionMatrixView()
        self.gallery = MisclassifiedGallery()
        self.gallery_label = QLabel("Misclassified test images (true → predicted)")
        gal = QWidget()
        gl = QVBoxLayout(gal)
        gl.setContentsMargins(0, 0, 0, 0)
        gl.addWidget(self.gallery_label)
        gl.addWidget(self.gallery, 1)
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(self.matrix)
        split.addWidget(gal)
        split.setStretchFactor(0, 1)
        split.setStretchFactor(1, 1)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.heading)
        lay.addWidget(split, 1)
        self.matrix.cell_clicked.connect(self._on_cell_clicked)
        self.epoch: int | None = None

    def show_epoch(self, ev: EpochEvent, dataset: Dataset) -> None:
        n = len(dataset.test_y)
        right = round(ev.test_accuracy * n)
        self.epoch = ev.epoch
        self.heading.setText(f"<b>After epoch {ev.epoch}</b>: test accuracy {100 * ev.test_accuracy:.2f} % "
                             f"({right:,} of {n:,} right), test loss {ev.test_loss:.4f}. "
                             f"Click a cell to see those mistakes.")
        self.matrix.set_matrix(ev.confusion, dataset.classes)
        self.gallery.set_results(dataset, ev.misclassified, ev.predictions)
        self._update_gallery_label()

    def _on_cell_clicked(self, true: int, predicted: int) -> None:
        self.gallery.set_filter(true, predicted)
        self._update_gallery_label()

    def _update_gallery_label(self) -> None:
        shown = self.gallery.shown()
        extra = f" (first {MAX_GALLERY} shown)" if len(shown) > MAX_GALLERY else ""
        f = self.gallery._filter
        ds = self.gallery._dataset
        if f is not None and ds is not None:
            what = f"{ds.classes[f[0]]} taken for {ds.classes[f[1]]}" if f[0] != f[1] else \
                f"{ds.classes[f[0]]}: no mistakes in a diagonal cell"
            self.gallery_label.setText(f"Misclassified: {what} — {len(shown)} images{extra}")
        else:
            self.gallery_label.setText(f"Misclassified test images (true → predicted): {len(shown)}{extra}")

    def clear(self) -> None:
        self.epoch = None
        self.heading.setText("Results appear after the first epoch's evaluation on the test set.")
        self.matrix.clear()
        self.gallery.clear_results()
        self.gallery_label.setText("Misclassified test images (true → predicted)")
