"""Sequence and token layer types: Embedding, LSTM, GRU, MultiheadAttention and
TransformerEncoderLayer, with their shape rules, and the Input's ``dtype`` and ``vocab_size``.

NetBuilder's tensors hold the batch first: a sequence is N×T×F (T steps of F features), tokens
are N×T integer ids. torch's recurrent and attention layers default to ``batch_first=False``
(T×N×F); here ``batch_first`` is a required parameter that new nodes start at True, so every file
and every generated line states it (a file written for torch's default would otherwise read the
batch as time). False is accepted, as torch accepts it: the shapes are the same, but the layer
then runs along the batch.

An LSTM's ``h`` and ``c`` (a GRU's ``h``) are layers×N×H as torch returns them, batch second: they
exist so that code and imports can unpack the call, and inference refuses to feed them to a layer
(:attr:`~netbuilder.core.model.layers.LayerSpec.batch_second`); the last step of ``output``
(Select dim 1, index -1) is the usual classifier input.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from netbuilder.core.model.layers import (
    FEATURES,
    REGISTRY,
    Combine,
    ImportCall,
    LayerSpec,
    ParamSpec,
    register,
)
from netbuilder.core.model.shapes import Shape, ShapeError, fmt_shape

if TYPE_CHECKING:
    import torch

SEQUENCE = "Sequence"

# --- the Input: float values or integer tokens -----------------------------------------------------

_INPUT = REGISTRY["Input"]
DTYPE = ParamSpec("dtype", "choice", "float", "float for images, signals and sequences; long for integer "
                  "token ids (text), which an Embedding turns into vectors.", choices=("float", "long"))
VOCAB = ParamSpec("vocab_size", "optional_int", None, "With dtype long: how many distinct tokens there are "
                  "(ids 0 to vocab_size - 1).", minimum=2, maximum=10_000_000)


def _input_summary(p: Mapping[str, Any]) -> str:
    shape = "×".join(map(str, p["shape"]))
    return f"{shape} tokens < {p.get('vocab_size')}" if p.get("dtype") == "long" else shape


# Replaced in place (not re-registered) so that the Input keeps its place in the registry's order.
REGISTRY["Input"] = replace(
    _INPUT, params=(*_INPUT.params, DTYPE, VOCAB), summary=_input_summary,
    explanation=_INPUT.explanation + " With dtype long it holds integer token ids (a text of T tokens is "
    "[T]), and vocab_size says how many distinct tokens there are; an Embedding then turns each id into "
    "a vector.",
)


# --- shape rules -------------------------------------------------------------------------------------

def _sequence(ins: Sequence[Shape], what: str) -> Shape:
    x = ins[0]
    if len(x) != 2:
        raise ShapeError(f"takes a sequence N×T×F (batch, steps, features) but its input is {fmt_shape(x)}; "
                         f"set the Input to [T, F] (MNIST read row by row is [28, 28]) or Reshape to it "
                         f"before the {what}")
    return x


def _check_size(p: Mapping[str, Any], name: str, got: int, x: Shape) -> None:
    if int(p[name]) != got:
        raise ShapeError(f"has {name} {p[name]} but its input {fmt_shape(x)} has {got} features; set {name} "
                         f"to auto or {got}")


def _heads(p: Mapping[str, Any], size: str, heads: str) -> None:
    if int(p[size]) % int(p[heads]):
        raise ShapeError(f"has {size} {p[size]}, which {heads} {p[heads]} does not divide (each head takes "
                         f"{size} / {heads} features); use a {heads} that divides {p[size]}")


def embedding_shape(p: Mapping[str, Any], ins: Sequence[Shape], notes: Sequence[str | None] = ()) -> Shape:
    """Embedding: each id becomes a vector of ``embedding_dim``: N×T → N×T×D."""
    n, idx = int(p["num_embeddings"]), p["padding_idx"]
    if idx is not None and not -n <= int(idx) < n:
        raise ShapeError(f"has padding_idx {idx}, outside the {n} rows; use a value from {-n} to {n - 1}, or none")
    return (*ins[0], int(p["embedding_dim"]))


def rnn_shapes(p: Mapping[str, Any], ins: Sequence[Shape], notes: Sequence[str | None] = ()) -> list[Shape]:
    """LSTM / GRU: output N×T×(D·H) (D = 2 when bidirectional), then h (and c for an LSTM, the same)
    as (layers·D)×H with the batch, torch's dim 1, left out."""
    x = _sequence(ins, "recurrent layer")
    _check_size(p, "input_size", x[1], x)
    d = 2 if p["bidirectional"] else 1
    h = int(p["hidden_size"])
    state = (int(p["num_layers"]) * d, h)
    return [(x[0], d * h), state, state]


