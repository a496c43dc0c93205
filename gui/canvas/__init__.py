"""The node editor canvas: scene, view and the node, port and edge items."""

from gui.canvas.scene import GraphScene
from gui.canvas.view import GraphView

__all__ = ["GraphScene", "GraphView"]
