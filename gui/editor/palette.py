"""The layer palette: every registered layer grouped by category, with search and tooltips.

Entries drag onto the canvas (mime type :data:`gui.canvas.view.LAYER_MIME` carrying the type
name); double-click or Enter emits :attr:`Palette.activated` so the window can add the layer next
to the selection and connect it.
"""

from __future__ import annotations

from collections.abc import Sequence

from netbuilder.core.model.layers import LayerSpec, by_category
from netbuilder.gui import theme
from netbuilder.gui.editor.canvas.view import LAYER_MIME
from PySide6.QtCore import QByteArray, QMimeData, QSize, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QIcon, QKeyEvent, QPainter, QPixmap
from PySide6.QtWidgets import QAbstractItemView, QLineEdit, QTreeWidget, QTreeWidgetItem, QVBoxLayout, QWidget

TYPE_ROLE = Qt.ItemDataRole.UserRole + 1


def category_icon(category: str, size: int = 12) -> QIcon:
    pm = QPixmap(size, size)
    pm.fill(Qt.GlobalColor.transparent)
    p = QPainter(pm)
    p.setRenderHint(QPainter.RenderHint.Antialiasing)
    p.setPen(Qt.PenStyle.NoPen)
    p.setBrush(theme.current().category(category))
    p.drawRoundedRect(1, 1, size - 2, size - 2, 3, 3)
    p.end()
    return QIcon(pm)


class PaletteTree(QTreeWidget):
    """The tree; its :meth:`mimeData` is what a drag (or a test) drops on the canvas."""

    activated_type = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setHeaderHidden(True)
        self.setDragEnabled(True)
        self.setDragDropMode(QAbstractItemView.DragDropMode.DragOnly)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setIndentation(14)
        self.setIconSize(QSize(12, 12))
        self.setUniformRowHeights(True)
        self.setAnimated(True)
        self.itemActivated.connect(self._on_item_activated)

    def mimeTypes(self) -> list[str]:
        return [LAYER_MIME]

    def mimeData(self, items: Sequence[QTreeWidgetItem]) -> QMimeData:
        mime = QMimeData()
        names = [it.data(0, TYPE_ROLE) for it in items if it.data(0, TYPE_ROLE)]
        if names:
            mime.setData(LAYER_MIME, QByteArray(names[0].encode("utf-8")))
            mime.setText(names[0])
        return mime

    def supportedDropActions(self) -> Qt.DropAction:
        return Qt.DropAction.CopyAction

    def _on_item_activated(self, item: QTreeWidgetItem, column: int) -> None:
        name = item.data(0, TYPE_ROLE)
        if name:
            self.activated_type.emit(name)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            item = self.currentItem()
            if item is not None and item.data(0, TYPE_ROLE):
                self.activated_type.emit(item.data(0, TYPE_ROLE))
                event.accept()
                return
        super().keyPressEvent(event)


class Palette(QWidget):
    """Search box + category tree. ``activated(type_name)`` on double-click or Enter."""

    activated = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.search = QLineEdit()
        self.search.setPlaceholderText("Search layers…")
        self.search.setClearButtonEnabled(True)
        self.tree = PaletteTree()
        lay = QVBoxLayout(self)
        lay.setContentsMargins(6, 6, 6, 6)
        lay.setSpacing(6)
        lay.addWidget(self.search)
        lay.addWidget(self.tree)
        self.items: dict[str, QTreeWidgetItem] = {}
        self.groups: dict[str, QTreeWidgetItem] = {}
        self._build()
        self.search.textChanged.connect(self.filter)
        self.search.returnPressed.connect(self._activate_first_visible)
        self.tree.activated_type.connect(self.activated)
        theme.hub().changed.connect(self._recolor)  # bound: dies with this object

    def _build(self) -> None:
        self.tree.clear()
        self.items.clear()
        self.groups.clear()
        for category, specs in by_category().items():
            if not specs:
                continue
            group = QTreeWidgetItem([category])
            group.setFlags(Qt.ItemFlag.ItemIsEnabled)
            f = group.font(0)
            f.setBold(True)
            group.setFont(0, f)
            group.setIcon(0, category_icon(category))
            self.tree.addTopLevelItem(group)
            self.groups[category] = group
            for spec in specs:
                item = QTreeWidgetItem([spec.type_name])
                item.setData(0, TYPE_ROLE, spec.type_name)
                item.setToolTip(0, _tooltip(spec))
                item.setFlags(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable | Qt.ItemFlag.ItemIsDragEnabled)
                group.addChild(item)
                self.items[spec.type_name] = item
            group.setExpanded(True)

    def _recolor(self, *_: object) -> None:
        for category, group in self.groups.items():
            group.setIcon(0, category_icon(category))

    def filter(self, text: str) -> None:
        """Show only layers whose name, category or explanation contains ``text``."""
        needle = text.strip().lower()
        for category, group in self.groups.items():
            visible = 0
            for i in range(group.childCount()):
                item = group.child(i)
                assert item is not None  # i < childCount()
                spec_text = f"{item.text(0)} {category} {item.toolTip(0)}".lower()
                hit = not needle or needle in item.text(0).lower() or needle in spec_text
                item.setHidden(not hit)
                visible += hit
                item.setForeground(0, QBrush(QColor(theme.current().text)))
            group.setHidden(visible == 0)
            if needle:
                group.setExpanded(True)

    def visible_types(self) -> list[str]:
        def shown(item: QTreeWidgetItem) -> bool:
            group = item.parent()  # every layer sits in its category's group
            return not item.isHidden() and group is not None and not group.isHidden()

        return [name for name, item in self.items.items() if shown(item)]

    def _activate_first_visible(self) -> None:
        """Enter adds the best hit: a name that starts with the search, else one that contains it,
        else the first layer whose description matches."""
        names = self.visible_types()
        needle = self.search.text().strip().lower()
        best = (next((n for n in names if n.lower().startswith(needle)), None)
                or next((n for n in names if needle in n.lower()), None) or (names[0] if names else None))
        if best is not None:
            self.activated.emit(best)

    def mime_for(self, type_name: str) -> QMimeData:
        """The mime data a drag of ``type_name`` carries (built by the tree itself)."""
        return self.tree.mimeData([self.items[type_name]])


def _tooltip(spec: LayerSpec) -> str:
    params = ", ".join(p.name for p in spec.params) or "none"
    return (f"<b>{spec.type_name}</b> <i>({spec.category})</i><p style='white-space:normal'>{spec.explanation}</p>"
            f"<p><b>Parameters:</b> {params}</p>")
