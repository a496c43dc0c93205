"""The weights new runs start from: an imported model's or an opened checkpoint's, kept where the
edited network still has the same tensor names and shapes (else those layers start fresh).

They belong to the project open when they were set: opening, creating or restoring another project
drops them. A banner in the training panel says they are in use and offers to drop them.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton


class StartingWeights:
    """The starting weights of one project and their banner (:attr:`frame`)."""

    def __init__(self, show_message: Callable[[str, str], None]) -> None:
        self._show_message = show_message
        #: name → tensor, or None for a fresh random initialisation.
        self.state: dict[str, torch.Tensor] | None = None
        self._owner: dict[str, object] | None = None  # the project's training dict they belong to
        self.source = ""
        self.frame = QFrame()
        self.label = QLabel()
        self.label.setWordWrap(True)
        self.clear_button = QPushButton("Start from random weights")
        self.clear_button.setToolTip("Forget the loaded weights: new runs start from a fresh random initialisation")
        wl = QHBoxLayout(self.frame)
        wl.setContentsMargins(0, 0, 0, 0)
        wl.addWidget(self.label, 1)
        wl.addWidget(self.clear_button, 0, Qt.AlignmentFlag.AlignTop)
        self.frame.setVisible(False)
        self.clear_button.clicked.connect(self.clear)

    def set(self, state: dict[str, torch.Tensor] | None, owner: dict[str, object], source: str) -> None:
        """Use ``state`` for the project whose training dict is ``owner`` (the dict is replaced for
        every project loaded, so it identifies one)."""
        self.state = dict(state) if state else None
        self._owner = owner if state else None
        self.source = source or "the loaded model"

    def clear(self) -> None:
        """New runs start from random weights again."""
        had = self.state is not None
        self.state = None
        self._owner = None
        self.show_notice()
        if had:
            self._show_message("New runs start from random weights.", "info")

    def forget_unless(self, owner: dict[str, object]) -> None:
        """Drop the weights if they came with another project than ``owner``'s."""
        if self.state is not None and self._owner is not owner:
            self.state = None
            self._owner = None

    def show_notice(self, announce: bool = False) -> None:
        """Show the banner while weights are set; ``announce`` also says so in the panel's message."""
        w = self.state
        self.frame.setVisible(w is not None)
        if w is None:
            return
        self.label.setText(f"New runs start from the weights of {self.source}.")
        self.label.setToolTip(f"{len(w)} tensors; layers whose names or shapes no longer fit start fresh")
        if announce:
            self._show_message(f"The next run starts from the weights of {self.source} "
                               "(layers whose shapes changed start fresh).", "info")
