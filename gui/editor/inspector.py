"""The inspector: a form generated from the selected node's :class:`ParamSpec` list, one editor per
parameter kind (:mod:`netbuilder.gui.editor.param_editors`). A value
the core refuses (``ParamError``/``GraphError``) is not applied: the field turns red and the reason
appears under it. Renaming goes through the same checks (ids stay unique and legal).
"""

from __future__ import annotations

from typing import Any

from netbuilder.core.model.graph import GraphError
from netbuilder.core.model.inference import NodeInfo
from netbuilder.core.model.layers import ParamError, get_spec
from netbuilder.core.model.shapes import fmt_shape
from netbuilder.gui import theme
from netbuilder.gui.editor import commands
from netbuilder.gui.editor.document import Document
from netbuilder.gui.editor.fix_bar import FixBar
from netbuilder.gui.editor.param_editors import EDITORS, Editor, set_invalid
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QFormLayout,
    QFrame,
    QLabel,
    QLineEdit,
    QScrollArea,
    QSizePolicy,
    QStyle,
    QVBoxLayout,
    QWidget,
)


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
        self.scroll_area.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
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
        self.fix_bar = FixBar(self.doc, Qt.Orientation.Vertical)  # the error's mechanical fixes, one click each
        self.fix_bar.applied.connect(lambda label: self.message.emit(f"Fixed: {label}", False))
        self.fix_bar.failed.connect(lambda why: self.message.emit(why, True))
        lay.addWidget(self.fix_bar)
        self.fix_bar.show_for(self.node_id)
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
        # The dock never gets narrower than the form: wider content would hide the right end of the
        # wrapped error messages behind a horizontal scroll.
        bar = self.style().pixelMetric(QStyle.PixelMetric.PM_ScrollBarExtent)
        self.setMinimumWidth(body.minimumSizeHint().width() + bar + 2)

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
            set_invalid(self.id_edit, bool(text))

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


