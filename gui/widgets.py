"""Application-wide widget behaviour: the wheel guard.

Spin boxes and combo boxes change their value on the mouse wheel even without focus, so scrolling a
settings form changed whatever field passed under the pointer (issue 13). :func:`install_wheel_guard`
puts one event filter on the QApplication, so every panel, also ones written later, gets the rule
used by Qt Creator and Blender: such a field takes the wheel only once it has focus (a click or Tab);
otherwise the wheel scrolls the form that holds it.
"""

from __future__ import annotations

from PySide6.QtCore import QCoreApplication, QEvent, QObject, Qt
from PySide6.QtWidgets import QAbstractScrollArea, QAbstractSpinBox, QApplication, QComboBox, QWidget

_GUARDED = (QAbstractSpinBox, QComboBox)


class WheelGuard(QObject):
    """Event filter: unfocused spin and combo boxes pass the wheel to the scroll area around them."""

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        kind = event.type()
        if kind == QEvent.Type.Polish and isinstance(watched, _GUARDED):
            # WheelFocus would give the field focus on the first wheel tick, before this filter runs
            if watched.focusPolicy() == Qt.FocusPolicy.WheelFocus:
                watched.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        elif kind == QEvent.Type.Wheel and isinstance(watched, _GUARDED) and not watched.hasFocus():
            area = _scroll_area_of(watched)
            if area is not None:
                QCoreApplication.sendEvent(area.viewport(), event)
            return True  # never to the field itself
        return False


def _scroll_area_of(widget: QWidget) -> QAbstractScrollArea | None:
    parent = widget.parentWidget()
    while parent is not None:
        if isinstance(parent, QAbstractScrollArea) and not isinstance(parent, QComboBox):
            return parent
        parent = parent.parentWidget()
    return None


def install_wheel_guard(app: QApplication) -> WheelGuard:
    """Install the :class:`WheelGuard` on ``app`` (once; later calls return the same guard)."""
    guard = app.findChild(WheelGuard)
    if guard is None:
        guard = WheelGuard(app)
        app.installEventFilter(guard)
    return guard


__all__ = ["WheelGuard", "install_wheel_guard"]
