"""The layer registry: the one place that defines each layer type.

A :class:`LayerSpec` holds a layer's parameters (named exactly like the torch keyword arguments,
with defaults, ranges and choices), its shape rule (:mod:`netbuilder.core.model.shapes`), how it
becomes code (an ``nn`` module built in ``__init__``, a functional call in ``forward`` or, for a
merge, a :class:`Combine`), how imported files spell it (its ``nn`` class and
:class:`ImportAlias` functional forms), its parameter and multiply-add counts, and a paragraph for
users. Palette, inspector, inference, code generation, summary, explanations, export and import
all read this registry; adding a layer type means one ``register(LayerSpec(...))`` (see
docs/adding-a-layer.md). The built-in types are declared in
:mod:`netbuilder.core.model.builtin_layers`, registered when this module is imported.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from netbuilder.core.errors import UserError
from netbuilder.core.model.shapes import Shape

if TYPE_CHECKING:
    import torch

AUTO = "auto"

CATEGORIES = (
    "Input",
    "Convolution",
    "Pooling",
    "Linear",
    "Activation",
    "Normalization/Regularization",
    "Sequence",
    "Merge",
    "Tensor operations",
)


DTYPES = ("float", "long", "any")
"""What a layer takes (:attr:`LayerSpec.input_dtype`): float values, integer token ids, or either."""


class ParamError(UserError, ValueError):
    """A parameter value is invalid. ``str(err)`` says why and what is allowed."""


@dataclass(frozen=True)
class Inferred:
    """How an ``auto`` parameter is computed from the layer's (first) input shape, batch excluded.

    ``what`` names the quantity for people (the inspector's tooltip, explanations): ``str()`` of an
    ``Inferred`` is ``what``."""

    what: str
    compute: Callable[[Shape], int]

    def __str__(self) -> str:
        return self.what


CHANNELS = Inferred("channels", lambda x: x[0])
FEATURES = Inferred("features", lambda x: x[-1])


@dataclass(frozen=True)
class ParamSpec:
    """One constructor argument.

    ``kind`` is one of ``int``, ``float``, ``bool``, ``choice``, ``pair`` (an int or two ints),
    ``padding`` (a pair or one of ``choices``), ``optional_pair``, ``optional_int`` and ``shape``
    (a list of positive ints). ``default`` is torch's default, used when a file leaves the
    argument out; ``required`` arguments have no torch default and must be given (``default`` is
    then the value a new node starts with). ``inferred`` arguments may be ``"auto"``: inference
    computes them from the input shape with :attr:`Inferred.compute` (:data:`CHANNELS`,
    :data:`FEATURES`).
    """

    name: str
    kind: str
    default: Any
    doc: str = ""
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] = ()
    required: bool = False
    inferred: Inferred | None = None
    always_emit: bool = False

    def validate(self, value: Any) -> Any:
        """Return ``value`` normalised (pairs as int or tuple), or raise :class:`ParamError`."""
        if self.inferred and (value is None or value == AUTO):
            return AUTO
        kind = self.kind
        if kind == "bool":
            if not isinstance(value, bool):
                raise ParamError(f"{self.name} must be true or false, not {value!r}")
            return value
        if kind == "int":
            return self._int(value)
        if kind == "optional_int":
            return None if value is None else self._int(value)
        if kind == "float":
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ParamError(f"{self.name} must be a number, not {value!r}")
            v = float(value)
            if not math.isfinite(v):
                raise ParamError(f"{self.name} must be finite, not {value!r}")
            self._range(v)
            return v
        if kind == "choice":
            if value not in self.choices:
                raise ParamError(f"{self.name} must be one of {', '.join(map(repr, self.choices))}, not {value!r}")
            return value
        if kind == "pair":
            return self._pair(value)
        if kind == "optional_pair":
            return None if value is None else self._pair(value)
        if kind == "padding":
            if isinstance(value, str):
                if value not in self.choices:
                    raise ParamError(f"{self.name} must be a number, a pair or one of {self.choices}, not {value!r}")
                return value
            return self._pair(value)
        if kind == "shape":
            if (
                not isinstance(value, (list, tuple))
                or len(value) not in (1, 2, 3)
                or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in value)
            ):
                raise ParamError(
                    f"{self.name} must be [C, H, W] (images), [C, L] or [T, F] (signals, sequences) or [features] "
                    "with positive integers (batch excluded), "
                    f"not {value!r}"
                )
            if any(v > 1_000_000 for v in value):
                raise ParamError(f"{self.name} has a dimension over 1,000,000: {value!r}")
            return tuple(value)
        raise AssertionError(f"unknown parameter kind {kind}")

    def _int(self, value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                value = int(value)
            else:
                allowed = " or 'auto'" if self.inferred else ""
                raise ParamError(f"{self.name} must be a whole number{allowed}, not {value!r}")
        self._range(value)
        return int(value)

    def _pair(self, value: Any) -> int | tuple[int, int]:
        if isinstance(value, (list, tuple)):
            if len(value) != 2:
                raise ParamError(f"{self.name} must be one number or two (height, width), not {value!r}")
            a, b = self._int(value[0]), self._int(value[1])
            return a if a == b else (a, b)
        return self._int(value)

    def _range(self, v: float) -> None:
        lo, hi = self.minimum, self.maximum
        if (lo is not None and v < lo) or (hi is not None and v > hi):
            if lo is not None and hi is not None:
                rng = f"between {lo:g} and {hi:g}"
            elif lo is not None:
                rng = f"at least {lo:g}"
            else:
                rng = f"at most {hi:g}"
            raise ParamError(f"{self.name} must be {rng}, not {_shown(v)}")


def _shown(v: float) -> str:
    """A refused number as the message shows it: a huge integer shortened (``{v:g}`` would overflow
    converting it to a float, and thousands of digits help nobody)."""
    if isinstance(v, int):  # no str() of a huge one: Python refuses over 4,300 digits
        return str(v) if abs(v) < 10**30 else f"a {'negative ' if v < 0 else ''}number of about " \
            f"{int(abs(v).bit_length() * 0.30103) + 1:,} digits"
    return f"{v:g}"


Counter = Callable[[Mapping[str, Any], Sequence[Shape], Shape], int]
# A shape rule returns the output's shape, or a list with one shape per output port for a layer
# with several outputs (:attr:`LayerSpec.outputs`).
ShapeFn = Callable[[Mapping[str, Any], Sequence[Shape], Sequence[str | None]], "Shape | list[Shape]"]
# How a call's result holds the output ports: port numbers nested as the result is (``(0, (1, 2))``
# for ``out, (h, c) = self.lstm(x)``); ``None`` is a flat tuple of every port in order.
Nesting = tuple["int | Nesting", ...]


def _zero(p: Mapping[str, Any], ins: Sequence[Shape], out: Shape) -> int:
    return 0


@dataclass(frozen=True)
class Combine:
    """How a merge layer joins its inputs (in port order).

    ``code`` writes the ``forward`` expression from the input variable names and the resolved
    parameters (every value in them is validated, so it is safe to write); ``apply`` does the same
    on tensors (autograd's node-by-node run, the shape tests), and must match ``code`` exactly.
    ``associative`` merges fold on import: ``a + b + c`` becomes one node with three inputs."""

    code: Callable[[Sequence[str], Mapping[str, Any]], str]
    apply: Callable[[Sequence[torch.Tensor], Mapping[str, Any]], torch.Tensor]
    associative: bool = False


@dataclass
class ImportCall:
    """A traced call, or an ``nn`` module, that the importer is turning into a layer.

    ``args`` holds torch's arguments by name (for a module, its attributes, and ``from_module`` is
    set: torch has filled in defaults there, a pool's stride is then its kernel); a check may
    normalise them in place. Values can be traced nodes, so a check tests only for what it needs
    (``isinstance(v, int)``). ``input_shapes`` are the batched shapes of the tensor inputs (None
    for an input that is not a network tensor) and ``output_shape`` the traced result's. A check
    sets ``passthrough`` when the call does nothing here (``F.dropout(x, training=False)``): its
    input's value passes on and no node is made. A call whose result is a tuple of tensors has
    ``output_shape`` None and ``output_shapes`` the pieces' shapes, flattened in order. ``module`` is
    the ``nn`` module itself when there is one, for a check that needs what its attributes do not say
    (a TransformerEncoderLayer keeps ``nhead`` in its attention submodule)."""

    args: dict[str, Any]
    input_shapes: list[tuple[int, ...] | None]
    output_shape: tuple[int, ...] | None
    from_module: bool = False
    passthrough: bool = False
    output_shapes: list[tuple[int, ...]] | None = None
    module: torch.nn.Module | None = None


# Refines an ImportCall in place; returns why it cannot be this layer, completing a sentence that
# starts with the call's name ("without dim (give dim=1)"), or None when it can.
ImportCheck = Callable[[ImportCall], str | None]


@dataclass(frozen=True)
class ImportAlias:
    """Functional forms of a layer that the importer maps to it.

    ``targets`` name them: ``"F.relu"``, ``"torch.flatten"``, ``"operator.add"``, or ``".relu"`` for
    the tensor method ``x.relu()``. ``signature`` is torch's positional order (a last ``"*name"``
    collects the remaining positional arguments). An argument named like one of the spec's
    parameters becomes that parameter; ``tensors`` names the arguments that hold the layer's inputs
    (a list argument gives several); ``defaults`` are torch's where they differ from the spec's
    (``torch.flatten`` starts at dim 0). ``check`` runs before the spec's ``import_check``.
    ``help`` replaces the targets' names in the importer's list of supported operations."""

    targets: tuple[str, ...]
    signature: tuple[str, ...] = ("input", "inplace")
    tensors: tuple[str, ...] = ("input",)
    defaults: Mapping[str, Any] = field(default_factory=dict)
    check: ImportCheck | None = None
    help: str = ""


@dataclass(frozen=True)
class LayerSpec:
    """Everything NetBuilder knows about one layer type.

    Code generation: a layer with ``module`` set (an ``nn`` class name) becomes an attribute built in
    ``__init__``; ``positional`` names the arguments written positionally. Otherwise ``functional``
    names the function called in ``forward`` (``F.relu``, ``torch.flatten``); ``functional_args``
    lists the parameters passed to it. A merge (``min_inputs`` ≥ 2) has a :class:`Combine`.

    Import: ``torch_class`` is the ``nn`` class imported files use for it (default ``module``);
    its attributes named like the parameters are read. ``aliases`` are the functional forms;
    ``import_check`` refines or refuses what was read (module or call); ``base_id`` names imported
    nodes that have no attribute name (default: the type name in lower case).

    Outputs: ``outputs`` names the output ports, computes them from the parameters (Chunk has
    ``chunks`` ports), or is None for one numbered port per shape the rule returns (Split's count
    depends on the input). Any value but the default ``("output",)`` means the call returns a tuple:
    ``shape_fn`` then returns one shape per port, and the tuple is nested as ``nesting`` says
    (:data:`Nesting`; flat when None). Edges name the source port
    (:attr:`netbuilder.core.model.graph.Edge.src_port`); ``docs/adding-a-layer.md`` has an example.

    Meaning, for the rest of core: ``output`` says what the layer's values mean when it ends a
    network, ``"probabilities"`` (softmax) or ``"log_probabilities"`` (log-softmax), and the trainer
    checks the loss against it; ``flattens`` marks a layer whose output is its input laid out flat
    (inference notes ``1024 = 64×4×4`` for the layers after it); ``input_dtype`` is what the layer
    takes: ``"float"`` values, ``"long"`` integer token ids (Embedding), or ``"any"`` for a layer that
    only moves values around and keeps its input's dtype (Reshape, Select); ``batch_second`` names
    output ports whose tensor holds the batch in dim 1, not 0 (an LSTM's ``h`` and ``c`` are
    layers×N×H): their shapes leave that dim out and inference refuses to feed them to a layer;
    ``zeroes_negatives`` marks an
    activation that outputs exact zeros for negative inputs, so its units can die (health checks
    them); ``explain_as`` picks a detailed describer in :mod:`netbuilder.core.learn.explain`
    (``"conv"``, ``"pool_max"``, ``"linear"``...), else its category's or a generic one is used.
    """

    type_name: str
    category: str
    explanation: str
    params: tuple[ParamSpec, ...]
    shape_fn: ShapeFn
    summary: Callable[[Mapping[str, Any]], str]
    module: str | None = None
    functional: str | None = None
    functional_args: tuple[str, ...] = ()
    positional: tuple[str, ...] = ()
    combine: Combine | None = None
    min_inputs: int = 1
    max_inputs: int | None = 1
    has_parameters: bool = False
    param_count: Counter = _zero
    macs: Counter = _zero
    extra: Mapping[str, Any] = field(default_factory=dict)
    output: str | None = None
    torch_class: str | None = None
    aliases: tuple[ImportAlias, ...] = ()
    import_check: ImportCheck | None = None
    base_id: str | None = None
    flattens: bool = False
    zeroes_negatives: bool = False
    explain_as: str | None = None
    outputs: tuple[str, ...] | Callable[[Mapping[str, Any]], tuple[str, ...]] | None = ("output",)
    nesting: Nesting | None = None
    input_dtype: str = "float"
    batch_second: tuple[str, ...] = ()

    def param(self, name: str) -> ParamSpec:
        """The spec of parameter ``name``; KeyError if unknown."""
        for p in self.params:
            if p.name == name:
                return p
        raise KeyError(name)

    def defaults(self) -> dict[str, Any]:
        """Parameters for a new node: required ones at their starting value, inferred ones auto."""
        return {p.name: (AUTO if p.inferred else p.default) for p in self.params if p.required or p.inferred}

    def full_params(self, given: Mapping[str, Any]) -> dict[str, Any]:
        """``given`` completed with torch's defaults for every parameter left out."""
        out = {p.name: (AUTO if p.inferred else p.default) for p in self.params}
        out.update(given)
        return out

    def resolve_inferred(self, params: Mapping[str, Any], input_shape: Shape | None) -> dict[str, Any]:
        """``params`` with every ``auto`` parameter computed from ``input_shape`` (0 without one)."""
        out = dict(params)
        for p in self.params:
            if p.inferred and out.get(p.name) == AUTO:
                out[p.name] = p.inferred.compute(input_shape) if input_shape else 0
        return out

    @property
    def returns_tuple(self) -> bool:
        """True when the layer's call returns a tuple, one value per output port (even one port:
        ``torch.chunk(x, 1)`` is a 1-tuple)."""
        return self.outputs != ("output",) or self.nesting is not None

    def output_names(self, params: Mapping[str, Any], count: int | None = None) -> tuple[str, ...]:
        """The output ports' names, port 0 first, for these (full or resolved) parameters. A spec
        with ``outputs=None`` has one numbered port per shape its rule gives: ``count`` of them
        (inference passes it; without it the count is unknown and ``()`` is returned)."""
        if self.outputs is None:
            return tuple(str(i) for i in range(count or 0))
        return self.outputs(params) if callable(self.outputs) else self.outputs

    def unpack_target(self, names: Sequence[str]) -> str:
        """The assignment target that unpacks the call's result into one variable per port:
        ``a, b`` for a chunk, ``a,`` for a 1-tuple, ``out, (h, c)`` for an LSTM."""
        def text(n: Nesting) -> str:
            parts = [names[i] if isinstance(i, int) else f"({text(i)})" for i in n]
            return ", ".join(parts) + ("," if len(parts) == 1 else "")
        return text(self.nesting or tuple(range(len(names))))

    def port_values(self, result: Any) -> list[Any]:
        """The call's ``result`` as one value per output port, in port order (a layer that does not
        return a tuple has its result as port 0)."""
        if not self.returns_tuple:
            return [result]
        if self.nesting is None:
            return list(result)
        ports: dict[int, Any] = {}

        def walk(n: Nesting, value: Any) -> None:
            for i, v in zip(n, value, strict=True):
                if isinstance(i, int):
                    ports[i] = v
                else:
                    walk(i, v)
        walk(self.nesting, result)
        return [ports[i] for i in sorted(ports)]

    @property
    def is_input(self) -> bool:
        """True for the network's input layer (it takes no inputs)."""
        return self.min_inputs == 0

    @property
    def nn_class(self) -> str | None:
        """The ``nn`` class name imported files use for this layer, if any."""
        return self.torch_class or self.module

    @property
    def node_base_id(self) -> str:
        """The base of ids the importer gives this layer's nodes (``pool`` → ``pool1``, ``pool2``)."""
        return self.base_id or self.type_name.lower()


REGISTRY: dict[str, LayerSpec] = {}


def register(spec: LayerSpec) -> LayerSpec:
    """Add ``spec`` to the registry (its type name must be new)."""
    if spec.type_name in REGISTRY:
        raise ValueError(f"layer type {spec.type_name} is already registered")
    if spec.category not in CATEGORIES:
        raise ValueError(f"unknown category {spec.category}")
    if spec.min_inputs >= 2 and spec.combine is None:
        raise ValueError(f"merge layer {spec.type_name} needs a Combine")
    if spec.input_dtype not in DTYPES:
        raise ValueError(f"input_dtype of {spec.type_name} must be one of {DTYPES}")
    REGISTRY[spec.type_name] = spec
    return spec


def unregister(type_name: str) -> LayerSpec:
    """Remove ``type_name`` from the registry and return its spec (for tests and plug-ins that undo
    a :func:`register`); KeyError if it is not registered."""
    return REGISTRY.pop(type_name)


@contextmanager
def registered(spec: LayerSpec) -> Iterator[LayerSpec]:
    """``with registered(spec):`` — the layer type exists only inside the block."""
    register(spec)
    try:
        yield spec
    finally:
        unregister(spec.type_name)


def get_spec(type_name: str) -> LayerSpec:
    """The spec for ``type_name``; KeyError listing the known types otherwise."""
    try:
        return REGISTRY[type_name]
    except KeyError:
        raise KeyError(f"unknown layer type {type_name!r}; known types: {', '.join(sorted(REGISTRY))}") from None


def input_spec() -> LayerSpec:
    """The spec of the network's input layer (the one registered type that takes no inputs)."""
    return next(s for s in REGISTRY.values() if s.is_input)


def by_category() -> dict[str, list[LayerSpec]]:
    """Specs grouped by category in palette order."""
    groups: dict[str, list[LayerSpec]] = {c: [] for c in CATEGORIES}
    for spec in REGISTRY.values():
        groups[spec.category].append(spec)
    return groups


# The built-in types register themselves on import; they need the classes above, hence the end.
from netbuilder.core.model import builtin_layers as _builtin_layers  # noqa: E402,F401
from netbuilder.core.model import builtin_sequence as _builtin_sequence  # noqa: E402,F401
from netbuilder.core.model import builtin_split as _builtin_split  # noqa: E402,F401
from netbuilder.core.model import builtin_tensor_ops as _builtin_tensor_ops  # noqa: E402,F401
