"""Puts every view into the main window and wires them together.

The editor (:mod:`netbuilder.gui.editor.main_window`) knows nothing about training or inspection;
this module installs the training panel, the inspection views (autograd graph, gradients, weights
and activations) and the teaching views (Explain, training step, convolution walk-through), and
subscribes them to the training session (:class:`netbuilder.gui.window.TrainingSource`). The File
menu's exports read the session's model; its imports hand their weights to the training panel.
"""

from __future__ import annotations

from dataclasses import dataclass

from netbuilder.gui.editor.main_window import MainWindow
from netbuilder.gui.inspect import autograd_view, gradient_view, weights_view
from netbuilder.gui.inspect.autograd_view import AutogradView
from netbuilder.gui.inspect.gradient_view import GradientView
from netbuilder.gui.inspect.weights_view import WeightsView
from netbuilder.gui.learn import conv_walk_view, explain_panel, stepthrough_view
from netbuilder.gui.learn.explain_panel import ExplainPanel
from netbuilder.gui.learn.stepthrough_view import StepThroughView
from netbuilder.gui.training.panel import TrainingPanel
from netbuilder.gui.training.session import TrainingSession
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QDockWidget, QMenu

BOTTOM_SHARE = 0.44  # of the window's height, for the bottom row of tabs (plots need room) at the start


@dataclass
class Panels:
    """The installed views, for tests and for wiring."""

    training: TrainingPanel
    autograd: AutogradView
    gradients: GradientView
    weights: WeightsView
    explain: ExplainPanel
    stepthrough: StepThroughView

    @property
    def session(self) -> TrainingSession:
        """The training session every view follows."""
        return self.training.session


def install_all(window: MainWindow) -> Panels:
    """Install every panel into ``window`` and wire them."""
    training = TrainingPanel(window.document)
    training.install(window)
    session = training.session
    explain = explain_panel.install(window)
    # The autograd view first: the training-step view links to it.
    autograd = autograd_view.install(window, session)
    gradients = gradient_view.install(window, session)
    weights = weights_view.install(window, session)
    stepthrough = stepthrough_view.install(window, session, autograd)
    conv_walk_view.install(window, session)

    def conv_walk_entry(menu: QMenu, ids: list[str]) -> None:
        if len(ids) == 1 and conv_walk_view.is_convolution_node(window.document, ids[0]):
            act = menu.addAction("Open convolution walk-through")
            act.triggered.connect(lambda _=False, n=ids[0]: conv_walk_view.open_conv_walk(window, n))

    window.node_menu_providers.append(conv_walk_entry)
    window.files.follow(session)
    window.files.weights_loaded.connect(training.set_initial_weights)
    _arrange_docks(window)
    return Panels(training, autograd, gradients, weights, explain, stepthrough)


def _arrange_docks(window: MainWindow) -> None:
    """Show the editor's docks in front: the training and inspection docks are tabs behind them."""
    docks = {d.objectName(): d for d in window.findChildren(QDockWidget)}
    # One tab group at the bottom (side by side, the training panel and the summary would need more
    # than a laptop screen's width); the summary in front, as editing comes first.
    if "SummaryDock" in docks and "CodeDock" in docks:
        window.tabifyDockWidget(docks["CodeDock"], docks["SummaryDock"])
    for name in ("InspectorDock", "SummaryDock"):
        if name in docks:
            docks[name].raise_()

    def size_bottom() -> None:
        # The canvas is the main view, the bottom row's tabs (summary, training plots, graphs) get a fixed
        # share once; switching tabs never resizes it (that moved the canvas under the mouse), only the user.
        if "SummaryDock" in docks:
            window.resizeDocks([docks["SummaryDock"]], [max(300, int(BOTTOM_SHARE * window.height()))],
                               Qt.Orientation.Vertical)

    size_bottom()
    QTimer.singleShot(0, size_bottom)
