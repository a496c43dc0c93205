"""The code dock: the generated Python, live, syntax-highlighted, with the selected node's lines
highlighted (``GeneratedCode.node_lines``). Clicking a line selects the node it belongs to."""

from __future__ import annotations

import keyword
import re

from netbuilder.core.model.codegen import GeneratedCode
from netbuilder.gui import theme
from netbuilder.gui.editor.document import Document
from PySide6.QtCore import QRegularExpression, Qt
from PySide6.QtGui import (
    QColor,
    QFont,
    QFontDatabase,
    QMouseEvent,
    QSyntaxHighlighter,
    QTextCharFormat,
    QTextCursor,
    QTextDocument,
    QTextFormat,
)
from PySide6.QtWidgets import QLabel, QPlainTextEdit, QTextEdit, QVBoxLayout, QWidget


def _fmt(color: str, bold: bool = False, italic: bool = False) -> QTextCharFormat:
    f = QTextCharFormat()
    f.setForeground(QColor(color))
    if bold:
        f.setFontWeight(QFont.Weight.Bold)
    f.setFontItalic(italic)
    return f


class PythonHighlighter(QSyntaxHighlighter):
    """Keywords, builtins, self, numbers, strings, comments and definitions."""

    def __init__(self, document: QTextDocument) -> None:
        super().__init__(document)
        self.rules: list[tuple[QRegularExpression, QTextCharFormat, int]] = []
        self.set_theme()

    def set_theme(self) -> None:
        dark = theme.current().dark
        c = {
            "kw": "#c586c0" if dark else "#8b1fa9", "builtin": "#4ec9b0" if dark else "#1a7f72",
            "self": "#9cdcfe" if dark else "#1f4fa0", "num": "#b5cea8" if dark else "#0b7a3e",
            "str": "#ce9178" if dark else "#a8431a", "comment": "#6a9955" if dark else "#6e7781",
            "def": "#dcdcaa" if dark else "#795e26",
        }
        kws = "|".join(keyword.kwlist)
        self.rules = [
            (QRegularExpression(rf"\b({kws})\b"), _fmt(c["kw"], bold=True), 0),
            (QRegularExpression(r"\b(nn|F|torch|super|print|tuple)\b"), _fmt(c["builtin"]), 0),
            (QRegularExpression(r"\bself\b"), _fmt(c["self"], italic=True), 0),
            (QRegularExpression(r"\b\d+(\.\d+)?([eE][-+]?\d+)?\b"), _fmt(c["num"]), 0),
            (QRegularExpression(r"\b(?:def|class)\s+(\w+)"), _fmt(c["def"], bold=True), 1),
            (QRegularExpression(r"'[^'\n]*'|\"[^\"\n]*\""), _fmt(c["str"]), 0),
            (QRegularExpression(r"#[^\n]*"), _fmt(c["comment"], italic=True), 0),
        ]
        self.doc_fmt = _fmt(c["str"])
        self.rehighlight()

    def highlightBlock(self, text: str) -> None:
        for rx, fmt, group in self.rules:
            it = rx.globalMatch(text)
            while it.hasNext():
                m = it.next()
                self.setFormat(m.capturedStart(group), m.capturedLength(group), fmt)
        # triple-quoted docstring spanning lines
        state = self.previousBlockState()
        start = 0
        if state != 1:
            start = text.find('"""')
            if start < 0:
                self.setCurrentBlockState(0)
                return
            search_from = start + 3
        else:
            search_from = 0
        end = text.find('"""', search_from)
        if end < 0:
            self.setCurrentBlockState(1)
            self.setFormat(start, len(text) - start, self.doc_fmt)
        else:
            self.setCurrentBlockState(0)
            self.setFormat(start, end + 3 - start, self.doc_fmt)


class CodeView(QPlainTextEdit):
    def __init__(self, dock: CodeDock) -> None:
        super().__init__()
        self.dock = dock

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        super().mouseReleaseEvent(event)
        if event.button() == Qt.MouseButton.LeftButton and not self.textCursor().hasSelection():
            self.dock.select_line(self.cursorForPosition(event.position().toPoint()).blockNumber() + 1)


