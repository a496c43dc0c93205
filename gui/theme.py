"""Light and dark colours for the whole GUI: light, dark, or following the system (the default).

Every view reads colours from :func:`current` instead of hard-coding them and listens to
``hub().changed``, so a switch (View ▸ Theme, or ``QStyleHints.colorSchemeChanged`` while following
the system) repaints everything consistently. The choice is kept in the app's settings
(:func:`choose` saves it, :func:`restore` reads it back). Every text colour meets WCAG AA (4.5:1)
on the backgrounds it is drawn on: :data:`CONTRAST_PAIRS` lists them and a test checks each.
Category colours tint the node headers and palette entries; they are keyed by the registry's
category names, never by layer type.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from PySide6.QtCore import QObject, QSettings, Qt, Signal
from PySide6.QtGui import QColor, QGuiApplication, QPalette
from PySide6.QtWidgets import QApplication, QWidget

if TYPE_CHECKING:
    import pyqtgraph as pg

Mode = Literal["system", "light", "dark"]
MODES: tuple[tuple[Mode, str], ...] = (("system", "Follow the System"), ("light", "Light"), ("dark", "Dark"))
SETTINGS_KEY = "appearance/theme"


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
    on_warning: str  # text on a warning-coloured banner
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
    edge="#7d8794", edge_label_bg="#ffffff", edge_label_text="#3a4350", accent="#1f69c9", error="#c22a23",
    error_bg="#fdecea", warning="#8f5f00", ok="#217a36", on_warning="#ffffff", code_bg="#fbfbfc", code_line="#fff3c4",
    categories=_CATS_LIGHT,
)
DARK = Theme(
    dark=True, window="#25282d", base="#1d2024", alt_base="#24272c", text="#e3e6ea", subtext="#9aa3ad",
    canvas="#1b1d21", grid_minor="#23262b", grid_major="#2d3137", node_body="#2b2f35", node_border="#454b54",
    edge="#8d97a3", edge_label_bg="#2b2f35", edge_label_text="#d5dae0", accent="#5ea1f5", error="#ff6b63",
    error_bg="#3d2224", warning="#e0a43a", ok="#5cb85c", on_warning="#1d2024", code_bg="#1d2024", code_line="#3e3a22",
    categories=_CATS_DARK,
)

# (foreground, background) of every text the GUI draws: the views use no other combination.
_TEXTS = ("text", "subtext", "error", "warning", "ok", "accent")
CONTRAST_PAIRS: tuple[tuple[str, str], ...] = (
    *((fg, bg) for fg in _TEXTS for bg in ("window", "base", "alt_base", "canvas", "node_body", "code_bg")),
    ("text", "error_bg"), ("error", "error_bg"), ("text", "code_line"), ("edge_label_text", "edge_label_bg"),
    ("on_warning", "warning"),
)


def contrast_ratio(a: str | QColor, b: str | QColor) -> float:
    """The WCAG 2 contrast ratio of two colours (1 to 21; AA asks 4.5 for normal text)."""
    def luminance(c: QColor) -> float:
        def lin(v: float) -> float:
            return v / 12.92 if v <= 0.04045 else ((v + 0.055) / 1.055) ** 2.4
        return 0.2126 * lin(c.redF()) + 0.7152 * lin(c.greenF()) + 0.0722 * lin(c.blueF())

    la, lb = sorted((luminance(QColor(a)), luminance(QColor(b))), reverse=True)
    return (la + 0.05) / (lb + 0.05)


class _ThemeHub(QObject):
    changed = Signal(object)  # Theme


_current: Theme = LIGHT
_mode: Mode = "system"
_hub: _ThemeHub | None = None
_following = False


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


def mode() -> Mode:
    """The user's choice: ``"system"``, ``"light"`` or ``"dark"``."""
    return _mode


def apply(dark: bool | None = None) -> Theme:
    """Apply the light or dark theme (``None``: follow the system) to the application."""
    global _mode
    before = _mode
    _mode = "system" if dark is None else ("dark" if dark else "light")
    return _apply_current(mode_changed=_mode != before)


