"""One editor widget per parameter kind (``ParamSpec.kind``), for the inspector's generated form.

Spin boxes carry the declared ranges, combos the choices, pairs get two spin boxes, inferred sizes
an "auto" toggle that shows the inferred value, padding a number/'same'/'valid' choice, shapes and
lists of dims a line edit. A new parameter kind needs an entry in :data:`EDITORS`
(tests/test_gui_inspector_kinds.py checks every registered type has one).
"""

from __future__ import annotations

from typing import Any

from netbuilder.core.model.layers import AUTO, ParamSpec
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QSpinBox,
    QWidget,
)

INT_MIN, INT_MAX = -(2**31), 2**31 - 1


def set_invalid(widget: QWidget, invalid: bool) -> None:
    widget.setProperty("invalid", invalid)
    widget.style().unpolish(widget)
    widget.style().polish(widget)


def _spin(lo: float | None, hi: float | None) -> QSpinBox:
    s = QSpinBox()
    s.setRange(int(lo) if lo is not None else INT_MIN, int(hi) if hi is not None else INT_MAX)
    s.setKeyboardTracking(False)  # one change per Enter / arrow click, not per keystroke
    s.setAccelerated(True)
    s.setMinimumWidth(72)
    return s


class Editor(QWidget):
    """Base editor for one parameter: ``changed(value)`` when the user commits a new value."""

    changed = Signal(object)

    def __init__(self, spec: ParamSpec) -> None:
        super().__init__()
        self.spec = spec
        self.lay = QHBoxLayout(self)
        self.lay.setContentsMargins(0, 0, 0, 0)
        self.lay.setSpacing(6)
        self._updating = False

    def set_value(self, value: Any, resolved: Any = None) -> None:
        self._updating = True
        try:
            self._set(value, resolved)
        finally:
            self._updating = False

    def _set(self, value: Any, resolved: Any) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def value(self) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    def _emit(self, *_: object) -> None:
        if not self._updating:
            self.changed.emit(self.value())

    def mark(self, invalid: bool) -> None:
        for w in self.findChildren(QWidget):
            if isinstance(w, (QLineEdit, QSpinBox)):
                set_invalid(w, invalid)


class IntEditor(Editor):
    """int / optional_int, with an "auto" toggle for inferred sizes."""

    def __init__(self, spec: ParamSpec) -> None:
        super().__init__(spec)
        optional = spec.kind == "optional_int"
        lo = spec.minimum
        if optional:
            lo = (spec.minimum or 1) - 1
        self.spin = _spin(lo, spec.maximum)
        if optional:
            self.spin.setSpecialValueText("none")
        self.lay.addWidget(self.spin, 1)
        self.auto: QCheckBox | None = None
        if spec.inferred:
            self.auto = QCheckBox("auto")
            self.auto.setToolTip(f"Take {spec.name} from the input's {spec.inferred} (shown greyed)")
            self.lay.addWidget(self.auto)
            self.auto.toggled.connect(self._on_auto)
        self.spin.valueChanged.connect(self._emit)

    def _on_auto(self, on: bool) -> None:
        self.spin.setEnabled(not on)
        self._emit()

    def _set(self, value: Any, resolved: Any) -> None:
        if self.auto is not None:
            is_auto = value == AUTO
            self.auto.setChecked(is_auto)
            self.spin.setEnabled(not is_auto)
            if is_auto:
                value = resolved if isinstance(resolved, int) else self.spin.minimum()
        if value is None:
            value = self.spin.minimum()
        self.spin.setValue(int(value))

    def value(self) -> Any:
        if self.auto is not None and self.auto.isChecked():
            return AUTO
        v = self.spin.value()
        if self.spec.kind == "optional_int" and v == self.spin.minimum():
            return None
        return v


class FloatEditor(Editor):
    def __init__(self, spec: ParamSpec) -> None:
        super().__init__(spec)
        self.edit = QLineEdit()
        self.edit.setAlignment(Qt.AlignmentFlag.AlignRight)
        self.lay.addWidget(self.edit, 1)
        self.edit.editingFinished.connect(self._emit)

    def _set(self, value: Any, resolved: Any) -> None:
        # None: an optional number left empty (Upsample's scale_factor when it is given a size)
        self.edit.setText("" if value is None else f"{float(value):g}")

    def value(self) -> Any:
        text = self.edit.text().strip().replace(",", ".")
        if not text:
            return None  # ParamSpec.validate refuses it where the number is not optional
        try:
            return float(text)
        except ValueError:
            return text  # ParamSpec.validate explains what is wrong


class BoolEditor(Editor):
    def __init__(self, spec: ParamSpec) -> None:
        super().__init__(spec)
        self.box = QCheckBox()
        self.lay.addWidget(self.box)
        self.lay.addStretch(1)
        self.box.toggled.connect(self._emit)

    def _set(self, value: Any, resolved: Any) -> None:
        self.box.setChecked(bool(value))

    def value(self) -> Any:
        return self.box.isChecked()


