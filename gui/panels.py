"""Puts every view into the main window and wires them together.

The editor (``gui.main_window``) knows nothing about training or inspection; this module installs
the training panel, the inspection views (autograd graph, gradients, weights and activations) and
the teaching views (Explain, training step, convolution walk-through), connects them to the
training panel's events, and adds the File menu's import and export commands
(:mod:`gui.file_actions`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from PySide6.QtWidgets import QMenu


@dataclass
class Panels:
    """The installed views, for tests and for wiring."""

    training: Any
    autograd: Any
    gradients: Any
    weights: Any
    explain: Any
    stepthrough: Any


def install_all(window: Any) -> Panels:
    """Install every panel into ``window`` (a :class:`gui.main_window.MainWindow`) and wire them."""
    from netbuilder.gui.editor import file_actions
    from netbuilder.gui.inspect import autograd_view, gradient_view, weights_view
    from netbuilder.gui.learn import conv_walk_view, explain_panel, stepthrough_view
    from netbuilder.gui.training.panel import TrainingPanel

    training = TrainingPanel(window.document)
    training.install(window)
    window.training_panel = training
    explain = explain_panel.install(window)
    # The autograd view first: the training-step view links to it when it exists.
    autograd = autograd_view.install(window, training)
    gradients = gradient_view.install(window, training)
    weights = weights_view.install(window, training)
    stepthrough = stepthrough_view.install(window, training)
    conv_walk_view.install(window, training)

    def conv_walk_entry(menu: QMenu, ids: list[str]) -> None:
        if len(ids) == 1 and conv_walk_view.is_convolution_node(window.document, ids[0]):
            act = menu.addAction("Open convolution walk-through")
            act.triggered.connect(lambda _=False, n=ids[0]: conv_walk_view.open_conv_walk(window, n))

    window.node_menu_providers.append(conv_walk_entry)
    def on_trainer_changed(t: Any) -> None:
        if t is None:  # a new project or a new run: nothing may show the previous model any more
            autograd.set_model(None)
            weights.set_model(None)
            stepthrough.set_model(None)
            gradients.set_model(None)
            gradients.reset()
            window.teaching_model = window.teaching_image = None
        elif not training.active:  # a checkpoint loaded in the training panel
            weights.set_model(t.model, t.dataset, t.graph, "the loaded checkpoint", t.config.fit_input)

    training.trainer_changed.connect(on_trainer_changed)
    file_actions.install(window, training)
    _arrange_docks(window)
    return Panels(training, autograd, gradients, weights, explain, stepthrough)


def _arrange_docks(window: Any) -> None:
    """Show the editor's docks in front: the training and inspection docks are tabs behind them."""
    from PySide6.QtCore import Qt, QTimer
    from PySide6.QtWidgets import QDockWidget

    docks = {d.objectName(): d for d in window.findChildren(QDockWidget)}
    # One tab group at the bottom (side by side, the training panel and the summary would need more
    # than a laptop screen's width); the summary in front, as editing comes first.
    if "SummaryDock" in docks and "CodeDock" in docks:
        window.tabifyDockWidget(docks["CodeDock"], docks["SummaryDock"])
    for name in ("InspectorDock", "SummaryDock"):
        if name in docks:
            docks[name].raise_()

    def size_bottom() -> None:
        # The canvas is the main view: the bottom row gets about a third of the height.
        if "SummaryDock" in docks:
            window.resizeDocks([docks["SummaryDock"]], [max(260, window.height() // 3)], Qt.Orientation.Vertical)

    size_bottom()
    QTimer.singleShot(0, size_bottom)

    # Plots and graphs need room: showing one of these tabs grows the bottom row to about half the
    # window (the canvas keeps the rest); the splitter still moves freely afterwards.
    def grow(dock: QDockWidget, visible: bool) -> None:
        if visible and not dock.isFloating() and dock.height() < 0.45 * window.height():
            window.resizeDocks([dock], [int(0.5 * window.height())], Qt.Orientation.Vertical)
            QTimer.singleShot(0, window.view.fit)  # keep the whole network in sight above it

    for name in ("TrainingDock", "AutogradDock", "GradientsDock", "WeightsDock", "StepThroughDock"):
        if name in docks:
            dock = docks[name]
            dock.visibilityChanged.connect(lambda visible, d=dock: grow(d, visible))
