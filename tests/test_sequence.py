"""Sequence and token layers (core/model/builtin_sequence.py): shape rules and parameter counts
against real torch, the Input's dtype through inference, code that runs on token ids, random token
inputs for autograd, and the import checks."""

from __future__ import annotations

from contextlib import nullcontext
from typing import Any

import pytest
import torch
import torch.nn as nn
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from netbuilder.core.inspect.autograd import random_input, record_outputs
from netbuilder.core.model.compiler import build_model
from netbuilder.core.model.graph import Graph
from netbuilder.core.model.inference import infer
from netbuilder.core.model.layers import AUTO, ImportCall, get_spec
from netbuilder.core.model.shapes import ShapeError

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)


def resolve(type_name: str, params: dict[str, Any], ins: list[tuple[int, ...]]) -> dict[str, Any]:
    spec = get_spec(type_name)
    given_ = {k: spec.param(k).validate(v) for k, v in params.items()}
    return spec.resolve_inferred(spec.full_params(given_), ins[0])


def ours(type_name: str, p: dict[str, Any], ins: list[tuple[int, ...]]) -> list[tuple[int, ...]] | None:
    out = get_spec(type_name).shape_fn(p, ins, [])
    return out if isinstance(out, list) else [out]


rnn_params = st.fixed_dictionaries({
    "input_size": st.one_of(st.just(AUTO), st.integers(1, 6)),
    "hidden_size": st.integers(1, 8), "num_layers": st.integers(1, 3), "bias": st.booleans(),
    "batch_first": st.just(True), "dropout": st.sampled_from([0.0, 0.5]), "bidirectional": st.booleans(),
})
sequence = st.tuples(st.integers(1, 6), st.integers(1, 6))


@pytest.mark.parametrize("type_name", ["LSTM", "GRU"])
def test_recurrent_shapes_and_counts_match_torch(type_name: str) -> None:
    seen = {"ok": 0}

    @SETTINGS
    @given(rnn_params, st.one_of(sequence, sequence, st.tuples(st.integers(1, 6))))
    def check(params: dict[str, Any], x: tuple[int, ...]) -> None:
        p = resolve(type_name, params, [x])
        try:
            shapes = ours(type_name, p, [x])
        except ShapeError as e:
            assert len(x) != 2 or p["input_size"] != x[1], e
            assert ";" in str(e)
            return
        assert len(x) == 2 and shapes is not None
        kw = {k: p[k] for k in ("input_size", "hidden_size", "num_layers", "bias", "batch_first", "dropout",
                                "bidirectional")}
        with pytest.warns(UserWarning) if p["dropout"] and p["num_layers"] == 1 else nullcontext():
            m = getattr(nn, type_name)(**kw)
        out, state = m(torch.zeros(3, *x))
        states = list(state) if type_name == "LSTM" else [state]
        assert shapes[0] == tuple(out.shape[1:])
        for s, t in zip(shapes[1:], states, strict=True):  # batch second: (layers·directions, N, H)
            assert (s[0], 3, s[1]) == tuple(t.shape)
        spec = get_spec(type_name)
        assert spec.param_count(p, [x], shapes[0]) == sum(t.numel() for t in m.parameters())
        seen["ok"] += 1

    check()
    assert seen["ok"] > 10


def test_embedding_shapes_and_counts_match_torch() -> None:
    @SETTINGS
    @given(st.integers(1, 20), st.integers(1, 8), st.one_of(st.none(), st.integers(-25, 25)),
           st.one_of(st.tuples(st.integers(1, 6)), sequence))
    def check(n: int, d: int, idx: int | None, x: tuple[int, ...]) -> None:
        p = resolve("Embedding", {"num_embeddings": n, "embedding_dim": d, "padding_idx": idx}, [x])
        try:
            shapes = ours("Embedding", p, [x])
        except ShapeError:
            with pytest.raises(AssertionError):
                nn.Embedding(n, d, padding_idx=idx)
            return
        m = nn.Embedding(n, d, padding_idx=idx)
        y = m(torch.randint(0, n, (2, *x)))
        assert shapes == [tuple(y.shape[1:])]
        assert get_spec("Embedding").param_count(p, [x], y.shape[1:]) == m.weight.numel()

    check()