def gru_shapes(p: Mapping[str, Any], ins: Sequence[Shape], notes: Sequence[str | None] = ()) -> list[Shape]:
    """GRU: as :func:`rnn_shapes` without the cell state."""
    return rnn_shapes(p, ins)[:2]


def attention_shapes(p: Mapping[str, Any], ins: Sequence[Shape], notes: Sequence[str | None] = ()) -> list[Shape]:
    """MultiheadAttention: one input is self-attention (query = key = value), three are query, key and
    value. Output N×L×E (L = the query's steps), weights N×L×S averaged over the heads (S = the key's)."""
    if len(ins) == 2:
        raise ShapeError("has 2 inputs; connect 1 (self-attention: query = key = value) or 3 (query, key, value)")
    q = _sequence(ins, "attention")
    k, v = (ins[1], ins[2]) if len(ins) == 3 else (q, q)
    e = int(p["embed_dim"])
    _check_size(p, "embed_dim", q[1], q)
    _heads(p, "embed_dim", "num_heads")
    for name, t in (("key", k), ("value", v)):
        if len(t) != 2 or t[1] != e:
            raise ShapeError(f"takes a {name} N×S×{e} (embed_dim features) but its {name} input is {fmt_shape(t)}; "
                             f"give it {e} features")
    if k[0] != v[0]:
        raise ShapeError(f"has a key of {k[0]} steps but a value of {v[0]}; key and value need the same steps")
    return [(q[0], e), (q[0], k[0])]


def encoder_shape(p: Mapping[str, Any], ins: Sequence[Shape], notes: Sequence[str | None] = ()) -> Shape:
    """TransformerEncoderLayer: N×T×E in, the same out."""
    x = _sequence(ins, "encoder layer")
    _check_size(p, "d_model", x[1], x)
    _heads(p, "d_model", "nhead")
    return x


# --- counts ------------------------------------------------------------------------------------------

def _rnn_weights(p: Mapping[str, Any], gates: int) -> tuple[int, int]:
    """(parameters, multiply-adds per step) of an LSTM (4 gates) or GRU (3)."""
    h, d = int(p["hidden_size"]), 2 if p["bidirectional"] else 1
    params = macs = 0
    for layer in range(int(p["num_layers"])):
        size = int(p["input_size"]) if layer == 0 else h * d
        macs += d * gates * h * (size + h)
        params += d * gates * h * (size + h + (2 if p["bias"] else 0))
    return params, macs


def _lstm_params(p: Mapping[str, Any], ins: Sequence[Shape], out: Shape) -> int:
    return _rnn_weights(p, 4)[0]


def _lstm_macs(p: Mapping[str, Any], ins: Sequence[Shape], out: Shape) -> int:
    return ins[0][0] * _rnn_weights(p, 4)[1]


def _gru_params(p: Mapping[str, Any], ins: Sequence[Shape], out: Shape) -> int:
    return _rnn_weights(p, 3)[0]


def _gru_macs(p: Mapping[str, Any], ins: Sequence[Shape], out: Shape) -> int:
    return ins[0][0] * _rnn_weights(p, 3)[1]


