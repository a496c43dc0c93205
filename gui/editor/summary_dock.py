"""The summary dock: a live torchinfo-like table (id, type, output shape, params, MACs) with
totals. Clicking a row selects the node; the selection follows the canvas."""

from __future__ import annotations

from netbuilder.core.model.inference import InferenceResult
from netbuilder.core.model.shapes import fmt_shape
from netbuilder.core.model.summary import human
from netbuilder.gui import theme
from netbuilder.gui.editor.document import Document
from PySide6.QtCore import Qt
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QLabel,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

COLUMNS = ("Layer (id)", "Type", "Output shape", "Params", "MACs")
ID_ROLE = Qt.ItemDataRole.UserRole + 1


class SummaryDock(QWidget):
    """``table`` has one row per node in topological order; ``totals`` the totals line."""

    def __init__(self, document: Document, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.doc = document
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.verticalHeader().hide()
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setAlternatingRowColors(True)
        self.table.setShowGrid(False)
        self.table.verticalHeader().setDefaultSectionSize(22)
        h = self.table.horizontalHeader()
        h.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        h.setStretchLastSection(False)
        h.setMinimumSectionSize(70)  # compact columns, like torchinfo: numbers stay next to their shapes
        h.setDefaultAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        self.totals = QLabel()
        self.totals.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(6, 6, 6, 6)
        lay.setSpacing(4)
        lay.addWidget(self.table)
        lay.addWidget(self.totals)
        self._syncing = False
        self._rows: list[object] = []
        self.table.itemSelectionChanged.connect(self._on_table_selection)
        document.inferred.connect(self._on_inferred)
        document.selection_changed.connect(self._on_doc_selection)
        theme.hub().changed.connect(self._on_theme)  # bound: dies with this object
        self._on_inferred(document.result)

    def row_ids(self) -> list[str]:
        return [self._row_id(r) for r in range(self.table.rowCount())]

    def _row_id(self, row: int) -> str:
        """The node id of table row ``row`` (every row's first cell carries it)."""
        item = self.table.item(row, 0)
        assert item is not None
        return str(item.data(ID_ROLE))

    def _on_theme(self, *_: object) -> None:
        self._on_inferred(self.doc.result)

    def _on_inferred(self, result: InferenceResult) -> None:
        t = theme.current()
        self._syncing = True
        try:
            order = [i for i in result.order if i in result.nodes]
            if len(order) != self.table.rowCount():
                self.table.setRowCount(len(order))
                self._rows = [None] * len(order)
            for r, nid in enumerate(order):
                info = result.nodes[nid]
                shape = fmt_shape(info.output_shape) if info.output_shape is not None else "?"
                known = info.output_shape is not None
                values = (nid, info.type, shape, f"{info.params:,}" if known else "—",
                          f"{info.macs:,}" if known else "—")
                key = (values, info.error, t.dark)
                if self._rows[r] == key:
                    continue  # only touch rows that changed: 300-row graphs stay fluid
                self._rows[r] = key
                for c, v in enumerate(values):
                    item = self.table.item(r, c)
                    if item is None:
                        item = QTableWidgetItem()
                        self.table.setItem(r, c, item)
                    item.setText(v)
                    item.setData(ID_ROLE, nid)
                    align = Qt.AlignmentFlag.AlignRight if c >= 3 else Qt.AlignmentFlag.AlignLeft
                    item.setTextAlignment(align | Qt.AlignmentFlag.AlignVCenter)
                    item.setForeground(QBrush(QColor(t.error if info.error else t.text)))
                    item.setToolTip(info.error or "")
        finally:
            self._syncing = False
        self._on_doc_selection(self.doc.selected_ids())
        n_err = len(result.errors) if len(self.doc.graph) else 0
        total = f"<b>Total params: {result.total_params:,}</b> &nbsp;·&nbsp; Mult-adds: {human(result.total_macs)} " \
                f"per sample &nbsp;·&nbsp; Weights: {result.total_params * 4 / 1e6:.2f} MB (float32)"
        if n_err:
            plural = "s" if n_err > 1 else ""
            total += f" &nbsp;·&nbsp; <span style='color:{t.error}'><b>{n_err} error{plural}</b></span>"
        self.totals.setText(total)

    def _on_table_selection(self) -> None:
        if self._syncing:
            return
        rows = sorted({i.row() for i in self.table.selectedIndexes()})
        ids = [self._row_id(r) for r in rows]
        self.doc.select_nodes(ids)

    def _on_doc_selection(self, ids: list[str]) -> None:
        self._syncing = True
        try:
            self.table.clearSelection()
            for r in range(self.table.rowCount()):
                if self._row_id(r) in ids:
                    self.table.selectRow(r) if len(ids) == 1 else self._add_row(r)
        finally:
            self._syncing = False

    def _add_row(self, r: int) -> None:
        for c in range(self.table.columnCount()):
            item = self.table.item(r, c)
            if item is not None:
                item.setSelected(True)
