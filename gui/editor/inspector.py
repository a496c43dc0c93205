"""The inspector: a form generated from the selected node's :class:`ParamSpec` list.

Spin boxes carry the declared ranges, combos the choices, pairs get two spin boxes, inferred sizes
an "auto" toggle that shows the inferred value, padding a number/'same'/'valid' choice. A value
the core refuses (``ParamError``/``GraphError``) is not applied: the field turns red and the reason
appears under it. Renaming goes through the same checks (ids stay unique and legal).
"""

from __future__ import annotations

from typing import Any

from netbuilder.core.model.graph import GraphError
from netbuilder.core.model.inference import NodeInfo
from netbuilder.core.model.layers import AUTO, ParamError, ParamSpec, get_spec
from netbuilder.core.model.shapes import fmt_shape
from netbuilder.gui import theme
from netbuilder.gui.editor import commands
from netbuilder.gui.editor.document import Document
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QScrollArea,
    QSizePolicy,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

INT_MIN, INT_MAX = -(2**31), 2**31 - 1


def _set_invalid(widget: QWidget, invalid: bool) -> None:
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
                _set_invalid(w, invalid)


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
        self.edit.setText(f"{float(value):g}")

    def value(self) -> Any:
        text = self.edit.text().strip().replace(",", ".")
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