def _apply_current(mode_changed: bool = False) -> Theme:
    global _current
    _current = DARK if (system_is_dark() if _mode == "system" else _mode == "dark") else LIGHT
    app = QApplication.instance()
    if isinstance(app, QApplication):
        # Restyling the whole application repaints every widget: skip it, and the signal unless the
        # mode changed (menus show it), when this application already shows this theme.
        name = "dark" if _current.dark else "light"
        if app.property("netbuilderTheme") == name:
            if mode_changed:
                hub().changed.emit(_current)
            return _current
        app.setProperty("netbuilderTheme", name)
        app.setStyle("Fusion")
        app.setPalette(qpalette(_current))
        app.setStyleSheet(stylesheet(_current))
    hub().changed.emit(_current)
    return _current


def _on_system_scheme(*_: object) -> None:
    if _mode == "system":
        _apply_current()


def follow_system() -> None:
    """While the mode is "system", re-apply the theme whenever the system colour scheme changes."""
    global _following
    if _following:
        return
    with contextlib.suppress(AttributeError):  # Qt < 6.5 has no colour-scheme signal
        QGuiApplication.styleHints().colorSchemeChanged.connect(_on_system_scheme)
        _following = True


def choose(m: Mode, settings: QSettings | None = None) -> Theme:
    """The user picked ``m`` (View ▸ Theme): apply it and remember it in ``settings``."""
    if settings is not None:
        settings.setValue(SETTINGS_KEY, m)
    return apply(None if m == "system" else m == "dark")


def restore(settings: QSettings) -> Theme:
    """Apply the mode kept in ``settings`` (following the system when none or an unknown one is)."""
    saved = settings.value(SETTINGS_KEY, "system")
    m: Mode = saved if saved in ("light", "dark") else "system"
    follow_system()
    return apply(None if m == "system" else m == "dark")


def style_plot(widget: pg.PlotWidget, t: Theme | None = None) -> None:
    """Colour a pyqtgraph plot like the rest of the GUI: background, axes, tick labels, axis titles,
    the title and the legend (the grid is drawn with the axis pen)."""
    t = t or _current
    widget.setBackground(t.base)
    item = widget.getPlotItem()
    for name in ("left", "bottom", "right", "top"):
        axis = item.getAxis(name)
        axis.setPen(t.subtext)
        axis.setTextPen(t.text)  # also colours the axis title
    title = item.titleLabel
    title.setAttr("color", t.text)
    title.setText(title.text)
    legend = item.legend
    if legend is not None:
        legend.setBrush(QColor(t.base if not t.dark else t.alt_base))
        legend.setPen(t.node_border)
        legend.setLabelTextColor(t.text)
        for _sample, label in legend.items:  # setLabelTextColor only stores the colour: re-render
            label.setText(label.text)


def set_tone(label: QWidget, tone: str) -> None:
    """Colour ``label`` by the stylesheet's ``tone`` rules ("ok", "error", "error-box", "warning-box",
    "info-box" or "" for plain), so it follows theme switches and keeps the themes' contrast."""
    label.setProperty("tone", tone)
    label.style().unpolish(label)
    label.style().polish(label)


def stylesheet(t: Theme) -> str:
    """Small application stylesheet: dock titles, the lock banner, inline errors."""
    return f"""
QDockWidget::title {{ padding: 5px 8px; background: {t.alt_base}; border-bottom: 1px solid {t.node_border}; }}
QToolTip {{ color: {t.text}; background: {t.base}; border: 1px solid {t.node_border}; padding: 4px; }}
QLabel#inlineError {{ color: {t.error}; }}
QLabel#lockBanner {{ background: {t.warning}; color: {t.on_warning}; padding: 6px 12px; border-radius: 4px;
    font-weight: bold; }}
QLabel#sectionTitle {{ font-weight: bold; }}
QLabel#muted {{ color: {t.subtext}; }}
QLabel[tone="ok"] {{ color: {t.ok}; }}
QLabel[tone="error"] {{ color: {t.error}; }}
QLabel[tone="error-box"] {{ background: {t.error_bg}; color: {t.error}; padding: 4px; border-radius: 3px; }}
QLabel[tone="warning-box"] {{ background: {t.warning}; color: {t.on_warning}; padding: 4px; border-radius: 3px; }}
QLabel[tone="info-box"] {{ background: {t.alt_base}; color: {t.text}; padding: 4px; border-radius: 3px;
    border: 1px solid {t.node_border}; }}
QLineEdit[invalid="true"], QSpinBox[invalid="true"] {{ border: 1px solid {t.error}; background: {t.error_bg}; }}
QToolBar {{ border: none; spacing: 2px; }}
QStatusBar QLabel {{ padding: 0 6px; }}
"""
