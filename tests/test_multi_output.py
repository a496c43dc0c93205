"""Layers with several outputs: Chunk and Split against torch, edges from a named port, per-port
inference, tuple unpacking in the generated code, the node-by-node run, and the importer's
mapping of tuple results (and its messages for the ones it cannot map)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
import torch
from netbuilder.core.inspect.autograd import autograd_graph, record_outputs
from netbuilder.core.inspect.health import dead_relu_report
from netbuilder.core.inspect.model_view import feature_maps
from netbuilder.core.interop.import_trace import ModelImportError
from netbuilder.core.interop.importer import import_model
from netbuilder.core.learn.stepthrough import TrainingStep
from netbuilder.core.model.codegen import generate
from netbuilder.core.model.compiler import build_model
from netbuilder.core.model.graph import Edge, Graph, GraphError
from netbuilder.core.model.inference import infer
from netbuilder.core.model.layers import REGISTRY, LayerSpec, registered
from netbuilder.core.model.shapes import ShapeError

SHAPES = [(6,), (5, 7), (4, 6, 5), (3, 8, 2)]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("chunks", [1, 2, 3, 4, 7])
def test_chunk_shapes_match_torch(shape: tuple[int, ...], chunks: int) -> None:
    rule = REGISTRY["Chunk"].shape_fn
    for dim in [*range(1, len(shape) + 1), -1]:
        x = torch.zeros(2, *shape)
        want = [tuple(t.shape[1:]) for t in torch.chunk(x, chunks, dim)]
        params = {"chunks": chunks, "dim": dim}
        if len(want) != chunks:  # torch gives fewer pieces: refused, every port must exist
            with pytest.raises(ShapeError, match=f"use chunks={len(want)}"):
                rule(params, [shape], [None])
        else:
            assert rule(params, [shape], [None]) == want


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("size", [1, 2, 3, 5, 9])
def test_split_shapes_match_torch(shape: tuple[int, ...], size: int) -> None:
    rule = REGISTRY["Split"].shape_fn
    for dim in [*range(1, len(shape) + 1), -1]:
        want = [tuple(t.shape[1:]) for t in torch.split(torch.zeros(2, *shape), size, dim)]
        assert rule({"split_size_or_sections": size, "dim": dim}, [shape], [None]) == want


def test_cutting_the_batch_is_refused() -> None:
    with pytest.raises(ShapeError, match="dim 0, the batch"):
        REGISTRY["Chunk"].shape_fn({"chunks": 2, "dim": 0}, [(4, 4)], [None])


def shuffle_graph() -> Graph:
    """Input → Chunk(2) → (piece 1 → Conv) + piece 0 → Concat → Split(3, dim 2) → Concat(2, 0)."""
    g = Graph("shuffle")
    g.add_node("Input", "input", {"shape": [4, 8, 8]})
    g.add_node("Chunk", "halves", {"chunks": 2})
    g.add_node("Conv2d", "conv", {"out_channels": 2, "kernel_size": 3, "padding": 1})
    g.add_node("Concat", "join")
    g.add_node("Split", "rows", {"split_size_or_sections": 3, "dim": 2})
    g.add_node("Concat", "out", {"dim": 2})
    g.connect("input", "halves")
    g.connect("halves", "conv", src_port=1)
    g.connect("halves", "join", src_port=0)
    g.connect("conv", "join")
    g.connect("join", "rows")
    g.connect("rows", "out", src_port=2)
    g.connect("rows", "out", src_port=0)
    return g


def test_edges_name_their_source_port() -> None:
    g = shuffle_graph()
    assert Edge("halves", "conv", 0, 1) in g.edges
    with pytest.raises(GraphError, match="has no output port 2"):
        g.connect("halves", "join", src_port=2)
    g.rename_node("halves", "h")
    assert Edge("h", "conv", 0, 1) in g.edges and Edge("h", "conv", 0, 1) in g.copy().edges
    node, edges = g.remove_node("conv")
    g.insert_node(node, edges)
    assert Edge("h", "conv", 0, 1) in g.edges


def test_inference_gives_each_port_its_shape() -> None:
    g = shuffle_graph()
    r = infer(g)
    assert r.ok, r.error_text()
    assert r.nodes["halves"].output_shapes == [(2, 8, 8), (2, 8, 8)]
    assert r.nodes["halves"].output_shape == (2, 8, 8) and r.nodes["halves"].output_names == ("0", "1")
    assert r.nodes["rows"].output_shapes == [(4, 3, 8), (4, 3, 8), (4, 2, 8)]
    assert r.edge_shape(Edge("rows", "out", 0, 2)) == (4, 2, 8)
    assert r.nodes["out"].output_shape == (4, 5, 8)


def test_a_port_the_source_lacks_and_a_multi_output_end_are_errors() -> None:
    g = shuffle_graph()
    g.set_params("rows", {"split_size_or_sections": 4})  # 8 rows → 2 pieces: port 2 is gone
    r = infer(g)
    assert "connected to output 2 of Split 'rows', which has 2 output(s)" in r.error_text()
    g.remove_node("out")
    assert "ends the network but has 2 outputs" in infer(g).error_text()


def test_generated_code_unpacks_each_port() -> None:
    g = shuffle_graph()
    model, code = build_model(g)
    assert "halves_0, halves_1 = torch.chunk(x, 2, dim=1)" in code.source
    assert "rows_0, rows_1, rows_2 = torch.split(join, 3, dim=2)" in code.source
    assert "torch.cat([rows_2, rows_0], dim=2)" in code.source
    assert code.port_vars["rows"] == ["rows_0", "rows_1", "rows_2"] and code.var_names["rows"] == "rows_0"
    x = torch.randn(2, 4, 8, 8)
    a, b = torch.chunk(x, 2, 1)
    joined = torch.cat([a, model.conv(b)], 1)
    pieces = torch.split(joined, 3, 2)
    assert torch.equal(model(x), torch.cat([pieces[2], pieces[0]], 2))


def test_a_single_piece_is_still_unpacked_from_its_tuple() -> None:
    g = Graph()
    g.add_node("Input", "input", {"shape": [4]})
    g.add_node("Chunk", "c", {"chunks": 1})
    g.connect("input", "c")
    model, code = build_model(g)
    assert "c_0, = torch.chunk(x, 1, dim=1)" in code.source
    assert model(torch.ones(1, 4)).shape == (1, 4)


def test_nesting_maps_a_nested_result_to_ports() -> None:
    # an LSTM's ``out, (h, c) = self.lstm(x)``: port 0 is out, 1 is h, 2 is c
    spec = LayerSpec("Nested", "Tensor operations", "test", (), lambda p, i, n: [i[0]] * 3, lambda p: "",
                     functional="torch.chunk", outputs=("output", "h", "c"), nesting=(0, (1, 2)))
    assert spec.unpack_target(["o", "h", "c"]) == "o, (h, c)"
    assert spec.port_values(("O", ("H", "C"))) == ["O", "H", "C"]
    assert spec.returns_tuple and not REGISTRY["ReLU"].returns_tuple
    assert REGISTRY["ReLU"].port_values("y") == ["y"]


def test_a_declared_nesting_reorders_ports_in_code_autograd_and_import(tmp_path: Path) -> None:
    # port 0 is the call's second piece: the nesting says where each port sits in the result
    spec = LayerSpec("Swapped", "Tensor operations", "test", REGISTRY["Chunk"].params,
                     lambda p, i, n: list(reversed(REGISTRY["Chunk"].shape_fn(p, i, n))), lambda p: "",
                     functional="torch.chunk", functional_args=("chunks", "dim"), positional=("chunks",),
                     outputs=("second", "first"), nesting=(1, 0))
    with registered(spec):
        g = Graph()
        g.add_node("Input", "input", {"shape": [3, 2]})
        g.add_node("Swapped", "s", {"chunks": 2})
        g.add_node("Linear", "fc", {"out_features": 2})
        g.add_node("Flatten", "flat")
        g.connect("input", "s")
        g.connect("s", "flat", src_port=0)
        g.connect("flat", "fc")
        assert infer(g).nodes["s"].output_shapes == [(1, 2), (2, 2)]
        model, code = build_model(g)
        assert "s_first, s_second = torch.chunk(x, 2, dim=1)" in code.source
        x = torch.randn(2, 3, 2)
        outs = record_outputs(g, model, x)
        assert torch.equal(outs["s"], torch.chunk(x, 2, 1)[1])
        assert torch.equal(outs["fc"], model(x))


def test_inspection_runs_node_by_node_through_ports() -> None:
    g = shuffle_graph()
    g.add_node("ReLU", "act")
    g.add_node("Flatten", "flat")
    g.add_node("Linear", "fc", {"out_features": 3})
    for a, b in (("out", "act"), ("act", "flat"), ("flat", "fc")):
        g.connect(a, b)
    model, _ = build_model(g)
    x = torch.randn(2, 4, 8, 8)
    outs = record_outputs(g, model, x)
    assert torch.equal(outs["fc"], model(x))
    assert torch.equal(outs["halves"], torch.chunk(x, 2, 1)[0])  # a node's entry is its port 0
    ag = autograd_graph(g, model, x, loss="cross-entropy")
    assert any(n.layer == "conv" for n in ag.nodes)
    maps = feature_maps(g, model, x[0])
    assert [m.node for m in maps][:2] == ["input", "halves"]
    assert dead_relu_report(g, x, graph=g).stats
    step = TrainingStep(g, model, x[:1], loss="mse")
    for _ in range(5):
        step.step()


def _write(tmp_path: Path, name: str, body: str) -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(body))
    return path


def test_import_maps_chunk_split_and_their_pieces_to_ports(tmp_path: Path) -> None:
    path = _write(tmp_path, "shuffle.py", """
        import torch
        import torch.nn as nn


        class Shuffle(nn.Module):
            input_shape = (4, 8, 8)

            def __init__(self):
                super().__init__()
                self.conv = nn.Conv2d(2, 2, 3, padding=1)

            def forward(self, x):
                a, b = x.chunk(2, dim=1)
                y = torch.cat([a, self.conv(b)], 1)
                p = torch.split(y, 3, dim=2)
                z = torch.cat([p[2], p[0]], dim=2)
                z = torch.cat([z], 1)  # one tensor: z itself (DenseNet)
                return torch.cat(torch.chunk(z, 2, 1), 1)  # a whole tuple into a merge: every piece
    """)
    imported = import_model(path)
    g = imported.graph
    assert [n.type for n in g.nodes].count("Concat") == 3
    assert {e.src_port for e in g.edges if e.src == "split"} == {0, 2}
    assert imported.max_abs_diff == 0.0 and not imported.notes
    again = tmp_path / "again.py"
    again.write_text(generate(g).source)
    def body(graph: Graph) -> str:
        return generate(graph).source.split("class Net")[1]
    assert body(import_model(again).graph) == body(g)


@pytest.mark.parametrize(("body", "words"), [
    ("""
        def __init__(self):
            super().__init__()
            self.rnn = nn.RNN(8, 4, batch_first=True)

        def forward(self, x):
            out, h = self.rnn(x)
            return out
    """, "nn.RNN (self.rnn) returns a tuple and is not a NetBuilder layer"),
    ("""
        def forward(self, x):
            a, b, c, d, e = torch.unbind(x, 1)
            return a + b
    """, "torch.unbind() is not supported"),
    ("""
        def forward(self, x):
            v, i = torch.max(x, 1)
            return v
    """, "torch.max() is not supported"),
])
def test_a_tuple_result_that_cannot_be_mapped_is_named(tmp_path: Path, body: str, words: str) -> None:
    src = "import torch\nimport torch.nn as nn\n\n\nclass T(nn.Module):\n    input_shape = (5, 8)\n" + \
        textwrap.indent(textwrap.dedent(body), "    ")
    path = tmp_path / "t.py"
    path.write_text(src)
    with pytest.raises(ModelImportError) as err:
        import_model(path)
    msg = str(err.value)
    assert words in msg and "1 unsupported operation:" in msg
    assert "getitem" not in msg.split("Supported:")[0]  # the pieces picked from it are not reported again
