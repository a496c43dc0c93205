"""The light and dark themes (issue 13, point 6): plots follow the theme, the Theme menu shows the
choice with a check mark and keeps it across sessions, "Follow the System" follows a live change,
and every text colour meets WCAG AA on the backgrounds it is drawn on."""
# ruff: noqa: F811  (pytest fixtures imported from _helpers_editor are shadowed by parameters)

from __future__ import annotations

from typing import Any

import pytest
from _helpers_editor import cfg_dir, make_window  # noqa: F401
from netbuilder.gui import theme
from netbuilder.gui.editor.file_commands import settings
from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QColor, QGuiApplication
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QMenu


@pytest.fixture(autouse=True)
def _light_after() -> Any:
    yield
    theme.apply(False)  # the other tests expect the light theme


def _plot_colours(widget: Any) -> tuple[str, str, str]:
    """(background, left axis pen, left axis text pen) of a pyqtgraph PlotWidget, as #rrggbb."""
    axis = widget.getPlotItem().getAxis("left")
    return (widget.backgroundBrush().color().name(), axis.pen().color().name(), axis.textPen().color().name())


@pytest.mark.parametrize("view", ["training", "gradients"])
def test_dark_theme_colours_the_plots(qtbot: Any, view: str) -> None:
    from netbuilder.core.model.project import load_preset
    from netbuilder.gui.editor.document import Document
    from netbuilder.gui.inspect.gradient_view import GradientView
    from netbuilder.gui.training.plots import TrainingPlots

    theme.apply(False)
    doc = Document(load_preset("lenet5-mnist").graph)
    if view == "training":
        w: Any = TrainingPlots()
        widgets = [p.widget for p in (w.loss_plot, w.acc_plot, w.epoch_loss_plot, w.lr_plot)]
    else:
        w = GradientView(doc)
        widgets = [w.flow_plot, w.hist_plot]
    qtbot.addWidget(w)
    light = theme.LIGHT
    assert _plot_colours(widgets[0]) == (light.base, light.subtext, light.text)
    theme.apply(True)
    dark = theme.DARK
    for pw in widgets:
        assert _plot_colours(pw) == (dark.base, dark.subtext, dark.text)
        item = pw.getPlotItem()
        assert item.getAxis("bottom").pen().color().name() == dark.subtext
        if item.legend is not None:
            assert item.legend.labelTextColor().name() == dark.text
            for _sample, label in item.legend.items:  # the labels already shown are re-rendered
                assert dark.text[1:] in label.item.toHtml().lower()
    if view == "training":
        assert QColor(w.loss_plot.item.titleLabel.opts["color"]).name() == dark.text
        # the curves are re-coloured too: the light theme's dark blue hardly shows on the dark background
        pen = w.loss_smooth.opts["pen"]
        assert theme.contrast_ratio(pen.color(), QColor(dark.base)) >= 3.0
    doc.undo_stack.clear()


def _click_theme(win: Any, text: str) -> None:
    """Open View ▸ Theme and click the entry ``text`` with the mouse."""
    menu = next(m for m in win.findChildren(QMenu) if m.title() == "&Theme")
    menu.popup(win.mapToGlobal(QPoint(100, 100)))
    QApplication.processEvents()
    action = next(a for a in menu.actions() if a.text() == text)
    QTest.mouseClick(menu, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
                     menu.actionGeometry(action).center())
    QApplication.processEvents()


def _checked(win: Any) -> list[str]:
    menu = next(m for m in win.findChildren(QMenu) if m.title() == "&Theme")
    return [a.text() for a in menu.actions() if a.isChecked()]


def test_theme_menu_check_mark_and_choice_kept_across_sessions(make_window: Any) -> None:
    win = make_window()
    assert _checked(win) == ["Follow the System"]  # the default
    _click_theme(win, "Dark")
    assert theme.current() is theme.DARK and theme.mode() == "dark"
    assert _checked(win) == ["Dark"]  # the check mark moved, and only one is checked
    assert settings().value(theme.SETTINGS_KEY) == "dark"
    _click_theme(win, "Light")
    assert _checked(win) == ["Light"] and theme.current() is theme.LIGHT
    _click_theme(win, "Dark")

    # a new session: the process starts following the system, then loads the same settings
    theme.apply(None)
    assert theme.restore(settings()) is theme.DARK
    again = make_window()
    assert _checked(again) == ["Dark"] and theme.current() is theme.DARK
    assert QApplication.palette().window().color().name() == theme.DARK.window


def test_follow_the_system_switches_live(make_window: Any, monkeypatch: Any) -> None:
    win = make_window()
    _click_theme(win, "Light")
    hints = QGuiApplication.styleHints()
    monkeypatch.setattr(theme, "system_is_dark", lambda: True)
    hints.colorSchemeChanged.emit(Qt.ColorScheme.Dark)
    assert theme.current() is theme.LIGHT  # a fixed choice ignores the system
    _click_theme(win, "Follow the System")
    assert theme.current() is theme.DARK and _checked(win) == ["Follow the System"]
    monkeypatch.setattr(theme, "system_is_dark", lambda: False)
    hints.colorSchemeChanged.emit(Qt.ColorScheme.Light)
    assert theme.current() is theme.LIGHT
    assert settings().value(theme.SETTINGS_KEY) == "system"


@pytest.mark.parametrize("t", [theme.LIGHT, theme.DARK], ids=["light", "dark"])
def test_every_text_colour_meets_wcag_aa(t: theme.Theme) -> None:
    assert theme.contrast_ratio("#000000", "#ffffff") == pytest.approx(21.0)
    low = [(fg, bg, round(theme.contrast_ratio(getattr(t, fg), getattr(t, bg)), 2))
           for fg, bg in theme.CONTRAST_PAIRS if theme.contrast_ratio(getattr(t, fg), getattr(t, bg)) < 4.5]
    assert low == []
    # the pairs cover every text colour the theme defines, on every background it defines
    assert {"error", "warning", "ok"} <= {fg for fg, _ in theme.CONTRAST_PAIRS}
    assert {"window", "base", "alt_base", "error_bg"} <= {bg for _, bg in theme.CONTRAST_PAIRS}


def test_no_view_hard_codes_a_text_colour() -> None:
    """Colours come from the theme (set_tone, object names, theme.current()), never a hex literal in a
    widget's stylesheet: a fixed colour is unreadable in one of the two themes."""
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent / "gui"
    pattern = re.compile(r"setStyleSheet\([^)]*#[0-9a-fA-F]{3,6}")
    offenders = [f"{p.relative_to(root)}:{i}" for p in root.rglob("*.py") if p.name != "theme.py"
                 for i, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1) if pattern.search(line)]
    assert not offenders, offenders