def _attention_params(p: Mapping[str, Any], ins: Sequence[Shape], out: Shape) -> int:
    e = int(p["embed_dim"])
    return 4 * e * e + (4 * e if p["bias"] else 0)


def _attention_macs(p: Mapping[str, Any], ins: Sequence[Shape], out: Shape) -> int:
    """The four projections (query, key, value, output) and the two products (scores, weighted sum)."""
    e, lq = int(p["embed_dim"]), ins[0][0]
    lk = ins[1][0] if len(ins) == 3 else lq
    return 2 * lq * e * e + 2 * lk * e * e + 2 * lq * lk * e


def _encoder_params(p: Mapping[str, Any], ins: Sequence[Shape], out: Shape) -> int:
    e, ff = int(p["d_model"]), int(p["dim_feedforward"])
    return (4 * e * e + 4 * e) + (e * ff + ff) + (ff * e + e) + 4 * e  # attention, 2 linears, 2 norms


def _encoder_macs(p: Mapping[str, Any], ins: Sequence[Shape], out: Shape) -> int:
    t, e, ff = ins[0][0], int(p["d_model"]), int(p["dim_feedforward"])
    return t * (4 * e * e + 2 * e * ff) + 2 * t * t * e


# --- code for MultiheadAttention: a module called with query, key and value --------------------------

def _lit(v: Any) -> str:
    return repr(float(v)) if isinstance(v, float) else repr(v)


def _attention_init(p: Mapping[str, Any]) -> str:
    """``nn.MultiheadAttention(64, 4, batch_first=True)``: the arguments not at torch's default."""
    args = [str(p["embed_dim"]), str(p["num_heads"])]
    args += [f"{k}={_lit(p[k])}" for k, d in (("dropout", 0.0), ("bias", True)) if p[k] != d]
    args.append(f"batch_first={p['batch_first']!r}")
    return f"nn.MultiheadAttention({', '.join(args)})"


def _qkv(xs: Sequence[Any]) -> tuple[Any, Any, Any]:
    """Query, key and value from a combine's arguments (the module first, then 1 or 3 inputs)."""
    ins = list(xs[1:])
    return (ins[0], ins[0], ins[0]) if len(ins) == 1 else (ins[0], ins[1], ins[2])


def _attention_code(xs: Sequence[str], p: Mapping[str, Any]) -> str:
    q, k, v = _qkv(xs)
    return f"{xs[0]}({q}, {k}, {v})"


def _attention_apply(xs: Sequence[torch.Tensor], p: Mapping[str, Any]) -> torch.Tensor:
    q, k, v = _qkv(xs)
    module: Any = xs[0]  # the model's nn.MultiheadAttention, ahead of the inputs
    result: torch.Tensor = module(q, k, v)  # a tuple (output, weights): port_values takes it apart
    return result


# --- import checks -----------------------------------------------------------------------------------

def _embedding_check(call: ImportCall) -> str | None:
    if call.args.get("max_norm") is not None:
        return "with max_norm (rows renormalised on lookup)"
    return None


def _rnn_check(call: ImportCall) -> str | None:
    if call.args.get("proj_size"):
        return "with proj_size (a projected LSTM)"
    return None


def _attention_check(call: ImportCall) -> str | None:
    a = call.args
    if a.get("add_zero_attn"):
        return "with add_zero_attn=True"
    e = a.get("embed_dim")
    if a.get("kdim", e) != e or a.get("vdim", e) != e:
        return "with kdim or vdim other than embed_dim"
    m: Any = call.module
    if m is not None:
        if m.bias_k is not None:
            return "with add_bias_kv=True"
        a["bias"] = m.in_proj_bias is not None
    return None


