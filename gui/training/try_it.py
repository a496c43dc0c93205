""""Try it": draw a digit with the mouse and see what the trained model makes of it.

The drawing is prepared the way the MNIST digits were (LeCun et al.): cropped to its bounding box,
scaled so the longer side is 20 pixels (aspect ratio kept, anti-aliased), and placed in a 28×28 field
so that its centre of mass sits in the middle. The panel shows that 28×28 image — what the model
really sees — next to the class probabilities. Datasets that are not digit-like (Fashion-MNIST) are
scaled to fill the whole field instead, since their images were.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
from netbuilder.core.train.data import Dataset
from netbuilder.gui.training.results import image_to_qimage
from PySide6.QtCore import QPoint, QPointF, QRectF, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QImage, QMouseEvent, QPainter, QPaintEvent, QPen, QPixmap
from PySide6.QtWidgets import (
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

Predictor = Callable[[torch.Tensor], torch.Tensor]
CANVAS = 280  # ten screen pixels per MNIST pixel
PEN_WIDTH = 22  # ≈ the 2–3 px strokes of MNIST digits after scaling to 20 px
DIGIT_LIKE = ("sample", "mnist")


def _resize(a: np.ndarray, h: int, w: int) -> np.ndarray:
    t = torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32))[None, None]
    aa = h < a.shape[0] or w < a.shape[1]
    return F.interpolate(t, size=(h, w), mode="bilinear", align_corners=False, antialias=aa)[0, 0].numpy()


def preprocess(image: np.ndarray, size: int = 28, box: int = 20, centre: str = "mass") -> np.ndarray:
    """A drawing (H×W, ink bright on black, any numeric type) → ``size``×``size`` uint8 as MNIST.

    Crops to the ink's bounding box, scales the longer side to ``box`` pixels keeping the aspect ratio,
    and pastes it so its centre of mass (``centre="mass"``) or its box (``"box"``) is in the middle.
    An empty drawing gives an all-black image."""
    a = np.asarray(image, dtype=np.float32)
    if a.ndim != 2:
        raise ValueError(f"expected a 2-D drawing, got shape {a.shape}")
    peak = float(a.max()) if a.size else 0.0
    out = np.zeros((size, size), dtype=np.float32)
    if peak <= 0:
        return out.astype(np.uint8)
    rows = np.flatnonzero((a > 0.02 * peak).any(axis=1))
    cols = np.flatnonzero((a > 0.02 * peak).any(axis=0))
    crop = a[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1] * (255.0 / peak)
    h, w = crop.shape
    scale = box / max(h, w)
    nh, nw = max(1, min(box, round(h * scale))), max(1, min(box, round(w * scale)))
    digit = np.clip(_resize(crop, nh, nw), 0, 255)
    if centre == "mass" and digit.sum() > 0:
        ys, xs = np.indices(digit.shape)
        cy, cx = float((ys * digit).sum() / digit.sum()), float((xs * digit).sum() / digit.sum())
        top, left = round(size / 2 - cy - 0.5), round(size / 2 - cx - 0.5)
    else:
        top, left = (size - nh) // 2, (size - nw) // 2
    top = int(np.clip(top, 0, size - nh))  # never cut the digit off
    left = int(np.clip(left, 0, size - nw))
    out[top:top + nh, left:left + nw] = digit
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


class DrawCanvas(QWidget):
    """A black square to draw on with the mouse in white, like chalk on a board."""

    changed = Signal()  # while drawing (throttle before predicting)
    stroke_finished = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setFixedSize(CANVAS, CANVAS)
        self.setCursor(Qt.CursorShape.CrossCursor)
        self.setToolTip("Draw a digit here with the mouse (hold the left button)")
        self.image = QImage(CANVAS, CANVAS, QImage.Format.Format_Grayscale8)
        self.image.fill(0)
        self._last: QPointF | None = None
        self.strokes = 0

    def sizeHint(self) -> QSize:
        return QSize(CANVAS, CANVAS)

    def clear(self) -> None:
        self.image.fill(0)
        self.strokes = 0
        self.update()
        self.changed.emit()

    def is_empty(self) -> bool:
        return not bool(self.array().any())

    def array(self) -> np.ndarray:
        """The drawing as an H×W uint8 array."""
        img = self.image
        buf = np.frombuffer(img.constBits(), dtype=np.uint8, count=img.bytesPerLine() * img.height())
        return buf.reshape(img.height(), img.bytesPerLine())[:, :img.width()].copy()

    def _draw(self, a: QPointF, b: QPointF) -> None:
        p = QPainter(self.image)
        p.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        p.setPen(QPen(QColor(255, 255, 255), PEN_WIDTH, Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap,
                      Qt.PenJoinStyle.RoundJoin))
        if a == b:
            p.drawPoint(a)
        else:
            p.drawLine(a, b)
        p.end()
        self.update()
        self.changed.emit()

    def mousePressEvent(self, e: QMouseEvent) -> None:
        if e.button() == Qt.MouseButton.LeftButton:
            self._last = e.position()
            self._draw(self._last, self._last)

    def mouseMoveEvent(self, e: QMouseEvent) -> None:
        if self._last is not None and e.buttons() & Qt.MouseButton.LeftButton:
            pos = e.position()
            self._draw(self._last, pos)
            self._last = pos

    def mouseReleaseEvent(self, e: QMouseEvent) -> None:
        if self._last is not None and e.button() == Qt.MouseButton.LeftButton:
            self._draw(self._last, e.position())
            self._last = None
            self.strokes += 1
            self.stroke_finished.emit()

    def paintEvent(self, _e: QPaintEvent) -> None:
        p = QPainter(self)
        p.drawImage(0, 0, self.image)
        if self._last is None and self.is_empty():
            p.setPen(QColor(150, 150, 150))
            p.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, "draw a digit here")
        p.end()


class ProbabilityBars(QWidget):
    """One horizontal bar per class with its probability; the most likely class is highlighted."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.classes: list[str] = [str(i) for i in range(10)]
        self.probabilities: list[float] = []
        self.setMinimumSize(200, 200)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)

    def set_values(self, classes: list[str], probabilities: list[float]) -> None:
        self.classes = list(classes)
        self.probabilities = list(probabilities)
        self.update()

    def paintEvent(self, _e: QPaintEvent) -> None:
        p = QPainter(self)
        k = max(1, len(self.classes))
        fm = p.fontMetrics()
        label_w = min(max(fm.horizontalAdvance(c) for c in self.classes) + 8, self.width() // 3)
        pct_w = fm.horizontalAdvance("100.0 %") + 6
        row = self.height() / k
        best = int(np.argmax(self.probabilities)) if self.probabilities else -1
        text = self.palette().text().color()
        for i, name in enumerate(self.classes):
            y = i * row
            prob = self.probabilities[i] if i < len(self.probabilities) else 0.0
            p.setPen(text)
            p.drawText(QRectF(0, y, label_w - 6, row), Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignRight,
                       fm.elidedText(name, Qt.TextElideMode.ElideRight, label_w - 6))
            full = max(1.0, self.width() - label_w - pct_w)
            bar = QRectF(label_w, y + row * 0.18, full, row * 0.64)
            p.fillRect(bar, QColor(128, 128, 128, 40))
            p.fillRect(QRectF(bar.x(), bar.y(), full * prob, bar.height()),
                       QColor(30, 110, 220) if i == best else QColor(120, 150, 190))
            p.drawText(QRectF(label_w + full + 4, y, pct_w, row), Qt.AlignmentFlag.AlignVCenter,
                       f"{100 * prob:.1f} %" if self.probabilities else "–")
        p.end()


class TryItView(QWidget):
    """Drawing canvas, the model's-eye 28×28 view and the class probabilities, plus Clear and a
    "Test image" button that shows a random test image instead. Give it a predictor with
    :meth:`set_predictor` (``Trainer.predict``) once a model exists."""

    predicted = Signal(list)  # class probabilities

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.canvas = DrawCanvas()
        self.preview = QLabel()
        self.preview.setFixedSize(112, 112)
        self.preview.setToolTip("What the model sees: the drawing cropped, scaled to 20×20 and centred by its "
                                "centre of mass in 28×28, as the MNIST digits were")
        self.preview.setStyleSheet("background: black; border: 1px solid gray;")
        self.bars = ProbabilityBars()
        self.answer = QLabel(" ")
        font = self.answer.font()
        font.setPointSizeF(font.pointSizeF() * 1.5)
        font.setBold(True)
        self.answer.setFont(font)
        self.status = QLabel("Train a model (or load a checkpoint), then draw a digit.")
        self.status.setWordWrap(True)
        self.clear_button = QPushButton("Clear")
        self.clear_button.setToolTip("Wipe the drawing")
        self.sample_button = QPushButton("Random test image")
        self.sample_button.setToolTip("Show the model a random image from the test set instead of a drawing")

        left = QVBoxLayout()
        left.addWidget(self.canvas)
        buttons = QHBoxLayout()
        buttons.addWidget(self.clear_button)
        buttons.addWidget(self.sample_button)
        left.addLayout(buttons)
        left.addStretch(1)
        right = QGridLayout()
        right.addWidget(QLabel("Model input (28×28):"), 0, 0)
        right.addWidget(self.preview, 1, 0, Qt.AlignmentFlag.AlignTop)
        right.addWidget(self.answer, 2, 0)
        right.addWidget(QLabel("Class probabilities:"), 0, 1)
        right.addWidget(self.bars, 1, 1, 3, 1)
        right.setColumnStretch(1, 1)
        right.setRowStretch(3, 1)
        top = QHBoxLayout()
        top.addLayout(left)
        top.addLayout(right, 1)
        lay = QVBoxLayout(self)
        lay.addLayout(top, 1)
        lay.addWidget(self.status)

        self._predictor: Predictor | None = None
        self._dataset: Dataset | None = None
        self._why_not = "Train a model (or load a checkpoint), then draw a digit."
        self.model_input: np.ndarray | None = None  # uint8 C×H×W last shown to the model
        self.probabilities: list[float] = []
        self._live = QTimer(self)
        self._live.setSingleShot(True)
        self._live.setInterval(80)  # predict while drawing, at most ~12 times a second
        self._live.timeout.connect(self.predict_now)
        self.canvas.changed.connect(self._live.start)
        self.canvas.stroke_finished.connect(self.predict_now)
        self.clear_button.clicked.connect(self._on_clear)
        self.sample_button.clicked.connect(self._on_sample)
        self._rng = np.random.default_rng()
        self._update_enabled()

    # ------------------------------------------------------------------ model
    def set_predictor(self, predictor: Predictor | None, dataset: Dataset | None, why_not: str = "") -> None:
        """Use ``predictor`` (uint8 N×C×H×W → probabilities N×K) for ``dataset``; None disables
        predictions and shows ``why_not``."""
        self._predictor = predictor
        self._dataset = dataset
        if why_not:
            self._why_not = why_not
        self._update_enabled()
        if predictor is not None and not self.canvas.is_empty():
            self.predict_now()

    def _update_enabled(self) -> None:
        ok = self._predictor is not None and self._dataset is not None
        self.sample_button.setEnabled(ok)
        if not ok:
            self.status.setText(self._why_not)
        elif self._dataset is not None and self._dataset.shape[0] != 1:
            self.status.setText(f"{self._dataset.name} images have colour: drawings are shown to the model in "
                                f"grey. Try “Random test image” for real ones.")
        else:
            self.status.setText("Draw a digit with the mouse; the model guesses as you draw."
                                if self._dataset is not None and self._dataset.name in DIGIT_LIKE else
                                "Draw with the mouse; the model guesses as you draw.")

    def model_image(self) -> np.ndarray:
        """The drawing prepared for the current dataset: uint8 C×H×W."""
        ds = self._dataset
        c, h, w = ds.shape if ds is not None else (1, 28, 28)
        digit_like = ds is None or ds.name in DIGIT_LIKE
        box = round(20 * h / 28) if digit_like else h
        img = preprocess(self.canvas.array(), size=h, box=box, centre="mass" if digit_like else "box")
        if w != h:
            img = np.clip(_resize(img.astype(np.float32), h, w), 0, 255).astype(np.uint8)
        return np.repeat(img[None], c, axis=0)

    def predict_now(self) -> list[float]:
        """Show the model the drawing (or nothing if it is empty); returns the probabilities."""
        self._live.stop()
        if self.canvas.is_empty():
            self._show(None, [])
            return []
        return self.predict_image(self.model_image())

    def predict_image(self, img: np.ndarray) -> list[float]:
        """Show ``img`` (uint8 C×H×W) as the model input and predict it if a model is there."""
        probs: list[float] = []
        if self._predictor is not None and self._dataset is not None:
            try:
                out = self._predictor(torch.from_numpy(np.ascontiguousarray(img))[None])
                probs = [float(v) for v in out[0].tolist()]
            except Exception as e:  # a model that cannot take the image: say why instead of crashing
                self.status.setText(f"The model could not classify this image: {type(e).__name__}: {e}")
                probs = []
        self._show(img, probs)
        return probs

    def _show(self, img: np.ndarray | None, probs: list[float]) -> None:
        self.model_input = img
        self.probabilities = probs
        if img is None:
            self.preview.clear()
        else:
            pix = QPixmap.fromImage(image_to_qimage(img)).scaled(
                112, 112, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.FastTransformation)
            self.preview.setPixmap(pix)
        classes = self._dataset.classes if self._dataset is not None else [str(i) for i in range(10)]
        self.bars.set_values(classes, probs)
        if probs:
            best = int(np.argmax(probs))
            self.answer.setText(f"→ {classes[best]}  ({100 * probs[best]:.0f} %)")
        else:
            self.answer.setText(" ")
        self.predicted.emit(probs)

    # ------------------------------------------------------------------ buttons
    def _on_clear(self) -> None:
        self.canvas.clear()
        self._show(None, [])

    def _on_sample(self) -> None:
        ds = self._dataset
        if ds is None or len(ds.test_y) == 0:
            return
        i = int(self._rng.integers(len(ds.test_y)))
        probs = self.predict_image(ds.test_x[i].numpy())
        if probs:
            self.status.setText(f"Test image #{i}: its label is {ds.classes[int(ds.test_y[i])]}.")

    def draw_stroke(self, points: list[tuple[int, int]]) -> None:
        """Draw a polyline as if with the mouse (for demos and screenshots)."""
        from PySide6.QtTest import QTest

        if not points:
            return
        QTest.mousePress(self.canvas, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, QPoint(*points[0]))
        for pt in points[1:]:
            ev = QMouseEvent(QMouseEvent.Type.MouseMove, QPointF(*pt), QPointF(*pt), Qt.MouseButton.NoButton,
                             Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
            self.canvas.mouseMoveEvent(ev)
        QTest.mouseRelease(self.canvas, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
                           QPoint(*points[-1]))
