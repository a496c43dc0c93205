"""Graphs several test files build."""

from __future__ import annotations

from netbuilder.core.model.graph import Graph


def sigmoid_mlp(depth: int = 10, width: int = 64) -> Graph:
    """A deep MLP of Linear + Sigmoid layers on MNIST-sized input: the textbook vanishing-gradient case."""
    g = Graph("sigmoid MLP")
    g.add_node("Input", "input", {"shape": [1, 28, 28]})
    g.add_node("Flatten", "flatten")
    g.connect("input", "flatten")
    prev = "flatten"
    for i in range(1, depth + 1):
        g.add_node("Linear", f"fc{i}", {"out_features": 10 if i == depth else width})
        g.connect(prev, f"fc{i}")
        prev = f"fc{i}"
        if i < depth:
            g.add_node("Sigmoid", f"sig{i}")
            g.connect(prev, f"sig{i}")
            prev = f"sig{i}"
    return g


def linear_net() -> Graph:
    """Flatten + one Linear: the smallest MNIST classifier (diverges at once with an absurd learning rate)."""
    g = Graph("linear")
    g.add_node("Input", "input", {"shape": [1, 28, 28]})
    g.add_node("Flatten", "flatten")
    g.add_node("Linear", "fc", {"out_features": 10})
    g.connect("input", "flatten")
    g.connect("flatten", "fc")
    return g