class CodeDock(QWidget):
    """``editor`` shows ``document.code``; ``highlighted_lines()`` are the selected node's lines."""

    def __init__(self, document: Document, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.doc = document
        self.code: GeneratedCode | None = None
        self.editor = CodeView(self)
        self.editor.setReadOnly(True)
        self.editor.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        font = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
        font.setPointSizeF(9.5)
        self.editor.setFont(font)
        self.highlighter = PythonHighlighter(self.editor.document())
        self.banner = QLabel()
        self.banner.setWordWrap(True)
        self.banner.hide()
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(0)
        lay.addWidget(self.banner)
        lay.addWidget(self.editor)
        self._lines: list[int] = []
        document.code_changed.connect(self._on_code_changed)
        document.reset.connect(self.editor.clear)  # a new/opened project must not show stale code
        document.selection_changed.connect(lambda _ids: self._highlight())
        theme.hub().changed.connect(self._on_theme)  # bound: dies with this object
        self._on_code_changed(document.code)

    def _on_theme(self, *_: object) -> None:
        self.highlighter.set_theme()
        self._on_code_changed(self.doc.code)

    def _on_code_changed(self, code: GeneratedCode | None) -> None:
        t = theme.current()
        self.code = code
        if code is None:
            reason = self.doc.code_error or "the network is incomplete"
            first = reason.splitlines()[0] if reason else ""
            more = len(reason.splitlines()) - 1
            extra = f" (and {more} more)" if more > 0 else ""
            self.banner.setText(f"<b>No code yet:</b> {_esc(first)}{extra}")
            self.banner.setStyleSheet(f"background:{t.error_bg}; color:{t.error}; padding:6px 8px;")
            self.banner.show()
            self.editor.setEnabled(False)  # keep the last good code, greyed
            return
        self.banner.hide()
        self.editor.setEnabled(True)
        self._show_source(code.source)
        self._highlight()

    def _show_source(self, source: str) -> None:
        """Replace only the lines that changed, so the highlighter re-runs on those alone."""
        old = self.editor.toPlainText()
        if source == old:
            return
        new_lines, old_lines = source.split("\n"), old.split("\n")
        if len(new_lines) != len(old_lines) or not old:
            bar = self.editor.verticalScrollBar().value()
            self.editor.setPlainText(source)
            self.editor.verticalScrollBar().setValue(bar)
            return
        doc = self.editor.document()
        cursor = QTextCursor(doc)
        cursor.beginEditBlock()
        for i, (a, b) in enumerate(zip(old_lines, new_lines, strict=True)):
            if a != b:
                block = doc.findBlockByNumber(i)
                cursor.setPosition(block.position())
                cursor.setPosition(block.position() + block.length() - 1, QTextCursor.MoveMode.KeepAnchor)
                cursor.insertText(b)
        cursor.endEditBlock()

    def highlighted_lines(self) -> list[int]:
        return list(self._lines)

    def _highlight(self) -> None:
        ids = self.doc.selected_ids()
        lines: list[int] = []
        if self.code is not None:
            for nid in ids:
                lines += self.code.lines_of(nid)
        self._lines = sorted(set(lines))
        t = theme.current()
        sels = []
        doc = self.editor.document()
        for ln in self._lines:
            block = doc.findBlockByNumber(ln - 1)
            if not block.isValid():
                continue
            sel = QTextEdit.ExtraSelection()
            sel.format.setBackground(QColor(t.code_line))
            sel.format.setProperty(QTextFormat.Property.FullWidthSelection, True)
            cur = QTextCursor(block)
            sel.cursor = cur
            sels.append(sel)
        self.editor.setExtraSelections(sels)
        if self._lines:
            block = doc.findBlockByNumber(self._lines[0] - 1)
            self.editor.setTextCursor(QTextCursor(block))
            self.editor.ensureCursorVisible()

    def select_line(self, line: int) -> None:
        if self.code is None:
            return
        nid = self.code.node_at_line(line)
        if nid is not None:
            self.doc.select_nodes([nid])


def _esc(text: str) -> str:
    return re.sub(r"[<>&]", lambda m: {"<": "&lt;", ">": "&gt;", "&": "&amp;"}[m.group()], text)
