"""Light and dark colours for the whole GUI, following the system colour scheme.

Every view reads colours from :func:`current` instead of hard-coding them, so a scheme change
(``QStyleHints.colorSchemeChanged``) repaints everything consistently. Category colours tint the
node headers and palette entries; they are keyed by the registry's category names, never by layer
type.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QColor, QGuiApplication, QPalette
from PySide6.QtWidgets import QApplication


@dataclass(frozen=True)
class Theme:
    dark: bool
    window: str
    base: str
    alt_base: str
    text: str
    subtext: str
    canvas: str
    grid_minor: str
    grid_major: str
    node_body: str
    node_border: str
    edge: str
    edge_label_bg: str
    edge_label_text: str
    accent: str
    error: str
    error_bg: str
    warning: str
    ok: str
    code_bg: str
    code_line: str
    categories: dict[str, str] = field(default_factory=dict)

    def c(self, name: str) -> QColor:
        """A named colour as a QColor."""
        return QColor(getattr(self, name))

    def category(self, name: str) -> QColor:
        """The header colour of a registry category (grey for unknown ones)."""
        return QColor(self.categories.get(name, "#7a8390"))


_CATS_LIGHT = {
    "Input": "#4c6a85",
    "Convolution": "#2f6fba",
    "Pooling": "#19857b",
    "Linear": "#7b55b5",
    "Activation": "#c7731a",
    "Normalization/Regularization": "#3d8a40",
    "Merge": "#b0476f",
}
_CATS_DARK = {
    "Input": "#5d7d99",
    "Convolution": "#3d7fcc",
    "Pooling": "#23978c",
    "Linear": "#8a66c4",
    "Activation": "#cf7d26",
    "Normalization/Regularization": "#4a9a4d",
    "Merge": "#c0577f",
}

LIGHT = Theme(
    dark=False, window="#eef0f3", base="#ffffff", alt_base="#f6f7f9", text="#1d232b", subtext="#5d6773",
    canvas="#f7f8fa", grid_minor="#e8ebef", grid_major="#d9dee4", node_body="#ffffff", node_border="#b9c1cb",
    edge="#7d8794", edge_label_bg="#ffffff", edge_label_text="#3a4350", accent="#2d7be0", error="#d6312b",
    error_bg="#fdecea", warning="#b7791f", ok="#2e8540", code_bg="#fbfbfc", code_line="#fff3c4",
    categories=_CATS_LIGHT,
)
DARK = Theme(
    dark=True, window="#25282d", base="#1d2024", alt_base="#24272c", text="#e3e6ea", subtext="#9aa3ad",
    canvas="#1b1d21", grid_minor="#23262b", grid_major="#2d3137", node_body="#2b2f35", node_border="#454b54",
    edge="#8d97a3", edge_label_bg="#2b2f35", edge_label_text="#d5dae0", accent="#4c93f0", error="#f0524a",
    error_bg="#3d2224", warning="#e0a43a", ok="#5cb85c", code_bg="#1d2024", code_line="#3e3a22",
    categories=_CATS_DARK,
)


class _ThemeHub(QObject):
    changed = Signal(object)  # Theme


_current: Theme = LIGHT
_hub: _ThemeHub | None = None


def hub() -> _ThemeHub:
    """The object whose ``changed(Theme)`` signal fires when the scheme switches."""
    global _hub
    if _hub is None:
        _hub = _ThemeHub()
    return _hub


def current() -> Theme:
    """The active theme."""
    return _current


def system_is_dark() -> bool:
    """True when the platform asks for a dark colour scheme."""
    app = QGuiApplication.instance()
    if app is None:
        return False
    try:
        return QGuiApplication.styleHints().colorScheme() == Qt.ColorScheme.Dark
    except AttributeError:  # Qt < 6.5
        return QGuiApplication.palette().color(QPalette.ColorRole.Window).lightness() < 128


def qpalette(t: Theme) -> QPalette:
    """A Fusion palette matching ``t``."""
    p = QPalette()
    R = QPalette.ColorRole
    p.setColor(R.Window, QColor(t.window))
    p.setColor(R.WindowText, QColor(t.text))
    p.setColor(R.Base, QColor(t.base))
    p.setColor(R.AlternateBase, QColor(t.alt_base))
    p.setColor(R.Text, QColor(t.text))
    p.setColor(R.Button, QColor(t.window))
    p.setColor(R.ButtonText, QColor(t.text))
    p.setColor(R.ToolTipBase, QColor(t.base))
    p.setColor(R.ToolTipText, QColor(t.text))
    p.setColor(R.Highlight, QColor(t.accent))
    p.setColor(R.HighlightedText, QColor("#ffffff"))
    p.setColor(R.PlaceholderText, QColor(t.subtext))
    p.setColor(R.Link, QColor(t.accent))
    p.setColor(R.Mid, QColor(t.node_border))
    disabled = QColor(t.subtext)
    disabled.setAlpha(160)
    for role in (R.WindowText, R.Text, R.ButtonText):
        p.setColor(QPalette.ColorGroup.Disabled, role, disabled)
    return p


def apply(dark: bool | None = None) -> Theme:
    """Apply the light or dark theme (``None``: follow the system) to the application."""
    global _current
    if dark is None:
        dark = system_is_dark()
    _current = DARK if dark else LIGHT
    app = QApplication.instance()
    if isinstance(app, QApplication):
        app.setStyle("Fusion")
        app.setPalette(qpalette(_current))
        app.setStyleSheet(stylesheet(_current))
    hub().changed.emit(_current)
    return _current


def follow_system() -> None:
    """Re-apply the theme whenever the system colour scheme changes."""
    with contextlib.suppress(AttributeError):
        QGuiApplication.styleHints().colorSchemeChanged.connect(lambda *_: apply(None))


def stylesheet(t: Theme) -> str:
    """Small application stylesheet: dock titles, the lock banner, inline errors."""
    return f"""
QDockWidget::title {{ padding: 5px 8px; background: {t.alt_base}; border-bottom: 1px solid {t.node_border}; }}
QToolTip {{ color: {t.text}; background: {t.base}; border: 1px solid {t.node_border}; padding: 4px; }}
QLabel#inlineError {{ color: {t.error}; }}
QLabel#lockBanner {{ background: {t.warning}; color: #ffffff; padding: 6px 12px; border-radius: 4px;
    font-weight: bold; }}
QLabel#sectionTitle {{ font-weight: bold; }}
QLabel#muted {{ color: {t.subtext}; }}
QLineEdit[invalid="true"], QSpinBox[invalid="true"] {{ border: 1px solid {t.error}; background: {t.error_bg}; }}
QToolBar {{ border: none; spacing: 2px; }}
QStatusBar QLabel {{ padding: 0 6px; }}
"""
