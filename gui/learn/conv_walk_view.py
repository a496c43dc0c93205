"""The convolution walk-through in the app: the Tools-menu entry, the canvas context menu's
"Open convolution walk-through" and the model it opens with.

:func:`install` adds the menu entry and, given the training side, keeps the latest
:class:`~netbuilder.gui.window.ModelContext` it offers (forgotten on ``model_cleared``) in a small
object owned by the window, so :func:`open_conv_walk` shows a layer's real weights on the first
test image. The view itself is :class:`netbuilder.gui.learn.conv_walk_widget.ConvWalkView`.
"""

from __future__ import annotations

import copy

from netbuilder.core.learn.conv_walk import ConvWalkError
from netbuilder.core.model.layers import REGISTRY
from netbuilder.gui.editor.document import Document
from netbuilder.gui.learn.conv_walk_widget import ConvWalkView, is_convolution
from netbuilder.gui.window import AppWindow, ModelContext, TrainingSource
from PySide6.QtCore import QObject, Qt
from PySide6.QtWidgets import QWidget


class _ModelFollower(QObject):
    """The latest model the training side offered, kept for the walk-throughs opened later.

    A child of the window, so it lives and dies with it; its slots are bound methods, which Qt
    disconnects when it goes."""

    def __init__(self, parent: QWidget, training: TrainingSource | None) -> None:
        super().__init__(parent)
        self.context: ModelContext | None = None
        if training is not None:
            training.model_available.connect(self._on_model_available)
            training.model_cleared.connect(self._on_model_cleared)

    def _on_model_available(self, context: ModelContext) -> None:
        self.context = context

    def _on_model_cleared(self) -> None:
        self.context = None


def _show_window(window: AppWindow, view: ConvWalkView) -> None:
    """Show ``view`` as a tool window of ``window``: Qt owns it and deletes it when it is closed."""
    view.setParent(window.widget(), Qt.WindowType.Window)
    view.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    view.resize(1280, 820)
    view.show()


def open_conv_walk(window: AppWindow, node_id: str) -> ConvWalkView | None:
    """Open the walk-through for canvas node ``node_id`` in its own window (the canvas context menu's
    "Open convolution walk-through"). Uses the latest trained model and its test image when
    :func:`install` has been given one; reports problems in the status bar."""
    follower = window.widget().findChild(_ModelFollower)
    context = follower.context if follower is not None else None
    # A copy: reading it switches it to eval mode for a moment, which must not touch a model that a
    # training run may be using.
    model = copy.deepcopy(context.model) if context is not None else None
    image = context.sample if context is not None else None
    try:
        view = ConvWalkView.from_layer(window.document, node_id, model, image)
    except ConvWalkError as e:
        window.status(str(e), True)
        return None
    except Exception as e:  # a model from an older network no longer fits: fall back to the sizes only
        if model is None:
            raise
        view = ConvWalkView.from_layer(window.document, node_id)
        window.status(f"Showing {node_id}'s sizes only: the trained model does not fit the network now ({e})", True)
    view.setWindowTitle(f"Convolution walk-through — {node_id}")
    _show_window(window, view)
    return view


def is_convolution_node(document: Document, node_id: str) -> bool:
    """Whether the context menu should offer the walk-through for ``node_id``."""
    return node_id in document.graph and is_convolution(REGISTRY[document.graph.node(node_id).type])


def install(window: AppWindow, training: TrainingSource | None = None) -> None:
    """Tools menu: "Convolution walk-through" (the classic example, or the selected conv layer).
    With ``training``, keep the model of its latest ``model_available`` so the walk-through opens
    with real weights on a real input."""
    _ModelFollower(window.widget(), training)

    def open_from_menu() -> None:
        ids = window.document.selected_ids()
        if len(ids) == 1 and is_convolution_node(window.document, ids[0]):
            open_conv_walk(window, ids[0])
        else:
            _show_window(window, ConvWalkView())

    act = window.menu("Tools").addAction("Convolution walk-through…")
    act.setToolTip("Play a convolution step by step (the selected Conv2d layer, or the classic example)")
    act.triggered.connect(lambda _=False: open_from_menu())
