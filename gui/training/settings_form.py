"""The training settings form: one widget per :class:`~netbuilder.core.train.trainer.TrainConfig`
field the panel edits, shown from and read back into a config.

The option lists (optimizers, losses, LR schedules, datasets) and the defaults come from core
(``OPTIMIZERS``, ``LOSSES``, ``SCHEDULES``, ``DATASETS``, ``TrainConfig``); this module only says how
each is presented.
"""

from __future__ import annotations

from collections.abc import Mapping

from netbuilder.core.errors import UserError
from netbuilder.core.train.config import FIT_INPUTS
from netbuilder.core.train.data import DATASETS
from netbuilder.core.train.trainer import LOSSES, OPTIMIZERS, SCHEDULES, TrainConfig, resolve_device
from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QLineEdit,
    QSpinBox,
    QToolButton,
    QWidget,
)

DATASET_LABELS = {
    "sample": "MNIST sample (bundled: 6,000 + 1,000 images)",
    "mnist": "MNIST digits (60,000 + 10,000)",
    "fashion-mnist": "Fashion-MNIST clothes (60,000 + 10,000)",
    "cifar10": "CIFAR-10 photos (50,000 + 10,000)",
}
FIT_LABELS = {
    "none": "none: images must match the Input",
    "pad": "pad images to the Input size",
    "resize": "resize images to the Input size",
    "rows": "read images row by row (a sequence)",
}
# settings the panel edits; the rest of TrainConfig is kept as found in the project file
EDITED = ("dataset", "data_dir", "optimizer", "lr", "momentum", "weight_decay", "batch_size", "epochs", "loss",
          "schedule", "seed", "device", "limit_steps", "fit_input")
#: A setting's value as the form holds it (what ``TrainConfig.from_dict`` takes).
SettingValue = str | int | float | None