class Inspector(QWidget):
    """Edits the single selected node of ``document``. ``editors[name]`` holds each field's editor;
    ``errors[name]`` its inline error label (``"id"`` for the id field)."""

    message = Signal(str, bool)

    def __init__(self, document: Document, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.doc = document
        self.node_id: str | None = None
        self.editors: dict[str, Editor] = {}
        self.errors: dict[str, QLabel] = {}
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        self.scroll_area = QScrollArea()
        self.scroll_area.setWidgetResizable(True)
        self.scroll_area.setFrameShape(QFrame.Shape.NoFrame)
        outer.addWidget(self.scroll_area)
        self.lock_note = QLabel("Editing locked while training")
        self.lock_note.setObjectName("lockBanner")
        self.lock_note.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.lock_note.hide()
        outer.insertWidget(0, self.lock_note)
        self.body: QWidget | None = None
        self.placeholder_text = ""
        d = document
        d.selection_changed.connect(lambda _ids: self.rebuild())
        d.params_changed.connect(self._on_params_changed)
        d.node_renamed.connect(self._on_node_renamed)
        d.node_removed.connect(lambda n: self.rebuild() if n.id == self.node_id else None)
        d.reset.connect(self.rebuild)
        d.inferred.connect(lambda _r: self._refresh_values())
        d.locked_changed.connect(self._on_locked)
        self.rebuild()
        self._on_locked(d.locked)

    # --- building ------------------------------------------------------------------------------
    def rebuild(self) -> None:
        ids = self.doc.selected_ids()
        self.editors.clear()
        self.errors.clear()
        self.node_id = ids[0] if len(ids) == 1 and ids[0] in self.doc.graph else None
        body = QWidget()
        lay = QVBoxLayout(body)
        lay.setContentsMargins(12, 10, 12, 12)
        lay.setSpacing(8)
        if self.node_id is None:
            text = ("Select a layer to edit its parameters." if not ids
                    else f"{len(ids)} layers selected.\nSelect one to edit its parameters.")
            self.placeholder_text = text
            label = QLabel(text)
            label.setObjectName("muted")
            label.setAlignment(Qt.AlignmentFlag.AlignCenter)
            label.setWordWrap(True)
            lay.addStretch(1)
            lay.addWidget(label)
            lay.addStretch(2)
            self._install(body)
            return
        self.placeholder_text = ""
        node = self.doc.graph.node(self.node_id)
        spec = get_spec(node.type)
        t = theme.current()

        title = QLabel(f"<span style='font-size:13pt; font-weight:600'>{node.type}</span>"
                       f"&nbsp;&nbsp;<span style='color:{t.category(spec.category).name()}'>■</span> "
                       f"<span style='color:{t.subtext}'>{spec.category}</span>")
        lay.addWidget(title)
        expl = QLabel(spec.explanation)
        expl.setWordWrap(True)
        expl.setObjectName("muted")
        expl.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        lay.addWidget(expl)

        form = QFormLayout()
        form.setLabelAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        form.setHorizontalSpacing(10)
        form.setVerticalSpacing(6)
        self.id_edit = QLineEdit(node.id)
        self.id_edit.setToolTip("Unique name: letters, digits and underscores. Used as the attribute name in code.")
        self.id_edit.editingFinished.connect(self._on_rename)
        form.addRow(self._label("id", self.id_edit.toolTip()), self._with_error("id", self.id_edit))
        for p in spec.params:
            editor = EDITORS[p.kind](p)
            editor.setToolTip(p.doc)
            editor.changed.connect(lambda value, name=p.name: self._commit(name, value))
            self.editors[p.name] = editor
            form.addRow(self._label(p.name, p.doc), self._with_error(p.name, editor))
        lay.addLayout(form)
        if not spec.params:
            none = QLabel("This layer has no parameters.")
            none.setObjectName("muted")
            lay.addWidget(none)

        line = QFrame()
        line.setFrameShape(QFrame.Shape.HLine)
        line.setFrameShadow(QFrame.Shadow.Sunken)
        lay.addWidget(line)
        self.info = QLabel()
        self.info.setTextFormat(Qt.TextFormat.RichText)
        self.info.setWordWrap(True)
        lay.addWidget(self.info)
        self.node_error = QLabel()
        self.node_error.setWordWrap(True)
        self.node_error.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.node_error.setStyleSheet(
            f"background:{t.error_bg}; color:{t.error}; border:1px solid {t.error}; border-radius:4px; padding:6px;")
        lay.addWidget(self.node_error)
        lay.addStretch(1)
        self._install(body)
        self._refresh_values()

    def _label(self, text: str, tip: str) -> QLabel:
        label = QLabel(text)
        label.setToolTip(tip)
        return label

    def _with_error(self, name: str, editor: QWidget) -> QWidget:
        box = QWidget()
        v = QVBoxLayout(box)
        v.setContentsMargins(0, 0, 0, 0)
        v.setSpacing(2)
        v.addWidget(editor)
        err = QLabel()
        err.setObjectName("inlineError")
        err.setWordWrap(True)
        err.hide()
        v.addWidget(err)
        self.errors[name] = err
        return box

    def _install(self, body: QWidget) -> None:
        old = self.scroll_area.takeWidget()
        if old is not None:
            old.deleteLater()
        self.body = body
        self.scroll_area.setWidget(body)
        body.setEnabled(not self.doc.locked)

    # --- values --------------------------------------------------------------------------------
    def _info(self) -> NodeInfo | None:
        return self.doc.result.nodes.get(self.node_id) if self.node_id else None

    def _refresh_values(self) -> None:
        if self.node_id is None or self.node_id not in self.doc.graph:
            return
        node = self.doc.graph.node(self.node_id)
        spec = get_spec(node.type)
        full = spec.full_params(node.params)
        info = self._info()
        resolved = info.resolved if info is not None else {}
        for name, editor in self.editors.items():
            if editor.spec.kind == "optional_pair":
                editor.set_value(full[name], resolved or full)
            else:
                editor.set_value(full[name], resolved.get(name))
        t = theme.current()
        rows = []
        if info is not None and info.output_shape is not None:
            ins = ", ".join(fmt_shape(s) for s in info.input_shapes) or "—"
            rows.append(("Input", ins))
            rows.append(("Output", f"<b>{fmt_shape(info.output_shape)}</b>"))
            rows.append(("Parameters", f"{info.params:,}"))
            rows.append(("Mult-adds", f"{info.macs:,}"))
            if info.note:
                rows.append(("Note", info.note))
        else:
            rows.append(("Output", f"<span style='color:{t.subtext}'>unknown (fix the errors first)</span>"))
        self.info.setText("<table cellspacing='0' cellpadding='2'>" + "".join(
            f"<tr><td style='color:{t.subtext}; padding-right:10px'>{k}</td><td>{v}</td></tr>" for k, v in rows)
            + "</table>")
        msgs = self.doc.result.errors_for(self.node_id)
        self.node_error.setVisible(bool(msgs))
        self.node_error.setText("\n".join(msgs))

    def _show_error(self, name: str, text: str | None) -> None:
        label = self.errors.get(name)
        if label is None:
            return
        label.setVisible(bool(text))
        label.setText(text or "")
        target = self.editors.get(name) if name != "id" else None
        if target is not None:
            target.mark(bool(text))
        elif name == "id":
            _set_invalid(self.id_edit, bool(text))

    def _commit(self, name: str, value: Any) -> None:
        if self.node_id is None:
            return
        node = self.doc.graph.node(self.node_id)
        spec = get_spec(node.type).param(name)
        try:
            value = spec.validate(value)
        except ParamError as e:
            self._show_error(name, str(e))
            self.message.emit(f"{node.type} '{node.id}': {e}", True)
            return
        current = get_spec(node.type).full_params(node.params).get(name)
        if value == current or (isinstance(current, list) and tuple(current) == value):
            self._show_error(name, None)
            return
        try:
            commands.execute(self.doc, commands.SetParams(self.doc, self.node_id, {name: value}))
        except GraphError as e:
            self._show_error(name, str(e))
            self.message.emit(str(e), True)
            return
        self._show_error(name, None)

    def _on_rename(self) -> None:
        if self.node_id is None:
            return
        new = self.id_edit.text().strip()
        if new == self.node_id:
            self._show_error("id", None)
            return
        try:
            commands.execute(self.doc, commands.Rename(self.doc, self.node_id, new))
        except GraphError as e:
            self._show_error("id", str(e))
            self.message.emit(str(e), True)
            return
        self._show_error("id", None)

    def _on_params_changed(self, node_id: str) -> None:
        if node_id == self.node_id:
            self._refresh_values()

    def _on_node_renamed(self, old: str, new: str) -> None:
        if old == self.node_id:
            self.node_id = new
            self.id_edit.setText(new)

    def _on_locked(self, locked: bool) -> None:
        self.lock_note.setVisible(locked)
        if self.body is not None:
            self.body.setEnabled(not locked)

    def focus_id(self) -> None:
        if self.node_id is not None:
            self.id_edit.setFocus()
            self.id_edit.selectAll()