def test_attention_shapes_and_counts_match_torch() -> None:
    @SETTINGS
    @given(st.sampled_from([1, 2, 3, 4]), st.integers(1, 4), st.integers(1, 5), st.integers(1, 5), st.booleans(),
           st.sampled_from([1, 3]), st.booleans())
    def check(heads: int, per_head: int, lq: int, lk: int, bias: bool, inputs: int, wrong: bool) -> None:
        e = heads * per_head
        embed = e + 1 if wrong else AUTO
        ins = [(lq, e)] if inputs == 1 else [(lq, e), (lk, e), (lk, e)]
        p = resolve("MultiheadAttention", {"embed_dim": embed, "num_heads": heads, "bias": bias,
                                           "batch_first": True}, ins)
        if wrong:
            with pytest.raises(ShapeError):
                ours("MultiheadAttention", p, ins)
            return
        shapes = ours("MultiheadAttention", p, ins)
        m = nn.MultiheadAttention(e, heads, bias=bias, batch_first=True)
        xs = [torch.zeros(2, *s) for s in ins]
        out, weights = m(*(xs * 3 if inputs == 1 else xs))
        assert shapes == [tuple(out.shape[1:]), tuple(weights.shape[1:])]
        assert get_spec("MultiheadAttention").param_count(p, ins, out.shape[1:]) == \
            sum(t.numel() for t in m.parameters())

    check()


def test_attention_refuses_heads_that_do_not_divide_and_two_inputs() -> None:
    p = resolve("MultiheadAttention", {"num_heads": 3, "batch_first": True}, [(5, 8)])
    with pytest.raises(ShapeError, match="does not divide"):
        ours("MultiheadAttention", p, [(5, 8)])
    with pytest.raises(ShapeError, match="2 inputs"):
        ours("MultiheadAttention", p, [(5, 8), (5, 8)])


def test_encoder_layer_shapes_and_counts_match_torch() -> None:
    @SETTINGS
    @given(st.sampled_from([1, 2, 4]), st.integers(1, 4), st.integers(1, 6), st.integers(1, 16),
           st.sampled_from(["relu", "gelu"]), st.booleans())
    def check(heads: int, per_head: int, t: int, ff: int, act: str, norm_first: bool) -> None:
        e = heads * per_head
        p = resolve("TransformerEncoderLayer", {"nhead": heads, "dim_feedforward": ff, "activation": act,
                                                "batch_first": True, "norm_first": norm_first}, [(t, e)])
        shapes = ours("TransformerEncoderLayer", p, [(t, e)])
        m = nn.TransformerEncoderLayer(e, heads, ff, activation=act, batch_first=True, norm_first=norm_first)
        y = m(torch.zeros(2, t, e))
        assert shapes == [tuple(y.shape[1:])]
        assert get_spec("TransformerEncoderLayer").param_count(p, [(t, e)], y.shape[1:]) == \
            sum(q.numel() for q in m.parameters())

    check()
    with pytest.raises(ShapeError, match="sequence N×T×F"):
        ours("TransformerEncoderLayer", resolve("TransformerEncoderLayer", {"nhead": 2, "batch_first": True},
                                                [(2, 4, 4)]), [(2, 4, 4)])


# --- the Input's dtype through inference, code and autograd -------------------------------------

def token_net(embedding: bool = True, rows: int = 50) -> Graph:
    g = Graph("Net")
    g.add_node("Input", "input", {"shape": [12], "dtype": "long", "vocab_size": 50})
    last = "input"
    if embedding:
        g.add_node("Embedding", "embed", {"num_embeddings": rows, "embedding_dim": 8})
        g.connect("input", "embed")
        last = "embed"
    g.add_node("MultiheadAttention", "attn", {"num_heads": 2, "batch_first": True})
    g.add_node("Flatten", "flat")
    g.add_node("Linear", "fc", {"out_features": 3})
    g.connect(last, "attn")
    g.connect("attn", "flat", src_port=0)
    g.connect("flat", "fc")
    return g


def test_a_token_network_infers_compiles_and_runs_on_token_ids() -> None:
    g = token_net()
    r = infer(g)
    assert r.ok, r.error_text()
    assert r.input_vocab == 50
    assert r.nodes["input"].dtype == "long" and r.nodes["embed"].dtype == "float"
    assert r.nodes["attn"].output_shapes == [(12, 8), (12, 12)]
    model, _ = build_model(g, r)
    x = random_input((12,), 4, 0, vocab_size=50)
    assert x.dtype == torch.int64 and int(x.min()) >= 0 and int(x.max()) < 50
    outs = record_outputs(g, model, x, r)
    assert torch.allclose(outs["fc"], model(x))


def test_embedding_after_a_float_input_says_to_set_the_dtype() -> None:
    g = Graph("Net")
    g.add_node("Input", "input", {"shape": [12]})
    g.add_node("Embedding", "embed", {"num_embeddings": 50, "embedding_dim": 8})
    g.add_node("Flatten", "flat")
    g.connect("input", "embed")
    g.connect("embed", "flat")
    (err,) = infer(g).errors
    assert err.node == "embed"
    assert "Embedding 'embed'" in err.message and "set the Input's dtype to long" in err.message


def test_float_layers_after_token_ids_say_to_add_an_embedding() -> None:
    (err,) = infer(token_net(embedding=False)).errors
    assert err.node == "attn" and "integer token ids" in err.message and "Embedding" in err.message


