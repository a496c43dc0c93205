"""The three teaching views: the Explain panel, the convolution walk-through and the training-step
walk-through. Numbers are checked against torch computed independently in the test."""

from __future__ import annotations

import pytest

pytest.importorskip("pytestqt")

import torch  # noqa: E402
from PySide6.QtCore import Qt  # noqa: E402
from PySide6.QtTest import QTest  # noqa: E402

from core.autograd import record_outputs  # noqa: E402
from core.compiler import build_model  # noqa: E402
from core.inference import infer  # noqa: E402
from core.project import load_preset  # noqa: E402
from core.shapes import fmt_shape  # noqa: E402
from gui.document import Document  # noqa: E402

torch.set_num_threads(1)


@pytest.fixture
def make_doc():
    docs: list[Document] = []

    def make(preset: str = "lenet5-mnist") -> Document:
        d = Document(load_preset(preset).graph)
        docs.append(d)
        return d

    yield make
    for d in docs:
        d.undo_stack.clear()


def _truth(graph):
    """Per node: output shape (batch excluded) and parameter count, straight from torch."""
    torch.manual_seed(0)
    model, code = build_model(graph)
    res = infer(graph)
    x = torch.randn(2, *res.nodes[res.input_id].output_shape)
    with torch.no_grad():
        outs = record_outputs(graph, model, x, res, code)
    counts = {nid: 0 for nid in res.order}
    owner = {attr: nid for nid, attr in code.attr_names.items()}
    for name, p in model.named_parameters():
        counts[owner[name.rsplit(".", 1)[0]]] += p.numel()
    return {nid: (tuple(outs[nid].shape[1:]), counts[nid]) for nid in res.order}


# --- Explain panel ------------------------------------------------------------------------------

@pytest.mark.parametrize("preset", ["lenet5-mnist", "lenet-tutorial"])
def test_explain_sizes_and_parameter_counts_match_torch(qtbot, make_doc, preset):
    from gui.explain_panel import ExplainPanel

    doc = make_doc(preset)
    panel = ExplainPanel(doc)
    qtbot.addWidget(panel)
    truth = _truth(doc.graph)
    assert set(panel.cards) == set(truth)
    for nid, (shape, count) in truth.items():
        text = panel.entry_text(nid)
        assert text.startswith(f"{nid} — "), text
        assert fmt_shape(shape) in text, (nid, text)
        if doc.graph.node(nid).type == "Input":
            continue
        if count:
            assert f"{count:,} parameters" in text, (nid, text)
        else:
            assert "no parameters" in text, (nid, text)
    assert f"{sum(c for _, c in truth.values()):,} parameters" in panel.summary.text()
    whole = panel.plain_text()
    assert "input → conv2d → relu → maxpool2d → conv2d" in whole
    assert whole.splitlines()[1].endswith("linear → loss")


def test_explain_shows_the_arithmetic_with_actual_numbers(qtbot, make_doc):
    from gui.explain_panel import ExplainPanel

    tut = ExplainPanel(make_doc("lenet-tutorial"))
    qtbot.addWidget(tut)
    assert "Output size: (32 − 5)/1 + 1 = 28" in tut.entry_text("conv1")
    assert "Parameters: 6 × (1 × 5 × 5) + 6 = 156" in tut.entry_text("conv1")
    assert "(28 − 2)/2 + 1 = 14" in tut.entry_text("pool1")
    assert "16 × 5 × 5 = 400" in tut.entry_text("flatten")
    le = ExplainPanel(make_doc("lenet5-mnist"))
    qtbot.addWidget(le)
    assert "(28 + 2·2 − 5)/1 + 1 = 28" in le.entry_text("conv1")


def test_explain_updates_after_an_edit_and_notes_a_linear_that_no_longer_fits(qtbot, make_doc):
    from gui.explain_panel import ExplainPanel

    doc = make_doc("lenet-tutorial")
    panel = ExplainPanel(doc)
    qtbot.addWidget(panel)
    panel.show()
    assert "6 output channels" in panel.cards["conv1"].body.text()
    doc.graph.set_params("conv1", {"out_channels": 10})
    qtbot.waitUntil(lambda: "10 output channels" in panel.cards["conv1"].body.text())
    assert "260 parameters" in panel.entry_text("conv1")  # 10·(1·5·5) + 10
    assert "10 input channels" in panel.entry_text("conv2")
    assert "4,016 parameters" in panel.entry_text("conv2")  # 16·(10·5·5) + 16

    doc.graph.set_params("fc1", {"in_features": 400})  # by hand, equal to what inference gives
    qtbot.waitUntil(lambda: bool(panel.cards["fc1"].entry.notes))
    assert "would be inferred" in panel.entry_text("fc1")
    doc.graph.set_params("conv2", {"out_channels": 8})  # now 8·5·5 = 200 features reach fc1
    qtbot.waitUntil(lambda: "no longer fits" in panel.entry_text("fc1"))
    assert "200" in panel.entry_text("fc1")


def test_clicking_an_entry_selects_the_node_and_selection_highlights_the_entry(qtbot, make_doc):
    from gui.explain_panel import ExplainPanel

    doc = make_doc()
    panel = ExplainPanel(doc)
    qtbot.addWidget(panel)
    panel.resize(420, 300)
    panel.show()
    QTest.mouseClick(panel.cards["conv2"], Qt.MouseButton.LeftButton)
    assert doc.selected_ids() == ["conv2"]
    assert panel.highlighted_ids() == ["conv2"]
    QTest.mouseClick(panel.cards["fc1"], Qt.MouseButton.LeftButton, Qt.KeyboardModifier.ControlModifier)
    assert doc.selected_ids() == ["conv2", "fc1"]

    doc.select_nodes(["fc3"])  # selected elsewhere (the canvas): the panel follows and scrolls there
    assert panel.highlighted_ids() == ["fc3"]
    bar = panel.scroll.verticalScrollBar()
    qtbot.waitUntil(lambda: bar.value() > 0)
    card = panel.cards["fc3"]
    top = card.mapTo(panel.scroll.viewport(), card.rect().topLeft()).y()
    assert 0 <= top < panel.scroll.viewport().height()

    panel._on_pipeline_link("node:pool1")
    assert doc.selected_ids() == ["pool1"]
