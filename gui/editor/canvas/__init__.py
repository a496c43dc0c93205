"""The node editor canvas: scene, view and the node, port and edge items."""

from netbuilder.gui.editor.canvas.scene import GraphScene
from netbuilder.gui.editor.canvas.view import GraphView

__all__ = ["GraphScene", "GraphView"]