class ChoiceEditor(Editor):
    def __init__(self, spec: ParamSpec) -> None:
        super().__init__(spec)
        self.combo = QComboBox()
        self.combo.addItems(list(spec.choices))
        self.lay.addWidget(self.combo, 1)
        self.combo.currentTextChanged.connect(self._emit)

    def _set(self, value: Any, resolved: Any) -> None:
        self.combo.setCurrentText(str(value))

    def value(self) -> Any:
        return self.combo.currentText()


class PairEditor(Editor):
    """pair / optional_pair / padding: two spin boxes (height × width); padding adds a mode combo
    (number, 'same', 'valid'), optional pairs a "default" toggle (None)."""

    def __init__(self, spec: ParamSpec) -> None:
        super().__init__(spec)
        self.mode: QComboBox | None = None
        self.default: QCheckBox | None = None
        if spec.kind == "padding" and spec.choices:
            self.mode = QComboBox()
            self.mode.addItems(["pixels", *spec.choices])
            self.lay.addWidget(self.mode)
            self.mode.currentTextChanged.connect(self._on_mode)
        self.h = _spin(spec.minimum, spec.maximum)
        self.w = _spin(spec.minimum, spec.maximum)
        self.h.setToolTip("height")
        self.w.setToolTip("width")
        self.h.setMinimumWidth(52)
        self.w.setMinimumWidth(52)
        x = QLabel("×")
        x.setObjectName("muted")
        self.lay.addWidget(self.h, 1)
        self.lay.addWidget(x)
        self.lay.addWidget(self.w, 1)
        if spec.kind == "optional_pair":
            self.default = QCheckBox("default")
            self.default.setToolTip(spec.doc)
            self.lay.addWidget(self.default)
            self.default.toggled.connect(self._on_default)
        self._linked = True
        self.h.valueChanged.connect(self._on_h)
        self.w.valueChanged.connect(self._emit)

    def _on_h(self, v: int) -> None:
        # square by default: editing the height of a square pair edits both
        if self._linked and not self._updating:
            self._updating = True
            self.w.setValue(v)
            self._updating = False
        self._emit()

    def _on_mode(self, text: str) -> None:
        self._enable()
        self._emit()

    def _on_default(self, on: bool) -> None:
        self._enable()
        self._emit()

    def _enable(self) -> None:
        on = (self.mode is None or self.mode.currentText() == "pixels") and (
            self.default is None or not self.default.isChecked())
        self.h.setEnabled(on)
        self.w.setEnabled(on)

    def _set(self, value: Any, resolved: Any) -> None:
        if self.mode is not None:
            self.mode.setCurrentText(value if isinstance(value, str) else "pixels")
        if self.default is not None:
            self.default.setChecked(value is None)
            if value is None:
                value = resolved.get("kernel_size", 1) if isinstance(resolved, dict) else 1
        if isinstance(value, str):
            value = 0
        a, b = (value, value) if not isinstance(value, (list, tuple)) else (value[0], value[1])
        self._linked = a == b
        self.h.setValue(int(a))
        self.w.setValue(int(b))
        self._enable()

    def value(self) -> Any:
        if self.mode is not None and self.mode.currentText() != "pixels":
            return self.mode.currentText()
        if self.default is not None and self.default.isChecked():
            return None
        a, b = self.h.value(), self.w.value()
        self._linked = a == b
        return a if a == b else (a, b)


class ShapeEditor(Editor):
    """A list of whole numbers typed as ``1, 28, 28`` (or ``1×28×28``)."""

    placeholder = "C, H, W  or  features"

    def __init__(self, spec: ParamSpec) -> None:
        super().__init__(spec)
        self.edit = QLineEdit()
        self.edit.setPlaceholderText(self.placeholder)
        self.lay.addWidget(self.edit, 1)
        self.edit.editingFinished.connect(self._emit)

    def _set(self, value: Any, resolved: Any) -> None:
        self.edit.setText(", ".join(str(v) for v in value))

    def value(self) -> Any:
        parts = [p for p in self.edit.text().replace("×", ",").replace("x", ",").replace(" ", ",").split(",") if p]
        try:
            return [int(p) for p in parts]
        except ValueError:
            return self.edit.text()


class IntsEditor(ShapeEditor):
    """Dims or sizes (``2, 3``; ``-1`` where the layer allows it); one number stays one number."""

    placeholder = "e.g. 2, 3"

    def _set(self, value: Any, resolved: Any) -> None:
        self.edit.setText(", ".join(str(v) for v in value) if isinstance(value, list | tuple) else str(value))

    def value(self) -> Any:
        v = super().value()
        one = getattr(self.spec, "single", False) and "," not in self.edit.text()  # dim=1 rather than (1,)
        return v[0] if one and isinstance(v, list) and len(v) == 1 else v


EDITORS = {
    "int": IntEditor, "optional_int": IntEditor, "float": FloatEditor, "bool": BoolEditor,
    "choice": ChoiceEditor, "pair": PairEditor, "optional_pair": PairEditor, "padding": PairEditor,
    "shape": ShapeEditor, "ints": IntsEditor,
}
