"""The typed interfaces between the app's parts: what a view may use of the main window, and what the
training side offers the inspection and teaching views.

Views are written against these protocols, never against ``Any`` or the concrete classes, so a view
can be tested with a small stand-in and nothing is patched onto the main window from outside.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from PySide6.QtCore import Qt, SignalInstance
from PySide6.QtWidgets import QDockWidget, QMenu, QWidget

if TYPE_CHECKING:
    import torch
    from netbuilder.core.model.graph import Graph
    from netbuilder.core.train.data import Dataset
    from netbuilder.gui.editor.canvas import GraphScene, GraphView
    from netbuilder.gui.editor.document import Document


class AppWindow(Protocol):
    """What the views use of :class:`netbuilder.gui.editor.main_window.MainWindow`."""

    document: Document
    scene: GraphScene
    view: GraphView
    #: Consulted before close, New and Open; a guard returning False cancels (e.g. "stop training?").
    close_guards: list[Callable[[], bool]]
    #: Called with the node context menu and the selected ids, to add entries to it.
    node_menu_providers: list[Callable[[QMenu, list[str]], None]]

    def menu(self, name: str) -> QMenu:
        """The top-level menu ``name`` ("File", "Edit", "View", "Tools", "Help")."""
        ...

    def add_panel(self, widget: QWidget, title: str, area: Qt.DockWidgetArea = ...,
                  object_name: str | None = None, tabify: bool = True) -> QDockWidget:
        """Dock ``widget`` in ``area`` with a View-menu toggle."""
        ...

    def status(self, text: str, error: bool = False) -> None:
        """Show ``text`` in the status bar (red when ``error``)."""
        ...

    def widget(self) -> QWidget:
        """The window itself, as the parent of dialogs and tool windows."""
        ...


@dataclass(frozen=True)
class ModelContext:
    """A trained (or loaded) model with everything a view needs to run it on real data.

    ``graph`` is a snapshot of the network the model was built from (the canvas may have changed
    since); ``sample`` is the first test image prepared exactly as for training (fit, normalised, on
    the model's device), or None when the dataset cannot feed this network.
    """

    model: torch.nn.Module
    dataset: Dataset | None
    graph: Graph
    input_shape: tuple[int, ...]
    fit_input: str
    sample: torch.Tensor | None
    #: Where the model comes from, for the views' captions ("the finished run", "the loaded checkpoint").
    origin: str


class TrainingSource(Protocol):
    """What the inspection and teaching views subscribe to on the training side."""

    #: Every training event (``netbuilder.core.train.events``), in order, on the GUI thread.
    event_received: SignalInstance
    #: A :class:`ModelContext`: a run finished or stopped, or a checkpoint was loaded.
    model_available: SignalInstance
    #: The model is gone (new project, new run): views must forget it.
    model_cleared: SignalInstance
    @property
    def live_model(self) -> torch.nn.Module | None:
        """The model of the run in progress, for views that read it while training (or None)."""
        ...

    @property
    def live_dataset(self) -> Dataset | None:
        """The dataset of the run in progress (the dead-ReLU check runs on it mid-run), or None."""
        ...
