"""Try it: MNIST-style preprocessing of a drawing and predictions from mouse strokes."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from netbuilder.core.model.project import load_preset
from netbuilder.core.train.data import load_dataset
from netbuilder.core.train.trainer import TrainConfig, Trainer
from netbuilder.gui.training.try_it import CANVAS, TryItView, preprocess
from PySide6.QtCore import QPoint, Qt
from PySide6.QtTest import QTest

torch.set_num_threads(1)


def centre_of_mass(img: np.ndarray) -> tuple[float, float]:
    ys, xs = np.indices(img.shape)
    w = img.astype(float)
    return float((ys * w).sum() / w.sum()), float((xs * w).sum() / w.sum())


def test_preprocess_crops_scales_to_20_and_centres_by_mass():
    drawing = np.zeros((280, 280), dtype=np.uint8)
    drawing[10:110, 200:250] = 255  # a tall bar in the top-right corner, 100×50
    out = preprocess(drawing)
    assert out.shape == (28, 28) and out.dtype == np.uint8
    rows = np.flatnonzero(out.any(axis=1))
    cols = np.flatnonzero(out.any(axis=0))
    assert rows[-1] - rows[0] + 1 == 20  # the longer side is scaled to 20 px
    assert cols[-1] - cols[0] + 1 == 10  # aspect ratio kept
    cy, cx = centre_of_mass(out)
    assert abs(cy - 13.5) <= 0.75 and abs(cx - 13.5) <= 0.75
    assert out.max() == 255


def test_preprocess_of_an_empty_drawing_is_black():
    assert not preprocess(np.zeros((50, 50))).any()


def test_preprocess_keeps_a_lopsided_digit_inside_the_field():
    drawing = np.zeros((100, 100), dtype=np.float32)
    drawing[0:100, 0:3] = 1.0  # a long stroke with a heavy blob at the bottom
    drawing[90:100, 0:60] = 1.0
    out = preprocess(drawing)
    assert out.sum() > 0 and out[:, 0].sum() >= 0
    rows = np.flatnonzero(out.any(axis=1))
    assert rows[0] >= 0 and rows[-1] <= 27 and rows[-1] - rows[0] + 1 == 20  # nothing cut off


@pytest.fixture(scope="module")
def trainer():
    graph = load_preset("lenet5-mnist").graph
    cfg = TrainConfig(dataset="sample", epochs=1, limit_steps=40, threads=1, stats_every=0, histogram_every=0)
    t = Trainer(graph, cfg, load_dataset("sample"))
    t.run()
    return t


def test_drawing_a_stroke_with_the_mouse_gives_ten_probabilities(qtbot, trainer):
    view = TryItView()
    qtbot.addWidget(view)
    view.show()
    assert not view.sample_button.isEnabled()  # no model yet: says what to do
    assert "Train" in view.status.text()
    view.set_predictor(trainer.predict, trainer.dataset)
    got: list[list[float]] = []
    view.predicted.connect(got.append)
    c = view.canvas
    # a "1": a vertical stroke down the middle
    QTest.mousePress(c, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, QPoint(140, 50))
    for y in range(60, 240, 10):
        QTest.mouseMove(c, QPoint(140 + (y - 60) // 30, y))
    QTest.mouseRelease(c, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, QPoint(146, 240))
    assert c.strokes == 1
    probs = view.probabilities
    assert len(probs) == 10 and sum(probs) == pytest.approx(1.0, abs=1e-5)
    assert all(0.0 <= p <= 1.0 for p in probs)
    assert got and got[-1] == probs
    img = view.model_input
    assert img is not None and img.shape == (1, 28, 28)
    rows = np.flatnonzero(img[0].any(axis=1))
    assert rows[-1] - rows[0] + 1 == 20  # the stroke fills the 20-pixel box, as MNIST digits do
    assert view.answer.text().startswith("→ ")
    assert view.preview.pixmap() is not None and not view.preview.pixmap().isNull()
    # Clear wipes the drawing and the prediction
    view.clear_button.click()
    assert c.is_empty() and view.probabilities == [] and view.model_input is None


def test_canvas_draws_where_the_mouse_goes(qtbot):
    view = TryItView()
    qtbot.addWidget(view)
    view.draw_stroke([(30, 30), (CANVAS - 30, CANVAS - 30)])
    a = view.canvas.array()
    assert a[140, 140] > 200 and a[30, 250] == 0
    assert view.probabilities == []  # no model: no prediction, but no error either
    assert view.model_input is not None and view.model_input.shape == (1, 28, 28)


def test_random_test_image_is_classified(qtbot, trainer):
    view = TryItView()
    qtbot.addWidget(view)
    view.set_predictor(trainer.predict, trainer.dataset)
    view.sample_button.click()
    assert len(view.probabilities) == 10
    assert "Test image #" in view.status.text() and "label is" in view.status.text()
