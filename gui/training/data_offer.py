"""The offer shown above the training settings when the chosen dataset's files are not found: the
three ways on, in one place: download it (with its progress bar and Cancel), choose the folder that
holds it, or train on the MNIST sample bundled with NetBuilder.
"""

from __future__ import annotations

from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QProgressBar, QPushButton, QVBoxLayout


class DataOffer:
    """The offer's widgets (:attr:`frame` holds them); the Data section connects and shows them."""

    def __init__(self) -> None:
        self.frame = QFrame()
        self.frame.setObjectName("data_offer")
        self.frame.setFrameShape(QFrame.Shape.StyledPanel)
        self.label = QLabel()
        self.label.setWordWrap(True)
        self.download_button = QPushButton("Download")
        self.download_button.setToolTip("Download the dataset from torchvision's mirrors (needs internet)")
        self.choose_button = QPushButton("Choose folder…")
        self.choose_button.setToolTip("Choose the folder that holds the dataset's files; it becomes the default "
                                      "data folder of every project")
        self.sample_button = QPushButton("Use the bundled sample")
        self.sample_button.setToolTip("Train on the MNIST sample that comes with NetBuilder (6,000 + 1,000 images; "
                                      "no download)")
        self.bar = QProgressBar()
        self.bar.setVisible(False)
        self.cancel_button = QPushButton("Cancel download")
        self.cancel_button.setVisible(False)
        lay = QVBoxLayout(self.frame)
        lay.setContentsMargins(6, 6, 6, 6)
        lay.addWidget(self.label)
        row = QHBoxLayout()
        for b in (self.download_button, self.choose_button, self.sample_button):
            row.addWidget(b)
        lay.addLayout(row)
        bar_row = QHBoxLayout()
        bar_row.addWidget(self.bar, 1)
        bar_row.addWidget(self.cancel_button)
        lay.addLayout(bar_row)
        self.frame.setVisible(False)

    def buttons(self) -> list[QPushButton]:
        """The three choices, in their order."""
        return [self.download_button, self.choose_button, self.sample_button]
