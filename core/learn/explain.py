"""A learner's description of the network on the canvas, regenerated from each inference result.

:func:`explain` gives one :class:`ExplainEntry` per node, in network order: what the layer does with
its actual sizes, the arithmetic behind its output size with the actual numbers
(``(32 − 5)/1 + 1 = 28``), its parameter count and how it is made up, and notes where the user set
by hand a value that would be inferred or where a size no longer fits. It also gives the pipeline
as one line (``input → conv2d → relu → … → linear → loss``).

The wording comes from a table of describers keyed by a spec's ``explain_as``, with per-category
fallbacks and a generic one that uses the spec's ``explanation``, so a new layer type gets a
sensible entry without any change here (and can reuse a detailed describer by naming it).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from netbuilder.core.model.graph import Graph
from netbuilder.core.model.inference import InferenceResult, NodeInfo, infer
from netbuilder.core.model.layers import AUTO, LayerSpec, get_spec
from netbuilder.core.model.shapes import Shape, conv_out, fmt_shape, pair


@dataclass
class ExplainEntry:
    """One node's explanation. ``text`` is the full paragraph (it starts with ``title``)."""

    node: str
    type: str
    title: str
    text: str
    arithmetic: str = ""  # output-size arithmetic with the actual numbers, "" when there is none
    params: int = 0
    param_arithmetic: str = ""  # e.g. "6 × (1 × 5 × 5) + 6 = 156"
    input_shapes: list[Shape] = field(default_factory=list)
    output_shape: Shape | None = None
    notes: list[str] = field(default_factory=list)  # hand-set inferable values, sizes that don't fit
    error: str | None = None


@dataclass
class Explanation:
    """Entries in network order, the pipeline as (node id, label) pairs, and a one-line summary."""

    entries: list[ExplainEntry]
    pipeline: list[tuple[str | None, str]]
    summary: str
    errors: list[str] = field(default_factory=list)

    def entry(self, node: str) -> ExplainEntry:
        """The entry of ``node``; KeyError if it has none."""
        for e in self.entries:
            if e.node == node:
                return e
        raise KeyError(node)

    def pipeline_text(self, max_items: int | None = None) -> str:
        """``input → conv2d → relu → … → linear → loss``; with ``max_items`` the middle is elided."""
        labels = [label for _, label in self.pipeline]
        if max_items is not None and len(labels) > max_items >= 3:
            head = (max_items - 1) // 2
            tail = max_items - 1 - head
            labels = [*labels[:head], "…", *labels[-tail:]]
        return " → ".join(labels)

    def text(self) -> str:
        """Everything as plain text: summary, pipeline, then one paragraph per node."""
        parts = [self.summary, self.pipeline_text(), ""]
        for e in self.entries:
            parts.append(e.text)
            parts.extend(f"  Note: {n}" for n in e.notes)
        return "\n".join(parts)


# --- wording helpers --------------------------------------------------------------------------

MINUS = "−"


def _n(v: int) -> str:
    return f"{v:,}"


def _plural(count: int, word: str, plural: str | None = None) -> str:
    return f"{_n(count)} {word if count == 1 else (plural or word + 's')}"


def _hw(v: Any) -> str:
    a, b = pair(v)
    return f"{a}×{b}"


def _dims(shape: Shape) -> str:
    return "×".join(map(str, shape))


def _first_sentence(text: str) -> str:
    end = text.find(". ")
    return text if end < 0 else text[: end + 1]