def _encoder_check(call: ImportCall) -> str | None:
    m: Any = call.module
    if m is None:  # nhead and the sizes live in the submodules, not in the layer's attributes
        return "read without its module (nhead is kept in self_attn)"
    act = m.activation
    name = getattr(act, "__name__", type(act).__name__).lower()
    if name not in ("relu", "gelu"):
        return f"with activation {name} (relu or gelu are supported)"
    if m.linear1.bias is None:
        return "with bias=False"
    call.args.update(d_model=m.self_attn.embed_dim, nhead=m.self_attn.num_heads, batch_first=m.self_attn.batch_first,
                     dim_feedforward=m.linear1.out_features, dropout=float(m.dropout.p), activation=name,
                     layer_norm_eps=float(m.norm1.eps))
    return None


# --- the declarations --------------------------------------------------------------------------------

BATCH_FIRST = ParamSpec("batch_first", "bool", True, "Tensors are N×T×F (NetBuilder's layout; torch's default "
                        "is false, T×N×F, so it is always written).", required=True)
SEQ_DROPOUT = ParamSpec("dropout", "float", 0.0, "Dropout probability on the outputs of each layer but the "
                        "last (needs num_layers ≥ 2 to act).", minimum=0.0, maximum=0.99)


def _rnn_params(hidden: str) -> tuple[ParamSpec, ...]:
    return (
        ParamSpec("input_size", "int", "auto", "Features per step; auto takes them from the input.",
                  minimum=1, inferred=FEATURES),
        ParamSpec("hidden_size", "int", 128, f"Size of the {hidden} (features per output step).", minimum=1,
                  maximum=65_536, required=True),
        ParamSpec("num_layers", "int", 1, "Recurrent layers stacked, each reading the one below's output.",
                  minimum=1, maximum=16),
        ParamSpec("bias", "bool", True, "Learn the gates' biases."),
        BATCH_FIRST,
        SEQ_DROPOUT,
        ParamSpec("bidirectional", "bool", False, "Also read the sequence backwards; outputs 2·hidden_size."),
    )


def _rnn_summary(p: Mapping[str, Any]) -> str:
    text = f"{p['hidden_size']}"
    if int(p["num_layers"]) > 1:
        text += f" × {p['num_layers']} layers"
    return text + (", bidirectional" if p["bidirectional"] else "")


register(LayerSpec(
    "Embedding", SEQUENCE,
    "A lookup table: each integer token id (0 to num_embeddings - 1) picks one learned row of "
    "embedding_dim numbers, so N×T ids become N×T×embedding_dim vectors that the next layers can work "
    "on. Takes an Input of dtype long. padding_idx names an id whose row stays zero (padding).",
    (ParamSpec("num_embeddings", "int", 1000, "Rows in the table: the vocabulary size.", minimum=1,
               maximum=10_000_000, required=True),
     ParamSpec("embedding_dim", "int", 64, "Numbers per token.", minimum=1, maximum=65_536, required=True),
     ParamSpec("padding_idx", "optional_int", None, "A token id whose row stays zero and gets no gradient.",
               minimum=-10_000_000, maximum=10_000_000)),
    embedding_shape, lambda p: f"{p['num_embeddings']} → {p['embedding_dim']}", module="Embedding",
    positional=("num_embeddings", "embedding_dim"), has_parameters=True,
    param_count=lambda p, ins, out: int(p["num_embeddings"]) * int(p["embedding_dim"]),
    import_check=_embedding_check, base_id="embed", input_dtype="long",
))

register(LayerSpec(
    "LSTM", SEQUENCE,
    "A long short-term memory: reads the sequence step by step, keeping a memory (the cell state c) that "
    "gates decide to keep, forget or update, and outputs a hidden vector h per step. Output N×T×hidden_size "
    "(twice that when bidirectional); h and c are the final states, (layers × directions)×N×hidden_size as "
    "torch returns them. For a classifier take the last step of the output (Select dim 1, index -1).",
    _rnn_params("memory"), rnn_shapes, _rnn_summary, module="LSTM", positional=("input_size", "hidden_size"),
    has_parameters=True, param_count=_lstm_params, macs=_lstm_macs, import_check=_rnn_check,
    outputs=("output", "h", "c"), nesting=(0, (1, 2)), batch_second=("h", "c"),
))