class SettingsForm(QObject):
    """The setting widgets (owned by the panel's widget tree once laid out) and their values.

    Signal :attr:`edited` ``(name)``: the user changed a setting (not emitted by :meth:`show`)."""

    edited = Signal(str)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._populating = False
        self.dataset_box = QComboBox()
        for name in DATASETS:
            self.dataset_box.addItem(DATASET_LABELS.get(name, name), name)
        self.dataset_box.setToolTip("The images to train on. The bundled sample needs no download.")
        self.data_dir_edit = QLineEdit()
        self.data_dir_edit.setToolTip("The folder holding the dataset's original files (empty: the default)")
        self.data_dir_button = QToolButton()
        self.data_dir_button.setText("…")
        self.data_dir_button.setToolTip("Choose the data folder")

        self.optimizer_box = QComboBox()
        self.optimizer_box.addItems(list(OPTIMIZERS))
        self.lr_spin = QDoubleSpinBox()
        self.lr_spin.setDecimals(6)
        self.lr_spin.setRange(1e-6, 100.0)
        self.lr_spin.setStepType(QDoubleSpinBox.StepType.AdaptiveDecimalStepType)
        self.lr_spin.setToolTip("Learning rate: the size of each optimisation step")
        self.momentum_spin = QDoubleSpinBox()
        self.momentum_spin.setRange(0.0, 1.0)
        self.momentum_spin.setDecimals(3)
        self.momentum_spin.setSingleStep(0.05)
        self.wd_spin = QDoubleSpinBox()
        self.wd_spin.setDecimals(6)
        self.wd_spin.setRange(0.0, 1.0)
        self.wd_spin.setStepType(QDoubleSpinBox.StepType.AdaptiveDecimalStepType)
        self.wd_spin.setToolTip("L2 weight decay (0 = none)")
        self.batch_spin = QSpinBox()
        self.batch_spin.setRange(1, 65536)
        self.epochs_spin = QSpinBox()
        self.epochs_spin.setRange(1, 10000)
        self.loss_box = QComboBox()
        self.loss_box.addItems(list(LOSSES))
        self.schedule_box = QComboBox()
        self.schedule_box.addItems(list(SCHEDULES))
        self.schedule_box.setToolTip("How the learning rate changes over the run: none, step (×0.1 every third of "
                                     "the epochs) or cosine (smoothly down to 0)")
        self.seed_spin = QSpinBox()
        self.seed_spin.setRange(0, 2**31 - 1)
        self.seed_spin.setToolTip("Random seed: the same seed and settings give the same run")
        self.device_box = QComboBox()
        for dev in ("auto", "cpu", "cuda", "mps"):
            try:
                resolve_device(dev)
                self.device_box.addItem(dev)
            except UserError:
                pass
        self.limit_spin = QSpinBox()
        self.limit_spin.setRange(0, 10_000_000)
        self.limit_spin.setSpecialValueText("all")
        self.limit_spin.setToolTip("Cap the steps per epoch for a quick try (all = the whole training set)")
        self.fit_box = QComboBox()
        for mode in FIT_INPUTS:  # the options are TrainConfig's; the labels only describe them
            self.fit_box.addItem(FIT_LABELS.get(mode, mode), mode)
        for box in (self.dataset_box, self.fit_box):  # long item texts must not widen the column
            box.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
            box.setMinimumContentsLength(14)
        self.widgets: dict[str, QWidget] = {
            "dataset": self.dataset_box, "data_dir": self.data_dir_edit, "optimizer": self.optimizer_box,
            "lr": self.lr_spin, "momentum": self.momentum_spin, "weight_decay": self.wd_spin,
            "batch_size": self.batch_spin, "epochs": self.epochs_spin, "loss": self.loss_box,
            "schedule": self.schedule_box, "seed": self.seed_spin, "device": self.device_box,
            "limit_steps": self.limit_spin, "fit_input": self.fit_box,
        }
        for name, w in self.widgets.items():
            if isinstance(w, QComboBox):
                w.currentIndexChanged.connect(lambda _i, n=name: self._on_changed(n))
            elif isinstance(w, QLineEdit):
                w.editingFinished.connect(lambda n=name: self._on_changed(n))
            elif isinstance(w, QSpinBox | QDoubleSpinBox):
                w.valueChanged.connect(lambda _v, n=name: self._on_changed(n))

    def hyperparameter_layout(self) -> QFormLayout:
        """The hyperparameter rows, labelled, in the panel's order."""
        hp = QFormLayout()
        hp.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        for label, w in (("Optimizer", self.optimizer_box), ("Learning rate", self.lr_spin),
                         ("Momentum", self.momentum_spin), ("Weight decay", self.wd_spin),
                         ("Batch size", self.batch_spin), ("Epochs", self.epochs_spin),
                         ("Steps per epoch", self.limit_spin), ("Loss", self.loss_box),
                         ("LR schedule", self.schedule_box), ("Seed", self.seed_spin), ("Device", self.device_box)):
            hp.addRow(label, w)
        return hp

    def _on_changed(self, name: str) -> None:
        if not self._populating:
            self.edited.emit(name)

    def value(self, name: str) -> SettingValue:
        """The setting ``name`` as shown (None for an empty data folder or "all" steps)."""
        w = self.widgets[name]
        if name == "data_dir":
            text = self.data_dir_edit.text().strip()
            return text or None
        if name == "limit_steps":
            return self.limit_spin.value() or None
        if isinstance(w, QComboBox):
            data = w.currentData()
            return data if data is not None else w.currentText()
        if isinstance(w, QDoubleSpinBox):
            return float(w.value())
        if isinstance(w, QSpinBox):
            return int(w.value())
        raise AssertionError(name)

    def settings_dict(self, training: Mapping[str, object]) -> dict[str, object]:
        """``training``'s TrainConfig fields with the edited ones replaced by the form's values."""
        base = {k: v for k, v in training.items() if k in TrainConfig.__dataclass_fields__}
        base.update({k: self.value(k) for k in EDITED})
        return base

    def show(self, cfg: TrainConfig) -> None:
        """Show ``cfg`` in the widgets (emits no :attr:`edited`)."""
        self._populating = True
        try:
            set_combo(self.dataset_box, cfg.dataset)
            self.data_dir_edit.setText(cfg.data_dir or "")
            set_combo(self.optimizer_box, cfg.optimizer)
            self.lr_spin.setValue(cfg.lr)
            self.momentum_spin.setValue(cfg.momentum)
            self.wd_spin.setValue(cfg.weight_decay)
            self.batch_spin.setValue(cfg.batch_size)
            self.epochs_spin.setValue(cfg.epochs)
            set_combo(self.loss_box, cfg.loss)
            set_combo(self.schedule_box, cfg.schedule)
            self.seed_spin.setValue(cfg.seed)
            set_combo(self.device_box, cfg.device)
            self.limit_spin.setValue(cfg.limit_steps or 0)
            set_combo(self.fit_box, cfg.fit_input)
        finally:
            self._populating = False

    def set_enabled(self, enabled: bool, sample: bool) -> None:
        """Enable the widgets (the data folder only for datasets that are not bundled)."""
        for name, w in self.widgets.items():
            w.setEnabled(enabled and not (name == "data_dir" and sample))
        self.data_dir_button.setEnabled(enabled and not sample)


def set_combo(box: QComboBox, value: object) -> None:
    """Select the item of ``box`` whose data (or else text) is ``value``; unknown values are ignored."""
    i = box.findData(value)
    if i < 0:
        i = box.findText(str(value))
    if i >= 0:
        box.setCurrentIndex(i)