def window_arithmetic(size: int, k: int, s: int, p: int, d: int = 1, ceil_mode: bool = False) -> str:
    """``"(32 − 5)/1 + 1 = 28"``, ``"(28 + 2·2 − 5)/1 + 1 = 28"`` or with rounding
    ``"⌊(28 − 3)/2⌋ + 1 = ⌊12.5⌋ + 1 = 13"``: the output length of a sliding window."""
    num = str(size)
    if p:
        num += f" + 2·{p}"
    num += f" {MINUS} {d}·({k} {MINUS} 1) {MINUS} 1" if d != 1 else f" {MINUS} {k}"
    span = size + 2 * p - d * (k - 1) - 1
    out = conv_out(size, k, s, p, d, ceil_mode)
    if span % s == 0:
        return f"({num})/{s} + 1 = {out}"
    lo, hi = ("⌈", "⌉") if ceil_mode else ("⌊", "⌋")
    text = f"{lo}({num})/{s}{hi} + 1 = {lo}{span / s:g}{hi} + 1"
    plain = (math.ceil(span / s) if ceil_mode else span // s) + 1
    if plain != out:  # torch drops a last window that would start in the right padding
        return f"{text} = {plain}, minus the last window that would start in the padding = {out}"
    return f"{text} = {out}"


def _window_lines(x: Shape, out: Shape, k: Any, s: Any, p: Any, d: Any, ceil_mode: bool) -> str:
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = pair(k), pair(s), pair(p), pair(d)
    if len(x) == 2:  # a signal [C, L]: one length
        return window_arithmetic(x[1], kh, sh, ph, dh, ceil_mode)
    hline = window_arithmetic(x[1], kh, sh, ph, dh, ceil_mode)
    wline = window_arithmetic(x[2], kw, sw, pw, dw, ceil_mode)
    if hline == wline:
        return hline
    return f"height {hline}, width {wline}"


# --- describers -------------------------------------------------------------------------------

@dataclass
class _Ctx:
    node: str
    spec: LayerSpec
    info: NodeInfo
    p: Mapping[str, Any]
    ins: Sequence[Shape]
    out: Shape
    sources: list[str]
    source_notes: list[str | None]


# A describer returns (title suffix, body sentences, output arithmetic, parameter arithmetic).
Described = tuple[str, str, str, str]


def _io(c: _Ctx) -> str:
    return f"{fmt_shape(c.ins[0])} → {fmt_shape(c.out)}" if c.ins else fmt_shape(c.out)


def _no_params(c: _Ctx) -> str:
    return "no parameters" if c.info.params == 0 else f"{_n(c.info.params)} parameters"


def _input(c: _Ctx) -> Described:
    s = c.out
    if c.info.dtype == "long":  # token ids, read by an Embedding
        what = f"{_plural(s[-1] if s else 1, 'token id')} from 0 to {(c.info.vocab_size or 1) - 1}"
        return "", f"each sample is {_dims(s)} ({what}); a batch of N samples is {fmt_shape(s)}.", "", ""
    if len(s) == 3:
        what = f"{_plural(s[0], 'channel')} of {s[1]}×{s[2]} pixels"
    elif len(s) == 1:
        what = f"a vector of {_plural(s[0], 'feature')}"
    elif len(s) == 2:
        what = (f"a signal of {_plural(s[0], 'channel')} × {s[1]} positions, or a sequence of {s[0]} steps × "
                f"{s[1]} features")
    else:
        what = f"a {_dims(s)} tensor"
    return "", f"each sample is {_dims(s)} ({what}); a batch of N samples is {fmt_shape(s)}.", "", ""


def _conv(c: _Ctx) -> Described:
    p, x, out = c.p, c.ins[0], c.out
    cin, cout, groups = int(p["in_channels"]), int(p["out_channels"]), int(p["groups"])
    one_d = len(x) == 2  # Conv1d over [C, L]
    kh, kw = pair(p["kernel_size"])
    stride = pair(p["stride"])
    pad = p["padding"]
    dil = pair(p["dilation"])
    kernel = f"{kh}-long" if one_d else f"{kh}×{kw}"
    bits = [f"{_plural(cin, 'input channel')} → {_plural(cout, 'output channel')}", f"{kernel} kernel",
            f"stride {stride[0] if stride[0] == stride[1] else _hw(stride)}"]
    if pad == "same":
        bits.append(f"padding 'same' (the output keeps the input's {'length' if one_d else 'height and width'})")
    elif pad == "valid" or pair(pad) == (0, 0):
        bits.append("no padding")
    else:
        a, b = pair(pad)
        bits.append(f"padding {a if a == b else f'{a}×{b}'}" + (f" ({p['padding_mode']})"
                                                                 if p.get("padding_mode", "zeros") != "zeros" else ""))
    if dil != (1, 1):
        bits.append(f"dilation {dil[0] if dil[0] == dil[1] else _hw(dil)}")
    per = cin // groups
    slices = _plural(per, "slice")
    bias = bool(p["bias"])
    body = ", ".join(bits) + ". "
    if groups > 1:
        body += (f"The channels are split into {groups} groups: each filter sees {per} of the {cin} input "
                 f"channels. ")
    if groups == cin == cout:
        body += "(groups = channels: a depthwise convolution, each filter sees only its own channel.) "
    body += (f"Each of the {cout} filters has {slices} (one per input channel{' of its group' if groups > 1 else ''})"
             f" of {kernel} weights {'plus a bias' if bias else '(no bias)'}: {_n(c.info.params)} parameters. ")
    pad_pair = (0, 0) if pad in ("same", "valid") else pair(pad)
    if pad == "same":
        arith = f"padding 'same' keeps {_dims(x[1:])}"
    else:
        arith = _window_lines(x, out, (kh, kw), stride, pad_pair, dil, False)
    body += f"Output {fmt_shape(out)}: {arith}."
    sizes = f"{kh}" if one_d else f"{kh} × {kw}"
    parith = f"{cout} × ({per} × {sizes})" + (f" + {cout}" if bias else "") + f" = {_n(c.info.params)}"
    return "", body, arith, parith


def _pool(verb_block: str, verb_window: str) -> Callable[[_Ctx], Described]:
    def describe(c: _Ctx) -> Described:
        p, x = c.p, c.ins[0]
        k = pair(p["kernel_size"])
        s = pair(p["stride"]) if p.get("stride") is not None else k
        pad = pair(p.get("padding", 0))
        d = pair(p.get("dilation", 1))
        size = f"{k[0]}-long" if len(x) == 2 else _hw(k)  # a 1-d pool over [C, L]
        title = (str(k[0]) if len(x) == 2 else _hw(k)) + (
            "" if s == k else f", stride {s[0] if s[0] == s[1] else _hw(s)}")
        if s == k and d == (1, 1):
            what = f"{verb_block} {size} block"
        else:
            step = _plural(s[0], "position" if len(x) == 2 else "pixel") if s[0] == s[1] else f"{_hw(s)} pixels"
            overlap = " (the windows overlap)" if s[0] < k[0] or s[1] < k[1] else ""
            what = f"{verb_window} {size} window, moving {step} at a time{overlap}"
        if pad != (0, 0):
            what += f", with {pad[0] if pad[0] == pad[1] else _hw(pad)} padding"
        arith = _window_lines(x, c.out, k, s, pad, d, bool(p.get("ceil_mode", False)))
        return title, f"{what}; {_io(c)}; {_no_params(c)}. Output size: {arith}.", arith, ""
    return describe


def _adaptive(c: _Ctx) -> Described:
    x, out = c.ins[0], c.out
    size, got = _dims(out[1:]), (f"{x[1]}-long" if len(x) == 2 else _dims(x[1:]))
    arith = f"output_size {size} whatever the input's {got}"
    verb, kind = ("keeps the largest values of", "max") if "Max" in c.info.type else ("averages", "average")
    body = (f"{verb} each channel's {got} {'signal' if len(x) == 2 else 'map'} down to {size}"
            + (f" (one number per channel: global {kind} pooling)" if set(out[1:]) == {1} else "")
            + f"; {_io(c)}; {_no_params(c)}.")
    return f"→ {size}", body, arith, ""


def _conv_transpose(c: _Ctx) -> Described:
    p, x, out = c.p, c.ins[0], c.out
    cin, cout, groups, bias = int(p["in_channels"]), int(p["out_channels"]), int(p["groups"]), bool(p["bias"])
    (kh, kw), (sh, sw), (ph, pw) = pair(p["kernel_size"]), pair(p["stride"]), pair(p["padding"])
    (oph, opw), (dh, dw) = pair(p["output_padding"]), pair(p["dilation"])

    def side(n: int, k: int, s: int, pd: int, op: int, d: int) -> str:
        text = f"({n} {MINUS} 1)·{s}" + (f" {MINUS} 2·{pd}" if pd else "")
        text += f" + {d}·({k} {MINUS} 1)" if d != 1 else f" + ({k} {MINUS} 1)"
        return text + (f" + {op}" if op else "") + f" + 1 = {(n - 1) * s - 2 * pd + d * (k - 1) + op + 1}"

    hline, wline = side(x[1], kh, sh, ph, oph, dh), side(x[2], kw, sw, pw, opw, dw)
    arith = hline if hline == wline else f"height {hline}, width {wline}"
    per, step = cout // groups, sh if sh == sw else _hw((sh, sw))
    body = (f"{_plural(cin, 'input channel')} → {_plural(cout, 'output channel')}, {kh}×{kw} kernel, stride "
            f"{step}: each input pixel adds its value times a {kh}×{kw} filter per output "
            f"channel{' of its group' if groups > 1 else ''} into the output, the stamps {step}"
            f" apart, so the map grows. {cin} × ({per} × {kh} × {kw}) weights{f' + {cout} biases' if bias else ''} = "
            f"{_n(c.info.params)} parameters. Output {fmt_shape(out)}: {arith}.")
    parith = f"{cin} × ({per} × {kh} × {kw})" + (f" + {cout}" if bias else "") + f" = {_n(c.info.params)}"
    return "", body, arith, parith


def _upsample(c: _Ctx) -> Described:
    x, out, p = c.ins[0], c.out, c.p
    if p["size"] is not None:
        arith = f"size {_dims(out[1:])}"
    else:
        sides = {f"⌊{n} × {float(p['scale_factor']):g}⌋ = {m}": None for n, m in zip(x[1:], out[1:], strict=True)}
        arith = ", ".join(sides)  # one line when the sides are equal
    how = ("repeating the nearest value" if p["mode"] == "nearest"
           else "interpolating between the 4 nearest pixels" + (" (corners aligned)" if p["align_corners"] else ""))
    body = (f"resizes each channel from {_dims(x[1:])} to {_dims(out[1:])} ({arith}) by {how}; {_io(c)}; "
            f"{_no_params(c)}.")
    return f"→ {_dims(out[1:])}", body, arith, ""


def _linear(c: _Ctx) -> Described:
    p = c.p
    fin, fout, bias = int(p["in_features"]), int(p["out_features"]), bool(p["bias"])
    body = (f"{_plural(fin, 'input')} → {_plural(fout, 'output')}. Each output is a weighted sum of all {fin} "
            f"inputs{' plus a bias' if bias else ''}: {fin} × {fout} weights"
            + (f" + {fout} biases" if bias else "") + f" = {_n(c.info.params)} parameters. {_io(c)}")
    src_note = c.source_notes[0] if c.source_notes else None
    arith = f"in_features {src_note} from '{c.sources[0]}'" if src_note else ""
    body += f"; {arith}." if arith else "."
    parith = f"{fin} × {fout}" + (f" + {fout}" if bias else "") + f" = {_n(c.info.params)}"
    return "", body, arith, parith


def _flatten(c: _Ctx) -> Described:
    x, out = c.ins[0], c.out
    arith = ""
    if len(out) == 1 and len(x) > 1:
        arith = f"{' × '.join(map(str, x))} = {_n(out[0])}"
        body = (f"{_io(c)}: each sample's {_dims(x)} values are laid out in one row of {_n(out[0])} features "
                f"({arith}), so Linear layers can follow; {_no_params(c)}.")
    else:
        body = f"{_io(c)}; {_no_params(c)}."
    return "", body, arith, ""


def _batchnorm(c: _Ctx) -> Described:
    x, nf = c.ins[0], int(c.p["num_features"])
    over = f"the batch and all {x[1]}×{x[2]} positions" if len(x) == 3 else "the batch"
    unit = "channel" if len(x) == 3 else "feature"
    body = f"normalises each {unit} to zero mean and unit variance over {over}, then "
    if c.p["affine"]:
        body += f"applies a learned scale and shift: 2 × {nf} = {_n(c.info.params)} parameters"
        parith = f"2 × {nf} = {_n(c.info.params)}"
    else:
        body += "leaves it so (affine off): no learned parameters"
        parith = ""
    if c.p["track_running_stats"]:
        body += " (plus a running mean and variance used when evaluating, which are not learned)"
    body += f". Shape unchanged: {fmt_shape(c.out)}."
    return f"over {_plural(nf, unit)}", body, "", parith


def _norm(c: _Ctx) -> Described:
    """LayerNorm, GroupNorm, InstanceNorm2d: what each statistic is taken over, and the affine step."""
    p, x = c.p, c.ins[0]
    shift = True
    if "normalized_shape" in p:  # LayerNorm: a scale (and shift) per normalised element
        ns = tuple(p["normalized_shape"])
        count, title, affine, shift = math.prod(ns), _dims(ns), bool(p["elementwise_affine"]), bool(p["bias"])
        over, per = f"its last {_plural(len(ns), 'dimension')} ({_dims(ns)}, {_n(count)} values)", "element"
    elif "num_groups" in p:
        g, count = int(p["num_groups"]), int(p["num_channels"])
        title, affine, per = f"{g} groups", bool(p["affine"]), "channel"
        over = f"each of {g} groups of {count // g} channels" + (
            f" and their {_dims(x[1:])} positions" if x[1:] else "")
    else:  # InstanceNorm2d
        count = int(p["num_features"])
        title, affine, per = f"over {_plural(count, 'channel')}", bool(p["affine"]), "channel"
        over = f"each channel's {_dims(x[1:])} positions"
    body = f"normalises each sample on its own (no batch statistics) over {over} to zero mean and unit variance, then "
    parith = ""
    if affine:
        what = "scale and shift" if shift else "scale"
        parith = f"{2 if shift else 1} × {_n(count)} = {_n(c.info.params)}"
        body += f"applies a learned {what} per {per}: {parith} parameters"
    else:
        body += "leaves it so (no affine step): no learned parameters"
    return title, body + f". Shape unchanged: {fmt_shape(c.out)}.", "", parith


def _dropout(c: _Ctx) -> Described:
    pr = float(c.p["p"])
    scale = f"1/(1 {MINUS} {pr:g}) = {1 / (1 - pr):.4g}" if pr < 1 else "∞ (everything is dropped)"
    # Dropout2d drops whole feature maps; StochasticDepth the whole output of the residual branch it ends
    unit = {"Dropout2d": "channel (a whole feature map)",
            "StochasticDepth": "sample's whole output" if c.p.get("mode") == "row" else "batch's whole output",
            }.get(c.info.type, "value")
    body = (f"while training, zeroes each {unit} with probability {pr:g} and multiplies the others by {scale}; "
            f"does nothing when evaluating. Shape unchanged: {fmt_shape(c.out)}; {_no_params(c)}.")
    return f"p={pr:g}", body, "", ""


def _add(c: _Ctx) -> Described:
    names = " + ".join(c.sources)
    body = (f"adds its {len(c.ins)} inputs ({names}) element by element, as at the join of a residual (skip) "
            f"connection; {' + '.join(fmt_shape(s) for s in c.ins)} → {fmt_shape(c.out)}; {_no_params(c)}.")
    return "", body, "", ""


def _concat(c: _Ctx) -> Described:
    dim = int(c.p["dim"])
    axis = dim if dim > 0 else dim + len(c.out) + 1
    what = {1: "channels" if len(c.out) == 3 else "features"}.get(axis, f"dimension {axis}")
    sizes = [s[axis - 1] for s in c.ins]
    arith = f"{' + '.join(map(str, sizes))} = {c.out[axis - 1]} {what}"
    joined = ", ".join(f"{n} ({fmt_shape(s)})" for n, s in zip(c.sources, c.ins, strict=False))
    body = f"along dim {dim} ({what}): joins {joined} into {fmt_shape(c.out)} ({arith}); {_no_params(c)}."
    return f"along dim {dim}", body, arith, ""


def _activation(c: _Ctx) -> Described:
    first = _first_sentence(get_spec(c.info.type).explanation)
    body = (f"{first} Applied to each of the {_n(math.prod(c.out))} values of a sample; shape unchanged: "
            f"{fmt_shape(c.out)}; {_no_params(c)}.")
    return "", body, "", ""


def _generic(c: _Ctx) -> Described:
    first = _first_sentence(c.spec.explanation)
    ins = " + ".join(fmt_shape(s) for s in c.ins)
    return "", f"{first} {ins} → {fmt_shape(c.out)}; {_no_params(c)}.", "", ""


# Keyed by a spec's ``explain_as``; a spec without one gets its category's describer or the generic one.
DESCRIBERS: dict[str, Callable[[_Ctx], Described]] = {
    "input": _input,
    "conv": _conv,
    "pool_max": _pool("keeps the largest of each", "keeps the largest value in each"),
    "pool_avg": _pool("averages each", "averages each"),
    "adaptive_pool": _adaptive,
    "linear": _linear,
    "flatten": _flatten,
    "batchnorm": _batchnorm,
    "dropout": _dropout,
    "norm": _norm,
    "conv_transpose": _conv_transpose,
    "upsample": _upsample,
    "add": _add,
    "concat": _concat,
}
CATEGORY_DESCRIBERS: dict[str, Callable[[_Ctx], Described]] = {"Activation": _activation}


def _describer(spec: LayerSpec) -> Callable[[_Ctx], Described]:
    if spec.explain_as is not None:
        return DESCRIBERS[spec.explain_as]
    return CATEGORY_DESCRIBERS.get(spec.category, _generic)


# --- notes ------------------------------------------------------------------------------------

def _notes(graph: Graph, nid: str, info: NodeInfo, spec: LayerSpec) -> list[str]:
    notes: list[str] = []
    x = info.input_shapes[0] if info.input_shapes else None
    for name in info.explicit_inferable:
        ps = spec.param(name)
        value = info.resolved.get(name)
        how = ps.inferred
        inferred = how.compute(x) if x and how else None
        if inferred is None:
            notes.append(f"{name} = {value} was set by hand; '{AUTO}' would take it from the input.")
        elif inferred == value:
            notes.append(f"{name} = {value} was set by hand, but it would be inferred from the input anyway "
                         f"({inferred}); set it to '{AUTO}' so it follows when the layers before it change.")
        else:
            notes.append(f"{name} = {value} was set by hand but the input now gives {inferred} {how}: it no "
                         f"longer fits. Set {name} to {inferred}, or to '{AUTO}' so it always follows the input.")
    return notes


# --- entry point ------------------------------------------------------------------------------

def _entry(graph: Graph, result: InferenceResult, nid: str) -> ExplainEntry:
    info = result.nodes[nid]
    spec = get_spec(info.type)
    node = graph.node(nid)
    sources = [e.src for e in sorted(graph.in_edges(nid), key=lambda e: e.port)]
    notes = _notes(graph, nid, info, spec)
    error = info.error
    base_title = f"{nid} — {info.type}"
    if error or info.output_shape is None:
        summary = spec.summary(spec.full_params(node.params)) if spec.params else ""
        if error:
            text = f"{base_title}{' ' + summary if summary else ''}: this layer has a problem: {error}"
        else:
            text = (f"{base_title}{' ' + summary if summary else ''}: its sizes are unknown until the problem "
                    "before it is fixed.")
        return ExplainEntry(nid, info.type, base_title, text, params=info.params,
                            input_shapes=list(info.input_shapes), output_shape=None, notes=notes, error=error)
    ctx = _Ctx(nid, spec, info, info.resolved, info.input_shapes, info.output_shape, sources,
               [result.nodes[s].note for s in sources])
    try:
        suffix, body, arith, parith = _describer(spec)(ctx)
    except Exception as ex:  # a wording bug must not take the panel down; fall back to the generic text
        suffix, body, arith, parith = _generic(ctx)
        notes.append(f"(the detailed description failed: {type(ex).__name__})")
    title = f"{base_title} {suffix}" if suffix else base_title
    return ExplainEntry(nid, info.type, title, f"{title}: {body}", arith, info.params, parith,
                        list(info.input_shapes), info.output_shape, notes, None)


def explain(graph: Graph, result: InferenceResult | None = None) -> Explanation:
    """Explain every node of ``graph`` (using ``result`` if given, else a fresh inference)."""
    result = result or infer(graph)
    entries = [_entry(graph, result, nid) for nid in result.order if nid in result.nodes]
    pipeline: list[tuple[str | None, str]] = [(nid, result.nodes[nid].type.lower()) for nid in result.order]
    pipeline.append((None, "loss"))
    if result.ok and result.input_id and result.output_id:
        i = result.nodes[result.input_id].output_shape or ()
        o = result.nodes[result.output_id].output_shape or ()
        layers = sum(1 for nid in result.order if not get_spec(result.nodes[nid].type).is_input)
        summary = (f"{graph.name}: {_plural(layers, 'layer')}, {fmt_shape(i)} → {fmt_shape(o)}, "
                   f"{_plural(result.total_params, 'parameter')} to learn.")
    else:
        summary = (f"{graph.name}: {_plural(len(result.errors), 'problem')} to fix before the network can run"
                   if result.errors else f"{graph.name}: empty")
    return Explanation(entries, pipeline, summary, [e.message for e in result.errors])