register(LayerSpec(
    "GRU", SEQUENCE,
    "A gated recurrent unit: like an LSTM with one state instead of two and three gates instead of four, "
    "so fewer parameters. Output N×T×hidden_size (twice that when bidirectional); h is the final state, "
    "(layers × directions)×N×hidden_size. For a classifier take the last step (Select dim 1, index -1).",
    _rnn_params("state"), gru_shapes, _rnn_summary, module="GRU", positional=("input_size", "hidden_size"),
    has_parameters=True, param_count=_gru_params, macs=_gru_macs, import_check=_rnn_check,
    outputs=("output", "h"), batch_second=("h",),
))

register(LayerSpec(
    "MultiheadAttention", SEQUENCE,
    "Attention: every step of the query compares itself with every step of the key (scaled dot products, "
    "softmax) and takes the weighted sum of the values, in num_heads parallel heads of embed_dim / "
    "num_heads features each. One input is self-attention (query = key = value, as in a Transformer); "
    "three inputs are query, key and value. Outputs: output N×L×embed_dim and the weights N×L×S, averaged "
    "over the heads.",
    (ParamSpec("embed_dim", "int", "auto", "Features per step; auto takes them from the query.", minimum=1,
               inferred=FEATURES),
     ParamSpec("num_heads", "int", 4, "Parallel heads; must divide embed_dim.", minimum=1, maximum=1024,
               required=True),
     ParamSpec("dropout", "float", 0.0, "Dropout on the attention weights.", minimum=0.0, maximum=0.99),
     ParamSpec("bias", "bool", True, "Learn biases in the projections."),
     BATCH_FIRST),
    attention_shapes, lambda p: f"{p['num_heads']} heads", torch_class="MultiheadAttention",
    combine=Combine(_attention_code, _attention_apply), min_inputs=1, max_inputs=3,
    has_parameters=True, param_count=_attention_params, macs=_attention_macs, import_check=_attention_check,
    outputs=("output", "weights"), base_id="attn",
    # The node holds its module as an attribute (built in __init__) and calls it with query, key, value.
    extra={"attribute": _attention_init},
))

register(LayerSpec(
    "TransformerEncoderLayer", SEQUENCE,
    "One Transformer encoder block: self-attention over the steps (nhead heads) and a two-layer "
    "feed-forward network of dim_feedforward units, each with a residual connection, dropout and a "
    "LayerNorm (before each part with norm_first, as in ViT; after it otherwise, as in the original "
    "Transformer). N×T×d_model in, the same out.",
    (ParamSpec("d_model", "int", "auto", "Features per step; auto takes them from the input.", minimum=1,
               inferred=FEATURES),
     ParamSpec("nhead", "int", 4, "Attention heads; must divide d_model.", minimum=1, maximum=1024, required=True),
     ParamSpec("dim_feedforward", "int", 2048, "Units in the feed-forward network's hidden layer.", minimum=1,
               maximum=1_000_000),
     ParamSpec("dropout", "float", 0.1, "Dropout after attention and in the feed-forward network.", minimum=0.0,
               maximum=0.99),
     ParamSpec("activation", "choice", "relu", "The feed-forward network's activation.", choices=("relu", "gelu")),
     ParamSpec("layer_norm_eps", "float", 1e-5, "Added to the variance in the LayerNorms.", minimum=0.0,
               maximum=1.0),
     BATCH_FIRST,
     ParamSpec("norm_first", "bool", False, "LayerNorm before attention and feed-forward (pre-norm)."),
     ),
    encoder_shape, lambda p: f"{p['nhead']} heads, ff {p['dim_feedforward']}", module="TransformerEncoderLayer",
    positional=("d_model", "nhead"), has_parameters=True, param_count=_encoder_params, macs=_encoder_macs,
    import_check=_encoder_check, base_id="encoder",
))
