"""The Explain panel: an always-current description of the network on the canvas, for learners.

One card per layer (from :func:`core.explain.explain`): what the layer does with its real sizes,
the arithmetic behind its output size with the actual numbers, how its parameter count is made
up, and notes where a value set by hand would have been inferred or no longer fits. Above the
cards: a one-line summary and the whole pipeline as one line (each step is a link to its node).

The panel follows the document: it regenerates after every inference (``Document.inferred``),
clicking a card selects its node (``Document.select_nodes``), and the selection made anywhere
else highlights the matching cards and scrolls the first one into view. While the panel is
hidden it only marks itself stale and catches up when shown, so it costs nothing in the
background.
"""

from __future__ import annotations

import html
from typing import TYPE_CHECKING

from netbuilder.core.learn.explain import ExplainEntry, Explanation, explain
from netbuilder.core.model.layers import REGISTRY
from netbuilder.core.model.shapes import fmt_shape
from netbuilder.gui import theme
from netbuilder.gui.editor.document import Document
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QGuiApplication, QKeyEvent, QMouseEvent, QShowEvent
from PySide6.QtWidgets import (
    QDockWidget,
    QFrame,
    QHBoxLayout,
    QLabel,
    QScrollArea,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

if TYPE_CHECKING:
    from netbuilder.gui.window import AppWindow


def _esc(text: str) -> str:
    return html.escape(text, quote=False)


class EntryCard(QFrame):
    """One layer's explanation. Clicking it (or pressing Space/Enter on it) emits ``clicked``."""

    clicked = Signal(str, bool)  # node id, extend selection (Ctrl/Shift held)

    def __init__(self, node_id: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.node_id = node_id
        self.entry: ExplainEntry | None = None
        self.highlighted = False
        self.setObjectName("explainCard")
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(10, 7, 10, 8)
        lay.setSpacing(3)
        self.title = QLabel(self)
        self.title.setTextFormat(Qt.TextFormat.RichText)
        self.body = QLabel(self)
        self.body.setWordWrap(True)
        self.body.setTextFormat(Qt.TextFormat.RichText)
        self.details = QLabel(self)
        self.details.setWordWrap(True)
        self.details.setTextFormat(Qt.TextFormat.RichText)
        for w in (self.title, self.body, self.details):
            # Labels must let clicks through to the card.
            w.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
            lay.addWidget(w)

    def set_entry(self, entry: ExplainEntry) -> None:
        """Show ``entry`` (only re-renders when something changed)."""
        if self.entry == entry:
            return
        self.entry = entry
        self._render()

    def set_highlighted(self, on: bool) -> None:
        if on != self.highlighted:
            self.highlighted = on
            self._style()

    def plain_text(self) -> str:
        """The card as plain text: the paragraph, then the arithmetic, the parameter count and the notes."""
        e = self.entry
        if e is None:
            return ""
        lines = [e.text]
        if e.arithmetic and e.arithmetic not in e.text:
            lines.append(f"Output size: {e.arithmetic}")
        if e.param_arithmetic:
            lines.append(f"Parameters: {e.param_arithmetic}")
        lines.extend(f"Note: {n}" for n in e.notes)
        return "\n".join(lines)

    def _render(self) -> None:
        e = self.entry
        assert e is not None
        t = theme.current()
        spec = REGISTRY.get(e.type)
        chip = t.category(spec.category).name() if spec else t.subtext
        shape = ""
        if e.output_shape is not None:
            shape = (f"&nbsp;&nbsp;<span style='color:{t.subtext}; font-weight:normal'>→ "
                     f"{_esc(fmt_shape(e.output_shape))}</span>")
        self.title.setText(f"<span style='color:{chip}'>■</span>&nbsp;<b>{_esc(e.title)}</b>{shape}")
        prefix = e.title + ": "
        body = e.text[len(prefix):] if e.text.startswith(prefix) else e.text
        body = body[:1].upper() + body[1:]  # it follows the title line, so it starts a sentence
        color = t.error if e.error else t.text
        html_body = _esc(body)
        rows: list[str] = []
        if e.arithmetic and _esc(e.arithmetic) in html_body:
            # Said once, where the sentence says it, but set off so the numbers stand out.
            html_body = html_body.replace(
                _esc(e.arithmetic),
                f"<span style='font-family:monospace; background:{t.code_line}'>&nbsp;"
                f"{_esc(e.arithmetic).replace(' ', '&nbsp;')}&nbsp;</span>", 1)  # kept on one line
        elif e.arithmetic:
            rows.append(f"<span style='color:{t.subtext}'>Output size:</span> "
                        f"<span style='font-family:monospace'>{_esc(e.arithmetic)}</span>")
        self.body.setText(f"<span style='color:{color}'>{html_body}</span>")
        if e.param_arithmetic:
            rows.append(f"<span style='color:{t.subtext}'>Parameters:</span> "
                        f"<span style='font-family:monospace'>{_esc(e.param_arithmetic)}</span>")
        for n in e.notes:
            rows.append(f"<span style='color:{t.warning}'>⚠ {_esc(n)}</span>")
        self.details.setText("<br>".join(rows))
        self.details.setVisible(bool(rows))
        self.setToolTip("Click to select this layer on the canvas")
        self._style()

    def _style(self) -> None:
        # One stylesheet on the panel (see card_stylesheet) keyed by this property: a stylesheet per
        # card made a 500-layer network take seconds to show.
        if self.highlighted:
            state = "selected"
        elif self.entry is not None and self.entry.error:
            state = "error"
        elif self.entry is not None and self.entry.notes:
            state = "note"
        else:
            state = "plain"
        if self.property("state") != state:
            self.setProperty("state", state)
            self.style().unpolish(self)
            self.style().polish(self)

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.LeftButton:
            extend = bool(event.modifiers() & (Qt.KeyboardModifier.ControlModifier
                                               | Qt.KeyboardModifier.ShiftModifier))
            self.clicked.emit(self.node_id, extend)
            event.accept()
            return
        super().mousePressEvent(event)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() in (Qt.Key.Key_Space, Qt.Key.Key_Return, Qt.Key.Key_Enter):
            self.clicked.emit(self.node_id, False)
            return
        super().keyPressEvent(event)


def card_stylesheet(t: theme.Theme) -> str:
    """The cards' look for each ``state`` property (the selector keeps the frame's border off the labels)."""
    return f"""
QFrame#explainCard {{ background:{t.base}; border:1px solid {t.node_border}; border-radius:5px; }}
QFrame#explainCard[state="selected"] {{ background:{t.alt_base}; border:2px solid {t.accent}; }}
QFrame#explainCard[state="error"] {{ background:{t.error_bg}; border:1px solid {t.error}; }}
QFrame#explainCard[state="note"] {{ border:1px solid {t.warning}; }}
QFrame#explainCard QLabel {{ background: transparent; border: none; }}
"""


class ExplainPanel(QWidget):
    """Always-current explanation of ``document``'s network (see the module docstring)."""

    def __init__(self, document: Document, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.dock: QDockWidget | None = None  # set by install()
        self.document = document
        self.explanation: Explanation | None = None
        self.cards: dict[str, EntryCard] = {}
        self._stale = True

        lay = QVBoxLayout(self)
        lay.setContentsMargins(6, 6, 6, 6)
        lay.setSpacing(6)
        head = QHBoxLayout()
        self.summary = QLabel(self)
        self.summary.setObjectName("sectionTitle")
        self.summary.setWordWrap(True)
        head.addWidget(self.summary, 1)
        self.copy_button = QToolButton(self)
        self.copy_button.setText("Copy")
        self.copy_button.setToolTip("Copy the whole explanation as text")
        self.copy_button.clicked.connect(self.copy_text)
        head.addWidget(self.copy_button, 0, Qt.AlignmentFlag.AlignTop)
        lay.addLayout(head)
        self.pipeline = QLabel(self)
        self.pipeline.setWordWrap(True)
        self.pipeline.setTextFormat(Qt.TextFormat.RichText)
        self.pipeline.setToolTip("The whole network as one line; click a step to select it")
        self.pipeline.linkActivated.connect(self._on_pipeline_link)
        lay.addWidget(self.pipeline)
        self.errors = QLabel(self)
        self.errors.setObjectName("inlineError")
        self.errors.setWordWrap(True)
        lay.addWidget(self.errors)

        self.scroll_area = QScrollArea(self)
        self.scroll_area.setWidgetResizable(True)
        self.scroll_area.setFrameShape(QFrame.Shape.NoFrame)
        self.scroll_area.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.container = QWidget()
        self.cards_layout = QVBoxLayout(self.container)
        self.cards_layout.setContentsMargins(0, 0, 4, 0)
        self.cards_layout.setSpacing(6)
        self.cards_layout.addStretch(1)
        self.container.setStyleSheet(card_stylesheet(theme.current()))
        self.scroll_area.setWidget(self.container)
        lay.addWidget(self.scroll_area, 1)

        document.inferred.connect(self._on_inferred)
        document.reset.connect(self._on_inferred)
        document.selection_changed.connect(self._on_selection_changed)
        theme.hub().changed.connect(self._on_theme)
        self.refresh()

    # --- public API -----------------------------------------------------------------------------
    def refresh(self) -> None:
        """Regenerate the explanation from the document's latest inference result now."""
        self._stale = False
        d = self.document
        ex = explain(d.graph, d.result)
        self.explanation = ex
        t = theme.current()
        self.summary.setText(ex.summary)
        links = []
        for nid, label in ex.pipeline:
            if nid is None:
                links.append(f"<span style='color:{t.subtext}'>{_esc(label)}</span>")
            else:
                err = d.result.nodes.get(nid) is not None and d.result.nodes[nid].error
                color = t.error if err else t.accent
                links.append(f"<a href='node:{html.escape(nid)}' style='color:{color}; text-decoration:none'>"
                             f"{_esc(label)}</a>")
        self.pipeline.setText("<span style='font-family:monospace'>" + " → ".join(links) + "</span>"
                              if ex.entries else "")
        self.errors.setText("\n".join(f"⚠ {m}" for m in ex.errors[:5]))
        self.errors.setVisible(bool(ex.errors))
        self._sync_cards(ex.entries)
        self._on_selection_changed(d.selected_ids(), scroll=False)

    def plain_text(self) -> str:
        """The whole explanation as plain text (summary, pipeline, every card); up to date."""
        self._ensure_current()
        assert self.explanation is not None
        parts = [self.explanation.summary, self.explanation.pipeline_text(), ""]
        parts.extend(self.cards[e.node].plain_text() for e in self.explanation.entries)
        return "\n".join(parts)

    def entry_text(self, node_id: str) -> str:
        """One card's plain text; KeyError when ``node_id`` has no card."""
        self._ensure_current()
        return self.cards[node_id].plain_text()

    def card(self, node_id: str) -> EntryCard:
        self._ensure_current()
        return self.cards[node_id]

    def highlighted_ids(self) -> list[str]:
        return [nid for nid, c in self.cards.items() if c.highlighted]

    def copy_text(self) -> None:
        QGuiApplication.clipboard().setText(self.plain_text())

    # --- internals ------------------------------------------------------------------------------
    def _ensure_current(self) -> None:
        self.document.flush()
        if self._stale:
            self.refresh()

    def _sync_cards(self, entries: list[ExplainEntry]) -> None:
        self.container.setUpdatesEnabled(False)
        try:
            self._sync_cards_now(entries)
        finally:
            self.container.setUpdatesEnabled(True)

    def _sync_cards_now(self, entries: list[ExplainEntry]) -> None:
        wanted = [e.node for e in entries]
        keep = set(wanted)
        for nid in [n for n in self.cards if n not in keep]:
            gone = self.cards.pop(nid)
            self.cards_layout.removeWidget(gone)
            gone.deleteLater()
        for i, e in enumerate(entries):
            card = self.cards.get(e.node)
            if card is None:
                card = EntryCard(e.node, self.container)
                card.clicked.connect(self._on_card_clicked)
                self.cards[e.node] = card
            if self.cards_layout.indexOf(card) != i:
                self.cards_layout.removeWidget(card)
                self.cards_layout.insertWidget(i, card)
            card.set_entry(e)

    def _on_inferred(self, *_args: object) -> None:
        if self.isVisible():
            self.refresh()
        else:
            self._stale = True

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if self._stale:
            self.refresh()

    def _on_theme(self, _t: object) -> None:
        self.container.setStyleSheet(card_stylesheet(theme.current()))
        for c in self.cards.values():
            c.entry = None  # force a re-render with the new colours
        self._stale = True
        if self.isVisible():
            self.refresh()

    def _on_card_clicked(self, node_id: str, extend: bool) -> None:
        ids = self.document.selected_ids()
        if extend:
            ids = [i for i in ids if i != node_id] if node_id in ids else [*ids, node_id]
        else:
            ids = [node_id]
        self.document.select_nodes(ids)

    def _on_pipeline_link(self, link: str) -> None:
        if link.startswith("node:"):
            self.document.select_nodes([html.unescape(link[5:])])

    def _on_selection_changed(self, ids: list[str], scroll: bool = True) -> None:
        sel = set(ids)
        for nid, card in self.cards.items():
            card.set_highlighted(nid in sel)
        first = next((self.cards[i] for i in ids if i in self.cards), None)
        if first is not None and scroll:
            # After a layout pass so a freshly created card has its final geometry.
            QTimer.singleShot(0, lambda c=first: self._scroll_to(c))

    def _scroll_to(self, card: EntryCard) -> None:
        if card.node_id in self.cards and self.cards[card.node_id] is card:
            self.scroll_area.ensureWidgetVisible(card, 0, 12)


def install(window: AppWindow) -> ExplainPanel:
    """Add the Explain panel to ``window`` as a right-hand dock, with a Help-menu entry that shows it.
    Returns the panel; the dock is ``panel.dock``."""
    panel = ExplainPanel(window.document)
    dock = window.add_panel(panel, "Explain", Qt.DockWidgetArea.RightDockWidgetArea, "ExplainDock")
    panel.dock = dock
    act = window.menu("Help").addAction("Learn: &explain the network")
    act.setToolTip("What each layer does to the shape, with the arithmetic")

    def show_dock() -> None:
        dock.show()
        dock.raise_()

    act.triggered.connect(show_dock)
    return panel
