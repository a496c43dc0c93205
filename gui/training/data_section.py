"""The training panel's Data section: the dataset and its folder, whether it is loaded, the Fit images
choice, and the offer above the settings when the files are missing (download with its progress bar
and Cancel, choose a folder, or use the bundled sample).

The loading itself is :class:`~netbuilder.gui.training.datasets.DatasetLoader`'s; this module shows it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from netbuilder.core.train.data import Dataset
from netbuilder.gui import theme
from netbuilder.gui.training.data_offer import DataOffer
from netbuilder.gui.training.datasets import PRETTY, DatasetKey
from netbuilder.gui.training.settings_form import set_combo
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFormLayout, QHBoxLayout, QLabel

if TYPE_CHECKING:
    from netbuilder.gui.training.panel import TrainingPanel


class DataSection:
    """The Data rows of one :class:`TrainingPanel` and their reactions to the loader's signals."""

    def __init__(self, panel: TrainingPanel) -> None:
        self.panel = panel
        self.loader = panel.loader
        self.form = panel.form
        self.status = QLabel()
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.offer = DataOffer()
        self.download_button = self.offer.download_button
        self.download_bar = self.offer.bar
        self.cancel_button = self.offer.cancel_button
        self.download_button.clicked.connect(self.download)
        self.cancel_button.clicked.connect(lambda: self.cancel())
        self.offer.choose_button.clicked.connect(self._choose_data_dir)
        self.offer.sample_button.clicked.connect(self.use_sample)
        self.form.data_dir_button.clicked.connect(self._choose_data_dir)
        self.loader.progress.connect(self._on_progress)
        self.loader.finished.connect(self._on_loaded)
        self.loader.failed.connect(lambda key, _text: self._on_missing(key))
        self.loader.cancelled.connect(self._on_missing)

    def layout(self) -> QFormLayout:
        """The Data rows: dataset, folder, status, fit, compatibility and its fixes."""
        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        form.addRow("Dataset", self.form.dataset_box)
        dir_row = QHBoxLayout()
        dir_row.addWidget(self.form.data_dir_edit, 1)
        dir_row.addWidget(self.form.data_dir_button)
        form.addRow("Data folder", dir_row)
        form.addRow(self.status)
        form.addRow("Fit images", self.form.fit_box)
        form.addRow(self.panel.compat.label)
        form.addRow(self.panel.compat.fix_row)
        return form

    def update(self) -> None:
        """Show the chosen dataset's state: loaded, loading or downloading, missing, or not yet needed."""
        key = self.panel.dataset_key()
        name = key[0]
        sample = name == "sample"
        active = self.panel.active
        self.form.data_dir_edit.setEnabled(not sample and not active)
        self.form.data_dir_button.setEnabled(not sample and not active)
        self.form.data_dir_edit.setPlaceholderText("bundled with NetBuilder" if sample
                                                   else self.loader.default_dir_text(name))
        ds = self.loader.get(key)
        error = self.loader.error_for(key)
        downloading = self.loader.loading_key == key and self.loader.is_downloading()
        self.offer.frame.setVisible(not sample and (error is not None or downloading))
        where = key[1] or self.loader.default_dir_text(name)
        self.offer.label.setText(f"Downloading {PRETTY[name]} into {where}…" if downloading else
                                 f"{PRETTY[name]} was not found in {where}. To train, choose one:")
        self.offer.choose_button.setEnabled(not active and not downloading)
        self.offer.sample_button.setEnabled(not active)
        if ds is not None:
            c, h, w = ds.shape
            self.status.setText(f"✓ {PRETTY[name]}: {len(ds.train_y):,} training and {len(ds.test_y):,} test "
                                f"images of {c}×{h}×{w}, {len(ds.classes)} classes — from {ds.source}")
            theme.set_tone(self.status, "")
            self.download_button.setVisible(False)
        elif error is not None:
            self.status.setText(error)
            # a download the user cancelled is no error
            theme.set_tone(self.status, "" if self.loader.cancelled_key == key else "error")
            self.download_button.setVisible(not sample)
        elif self.loader.loading_key == key:
            self.status.setText("Downloading…" if self.loader.is_downloading() else f"Loading {PRETTY[name]}…")
            theme.set_tone(self.status, "")
            self.download_button.setVisible(False)
        else:
            self.status.setText(f"{PRETTY[name]} will be loaded when needed.")
            theme.set_tone(self.status, "")
            self.download_button.setVisible(not sample)
        self.download_button.setEnabled(not self.panel.tasks.busy and not active)

    def ensure(self, download: bool = False) -> None:
        """Load the chosen dataset in the background (downloading first if asked)."""
        if self.loader.load(self.panel.dataset_key(), download):
            self.download_bar.setVisible(download)
            self.download_bar.setRange(0, 0)
            self.cancel_button.setVisible(download)
            self.cancel_button.setEnabled(True)
            self.update()
            self.panel.update_controls()
        else:
            self.update()

    def use_sample(self) -> None:
        """Switch to the bundled sample (one undo step); a Start that failed for want of data runs now."""
        self._start_when_loaded()
        set_combo(self.form.dataset_box, "sample")

    def _start_when_loaded(self) -> None:
        run = self.panel.run
        if run.start_wanted:  # the user asked to train and is now providing the data: go on once loaded
            run.start_wanted = False
            run.start_after_load = True
        self.panel.hide_message()

    def download(self) -> None:
        """Download the chosen dataset (progress bar; a clear error offline)."""
        self.loader.error = None
        self._start_when_loaded()
        self.ensure(download=True)

    def cancel(self, wait_ms: int = 0) -> bool:
        """Cancel the running download; with ``wait_ms`` > 0 wait for it. True when none is left."""
        if not self.loader.is_downloading():
            return True
        self.cancel_button.setEnabled(False)
        self.download_bar.setFormat("cancelling…")
        if not self.loader.cancel(wait_ms):
            return False
        self._task_ended()
        self.update()
        return True

    def _task_ended(self) -> None:
        self.download_bar.setVisible(False)
        self.cancel_button.setVisible(False)
        self.panel.update_controls()

    def _on_progress(self, done: int, total: int, text: str) -> None:
        self.download_bar.setVisible(True)
        if total > 0:
            self.download_bar.setRange(0, 1000)
            self.download_bar.setValue(int(1000 * done / total))
            self.download_bar.setFormat(f"{text}: {done / 1e6:.1f} of {total / 1e6:.1f} MB")
        else:
            self.download_bar.setRange(0, 0)
            self.download_bar.setFormat(f"{text}: {done / 1e6:.1f} MB")

    def _on_loaded(self, key: DatasetKey, ds: Dataset) -> None:
        self._task_ended()
        self.update()
        self.panel.compat.update()
        self.panel.on_dataset_ready(key, ds)

    def _on_missing(self, key: DatasetKey) -> None:
        self._task_ended()
        self.update()
        self.panel.on_dataset_missing(key)

    def _choose_data_dir(self) -> None:
        start = self.form.data_dir_edit.text() or self.loader.default_dir_text(self.panel.dataset_key()[0])
        path = self.panel.choose_directory("Folder with the dataset's files", start)
        if path:
            self._start_when_loaded()
            self.form.data_dir_edit.setText(path)
            self.form.edited.emit("data_dir")
