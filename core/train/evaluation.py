"""Scoring a trained model on a whole split: loss, accuracy, confusion matrix and the misclassified samples."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch
import torch.nn as nn
from netbuilder.core.train.optim import loss_value

MAX_MISCLASSIFIED = 500


@dataclass
class Evaluation:
    """Results of evaluating a whole split."""

    loss: float
    accuracy: float
    confusion: list[list[int]] = field(default_factory=list)  # [true][predicted]
    misclassified: list[int] = field(default_factory=list)
    predictions: list[int] = field(default_factory=list)


def evaluate_split(model: nn.Module, batch: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, y: torch.Tensor,
                   num_classes: int, loss: str, batch_size: int, device: torch.device) -> Evaluation:
    """Evaluate ``model`` on images ``x`` (raw, turned into model input by ``batch``) and labels ``y`` in
    batches of ``batch_size``, in inference mode; the model's train/eval mode is put back afterwards.
    At most :data:`MAX_MISCLASSIFIED` misclassified indices (with their predicted classes) are kept."""
    k = num_classes
    n = len(y)
    if n == 0:
        return Evaluation(float("nan"), 0.0, [[0] * k for _ in range(k)])
    was_training = model.training
    model.eval()
    # float64 keeps a 10,000-sample sum exact enough; MPS has no float64
    acc_dtype = torch.float32 if device.type == "mps" else torch.float64
    loss_sum = torch.zeros((), dtype=acc_dtype, device=device)
    confusion = torch.zeros(k * k, dtype=torch.int64, device=device)
    wrong: list[torch.Tensor] = []
    wrong_pred: list[torch.Tensor] = []
    try:
        with torch.inference_mode():
            for i in range(0, n, batch_size):
                yb = y[i:i + batch_size].to(device)
                out = model(batch(x[i:i + batch_size]))
                loss_sum += loss_value(loss, out, yb, reduction="sum").to(acc_dtype)
                pred = out.argmax(1)
                confusion += torch.bincount(yb * k + pred, minlength=k * k)
                bad = (pred != yb).nonzero().flatten()
                wrong.append(bad + i)
                wrong_pred.append(pred[bad])
    finally:
        model.train(was_training)
    per = k if loss == "mse" else 1  # mse averages over classes too
    conf = confusion.view(k, k).cpu()
    mean_loss = float(loss_sum) / (n * per)
    acc = float(conf.diag().sum()) / n
    mis = torch.cat(wrong)[:MAX_MISCLASSIFIED].tolist()
    preds = torch.cat(wrong_pred)[:MAX_MISCLASSIFIED].tolist()
    return Evaluation(mean_loss, acc, conf.tolist(), mis, preds)