def test_long_input_needs_a_vocab_size_and_an_embedding_large_enough() -> None:
    g = token_net()
    g.set_params("input", {"vocab_size": None})
    assert "vocab_size" in infer(g).errors_for("input")[0]
    (err,) = infer(token_net(rows=20)).errors
    assert err.node == "embed" and "at least 50" in err.message


def test_lstm_state_ports_cannot_feed_a_layer() -> None:
    g = Graph("Net")
    g.add_node("Input", "input", {"shape": [28, 28]})
    g.add_node("LSTM", "lstm", {"hidden_size": 16, "batch_first": True})
    g.add_node("Flatten", "flat")
    g.connect("input", "lstm")
    g.connect("lstm", "flat", src_port=1)
    (err,) = infer(g).errors
    assert err.node == "flat" and "'h'" in err.message and "batch in dim 1" in err.message


def test_lstm_code_unpacks_output_h_and_c() -> None:
    from netbuilder.core.model.project import load_preset

    g = load_preset("lstm-mnist-rows").graph
    r = infer(g)
    assert r.ok, r.error_text()
    assert r.nodes["lstm"].output_names == ("output", "h", "c")
    assert r.nodes["last"].note is None  # Select drops a dim: not a flattening
    model, code = build_model(g, r)
    assert "lstm_output, (lstm_h, lstm_c) = self.lstm(x)" in code.source
    assert "nn.LSTM(28, 128, batch_first=True)" in code.source
    x = torch.randn(2, 28, 28)
    assert model(x).shape == (2, 10)
    assert torch.allclose(record_outputs(g, model, x, r)["fc"], model(x))


# --- import checks --------------------------------------------------------------------------------

def module_call(type_name: str, module: nn.Module) -> tuple[ImportCall, str | None]:
    spec = get_spec(type_name)
    args = {k: v for k, v in vars(module).items() if not k.startswith("_")}
    call = ImportCall(args, [None], None, from_module=True, module=module)
    assert spec.import_check is not None
    return call, spec.import_check(call)


def test_encoder_layer_import_reads_its_submodules() -> None:
    m = nn.TransformerEncoderLayer(16, 4, 64, dropout=0.2, activation="gelu", batch_first=True, norm_first=True)
    call, reason = module_call("TransformerEncoderLayer", m)
    assert reason is None
    assert {k: call.args[k] for k in ("d_model", "nhead", "dim_feedforward", "dropout", "activation",
                                      "batch_first", "norm_first")} == \
        {"d_model": 16, "nhead": 4, "dim_feedforward": 64, "dropout": 0.2, "activation": "gelu",
         "batch_first": True, "norm_first": True}
    _, reason = module_call("TransformerEncoderLayer", nn.TransformerEncoderLayer(16, 4, activation=nn.SiLU()))
    assert reason is not None and "silu" in reason


def test_attention_and_rnn_imports_refuse_what_they_cannot_hold() -> None:
    call, reason = module_call("MultiheadAttention", nn.MultiheadAttention(8, 2, bias=False))
    assert reason is None and call.args["bias"] is False
    assert module_call("MultiheadAttention", nn.MultiheadAttention(8, 2, add_bias_kv=True))[1] == \
        "with add_bias_kv=True"
    assert "kdim" in (module_call("MultiheadAttention", nn.MultiheadAttention(8, 2, kdim=4))[1] or "")
    assert "proj_size" in (module_call("LSTM", nn.LSTM(4, 8, proj_size=2))[1] or "")
    assert "max_norm" in (module_call("Embedding", nn.Embedding(10, 4, max_norm=1.0))[1] or "")


def test_a_layer_that_keeps_the_dtype_passes_token_ids_on() -> None:
    from dataclasses import replace

    from netbuilder.core.model.layers import register, registered

    with registered(replace(get_spec("Flatten"), type_name="FlattenIds", input_dtype="any")):
        g = Graph("Net")
        g.add_node("Input", "input", {"shape": [3, 4], "dtype": "long", "vocab_size": 10})
        g.add_node("FlattenIds", "ids")
        g.add_node("Embedding", "embed", {"num_embeddings": 10, "embedding_dim": 2})
        g.add_node("Flatten", "flat")
        for a, b in (("input", "ids"), ("ids", "embed"), ("embed", "flat")):
            g.connect(a, b)
        r = infer(g)
        assert r.ok, r.error_text()
        assert (r.nodes["ids"].dtype, r.nodes["ids"].vocab_size) == ("long", 10)
        assert r.nodes["flat"].output_shape == (24,)
    with pytest.raises(ValueError, match="input_dtype"):
        register(replace(get_spec("Flatten"), type_name="Bad", input_dtype="int8"))
