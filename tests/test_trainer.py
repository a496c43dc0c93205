"""The training engine on the bundled MNIST sample: accuracy, events, losses and optimizers, errors,
NaN handling, stop/pause/resume from another thread, exact resume from checkpoints, malicious files."""

from __future__ import annotations

import os
import pickle
import threading
import time
from pathlib import Path

import pytest
import torch
from netbuilder.core.errors import UserError
from netbuilder.core.model.graph import Graph
from netbuilder.core.model.project import load_preset
from netbuilder.core.train.checkpoint import CheckpointError, load_checkpoint
from netbuilder.core.train.data import load_dataset
from netbuilder.core.train.events import (
    EpochEvent,
    FailedEvent,
    FinishedEvent,
    GradStatsEvent,
    HistogramEvent,
    StepEvent,
    StoppedEvent,
    WarningEvent,
)
from netbuilder.core.train.trainer import TrainConfig, Trainer, TrainError, resolve_device

from tests._graphs import linear_net


@pytest.fixture(autouse=True)
def _one_thread():
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


@pytest.fixture(scope="module")
def sample():
    return load_dataset("sample")


def lenet() -> Graph:
    return load_preset("lenet5-mnist").graph


def cfg(**kw) -> TrainConfig:
    base = {"dataset": "sample", "device": "cpu"}
    base.update(kw)
    return TrainConfig.from_dict(base)


def events_of(trainer: Trainer) -> list:
    return list(trainer)


# ---------------------------------------------------------------- config


def test_config_round_trip_and_validation():
    c = cfg(epochs=3, lr=0.1, optimizer="Adam", loss="CrossEntropy", schedule="step")
    assert c.optimizer == "adam" and c.loss == "cross-entropy"
    assert TrainConfig.from_dict(c.to_dict()) == c
    assert TrainConfig.from_dict({"future_setting": 1, "epochs": 2}).epochs == 2  # unknown keys ignored
    for bad, field in (({"lr": 0}, "lr"), ({"epochs": 0}, "epochs"), ({"batch_size": "64"}, "batch_size"),
                       ({"optimizer": "lbfgs"}, "optimizer"), ({"loss": "hinge"}, "loss"),
                       ({"dataset": "imagenet"}, "dataset"), ({"momentum": 2}, "momentum"),
                       ({"threads": 0}, "threads"), ({"fit_input": "crop"}, "fit_input")):
        with pytest.raises(TrainError) as e:
            TrainConfig.from_dict(bad)
        assert e.value.field == field and field in str(e.value)


def test_cuda_missing_is_a_clean_error():
    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    with pytest.raises(TrainError, match="not available"):
        resolve_device("cuda")
    assert resolve_device("auto").type in ("cpu", "mps")


# ---------------------------------------------------------------- accuracy and events


def test_lenet5_defaults_learn_the_sample(sample):
    """Measured: 2 epochs with the default settings (SGD 0.05, momentum 0.9, cosine, seed 0) reach 96.3%
    test accuracy on the sample (1 epoch: 89%); 90% leaves room for other BLAS builds."""
    trainer = Trainer(lenet(), cfg(epochs=2), sample)
    evs = events_of(trainer)
    fin = evs[-1]
    assert isinstance(fin, FinishedEvent), fin
    assert fin.test_accuracy >= 0.90
    epochs = [e for e in evs if isinstance(e, EpochEvent)]
    assert [e.epoch for e in epochs] == [1, 2]
    assert epochs[-1].train_loss < epochs[0].train_loss
    conf = torch.tensor(epochs[-1].confusion)
    assert conf.shape == (10, 10) and int(conf.sum()) == 1000
    assert float(conf.diag().sum()) / 1000 == pytest.approx(fin.test_accuracy)
    wrong = 1000 - int(conf.diag().sum())
    assert len(epochs[-1].misclassified) == wrong == len(epochs[-1].predictions)
    for i, p in zip(epochs[-1].misclassified, epochs[-1].predictions, strict=True):
        assert int(sample.test_y[i]) != p
    steps = [e for e in evs if isinstance(e, StepEvent)]
    assert len(steps) == 2 * 94 == trainer.global_step
    assert steps[-1].global_step == steps[-1].total_steps == 188 and steps[-1].eta_seconds == 0
    assert all(s.samples_per_second > 0 for s in steps)
    h = trainer.history
    assert len(h["step_loss"]) == len(h["lr"]) == 188 and len(h["test_accuracy"]) == 2
    assert h["test_accuracy"][-1] == fin.test_accuracy


def test_grad_stats_and_histograms_name_canvas_nodes(sample):
    g = lenet()
    g.rename_node("conv1", "train")  # an nn.Module method name: the attribute becomes "train_"
    trainer = Trainer(g, cfg(epochs=1, limit_steps=40, stats_every=10, histogram_every=20,
                             histogram_param="fc1.weight"), sample)
    evs = events_of(trainer)
    stats = [e for e in evs if isinstance(e, GradStatsEvent)]
    assert [s.global_step for s in stats] == [10, 20, 30, 40]
    s = stats[-1]
    assert s.names[:2] == ["train_.weight", "train_.bias"]
    assert s.layers[:2] == ["train", "train"] and set(s.layers) == {"train", "conv2", "fc1", "fc2", "fc3"}
    assert all(v > 0 for v in s.grad_norms) and all(v > 0 for v in s.weight_norms)
    assert all(0 < r < 1 for r in s.update_ratios)
    # the reported norm is the real one
    hists = [e for e in evs if isinstance(e, HistogramEvent)]
    assert [h.global_step for h in hists] == [20, 40]
    assert hists[0].name == "fc1.weight" and sum(hists[0].counts) == 120 * 400
    assert len(hists[0].edges) == len(hists[0].counts) + 1 and hists[0].edges[0] < hists[0].edges[-1]


def test_grad_norms_match_torch(sample):
    trainer = Trainer(lenet(), cfg(epochs=1, limit_steps=1, stats_every=1, lr=1e-9, momentum=0.0), sample)
    stats = next(e for e in trainer if isinstance(e, GradStatsEvent))
    expected = [float(p.grad.norm()) for _, p in trainer.model.named_parameters()]
    assert stats.grad_norms == pytest.approx(expected, rel=1e-4)


@pytest.mark.parametrize("optimizer", ["sgd", "adam", "adamw", "rmsprop"])
def test_optimizers_reduce_the_loss(sample, optimizer):
    lr = 0.05 if optimizer == "sgd" else 0.001
    trainer = Trainer(lenet(), cfg(epochs=1, limit_steps=60, optimizer=optimizer, lr=lr, schedule="none"), sample)
    fin = trainer.run()
    assert isinstance(fin, FinishedEvent)
    losses = trainer.history["step_loss"]
    assert sum(losses[-10:]) / 10 < sum(losses[:10]) / 10 * 0.8


def test_schedules():
    g = lenet()
    ds = load_dataset("sample").subset(640, 100)
    t = Trainer(g, cfg(epochs=3, lr=0.1, schedule="cosine"), ds)
    assert t.steps_per_epoch == 10
    assert t.lr_at(0) == pytest.approx(0.1) and t.lr_at(15) == pytest.approx(0.05) and t.lr_at(30) == pytest.approx(0)
    t = Trainer(g, cfg(epochs=3, lr=0.1, schedule="step", step_size=1, gamma=0.5), ds)
    assert [t.lr_at(s) for s in (0, 9, 10, 25)] == pytest.approx([0.1, 0.1, 0.05, 0.025])
    t = Trainer(g, cfg(epochs=3, lr=0.1, schedule="none"), ds)
    assert t.lr_at(29) == 0.1


# ---------------------------------------------------------------- losses and output checks


def with_last(graph: Graph, typ: str, **params) -> Graph:
    graph.add_node(typ, "last", params)
    graph.connect("fc3", "last")
    return graph


def test_nll_needs_log_softmax(sample):
    t = Trainer(lenet(), cfg(epochs=1, limit_steps=5, loss="nll"), sample)
    warn = next(e for e in t if isinstance(e, WarningEvent))
    assert "LogSoftmax" in warn.message and warn.node == "fc3"
    t = Trainer(with_last(lenet(), "LogSoftmax", dim=1), cfg(epochs=1, limit_steps=30, loss="nll", lr=0.05), sample)
    evs = events_of(t)
    assert not any(isinstance(e, WarningEvent) for e in evs) and isinstance(evs[-1], FinishedEvent)
    assert t.history["step_loss"][-1] < t.history["step_loss"][0]


def test_softmax_before_cross_entropy_warns(sample):
    t = Trainer(with_last(lenet(), "Softmax", dim=1), cfg(epochs=1, limit_steps=2), sample)
    assert any(isinstance(e, WarningEvent) and e.node == "last" for e in t)


def test_mse_on_one_hot_targets(sample):
    t = Trainer(lenet(), cfg(epochs=1, limit_steps=60, loss="mse", lr=0.05), sample)
    fin = t.run()
    assert isinstance(fin, FinishedEvent) and fin.test_loss < 0.1  # 1/K-scaled squared error on one-hot
    assert t.history["step_loss"][-1] < t.history["step_loss"][0]


def test_output_that_does_not_fit_the_classes(sample):
    g = lenet()
    g.remove_node("fc3")
    with pytest.raises(TrainError) as e:
        Trainer(g, cfg(), sample)
    msg = str(e.value)
    assert "N×84" in msg and "10 classes" in msg and "out_features 10" in msg and e.value.node == "relu4"


def test_invalid_graph_is_a_user_error(sample):
    g = lenet()
    g.remove_node("conv2")
    with pytest.raises(UserError):
        Trainer(g, cfg(), sample)


def test_tutorial_lenet_needs_fit_and_then_trains(sample):
    g = load_preset("lenet-tutorial").graph
    with pytest.raises(TrainError) as e:
        Trainer(g, cfg(), sample)
    assert "1×32×32" in str(e.value) and "1×28×28" in str(e.value) and "pad" in str(e.value)
    assert e.value.node == "input"
    t = Trainer(g, cfg(epochs=2, fit_input="pad"), sample)
    fin = t.run()
    assert isinstance(fin, FinishedEvent) and fin.test_accuracy >= 0.85
    t2 = Trainer(g, cfg(epochs=1, limit_steps=10, fit_input="resize"), sample)
    assert isinstance(t2.run(), FinishedEvent)
    probs = t.predict(sample.test_x[:5])
    assert probs.shape == (5, 10) and torch.allclose(probs.sum(1), torch.ones(5))
    assert probs.argmax(1).tolist() == t.predict(sample.test_x[:5].float() / 255).argmax(1).tolist()


# ---------------------------------------------------------------- NaN handling


def test_exploding_learning_rate_fails_cleanly(sample):
    # a linear model under MSE with lr 100 overshoots by a factor of ~10⁴ per step: certain overflow
    t = Trainer(linear_net(), cfg(epochs=1, lr=100.0, schedule="none", loss="mse", momentum=0.0), sample)
    evs = events_of(t)
    fail = evs[-1]
    assert isinstance(fail, FailedEvent), fail
    assert "non-finite" in fail.message and "learning rate (now 100)" in fail.message
    assert fail.node == "fc" and fail.details["step"] < 20
    assert not any(isinstance(e, EpochEvent) for e in evs)
    assert len(t.history["step_loss"]) == fail.details["step"] - 1  # the bad step was not applied
    assert all(torch.isfinite(p).all() for p in t.model.parameters())


def test_first_non_finite_layer_is_named(sample):
    t = Trainer(lenet(), cfg(epochs=1, limit_steps=5), sample)
    with torch.no_grad():
        t.model.fc1.weight[3, 7] = float("inf")
    fail = t.run()
    assert isinstance(fail, FailedEvent) and fail.node == "fc1"
    assert "fc1.weight" in fail.message and fail.details["step"] == 1
    # finite weights whose product overflows: fc2's output is the first to become infinite
    t = Trainer(lenet(), cfg(epochs=1, limit_steps=5), sample)
    with torch.no_grad():
        t.model.fc2.weight.fill_(3e38)
    fail = t.run()
    assert isinstance(fail, FailedEvent) and fail.node == "fc2", fail.message
    assert "output of layer 'fc2'" in fail.message


# ---------------------------------------------------------------- stop / pause / resume from a thread


def test_stop_pause_resume_from_another_thread(sample):
    t = Trainer(lenet(), cfg(epochs=3), sample)
    seen: list = []
    reached = threading.Event()
    release = threading.Event()

    def consume():
        for ev in t:
            seen.append(ev)
            if isinstance(ev, StepEvent) and ev.global_step == 5:
                reached.set()
                release.wait(10)

    worker = threading.Thread(target=consume)
    worker.start()
    assert reached.wait(30)
    t.pause()
    assert t.paused
    release.set()
    # paused before step 6: the run holds, whatever the wait
    for _ in range(3):
        worker.join(0.1)
        assert worker.is_alive() and t.global_step == 5
    t.resume()
    assert not t.paused
    while t.global_step < 12:
        worker.join(0.01)
    t.stop()
    worker.join(30)
    assert not worker.is_alive()
    assert isinstance(seen[-1], StoppedEvent)
    assert 12 <= seen[-1].global_step < 3 * 94 and seen[-1].epoch == t.epoch


def test_stop_while_paused(sample):
    t = Trainer(lenet(), cfg(epochs=1), sample)
    it = iter(t)
    while not isinstance(next(it), StepEvent):
        pass
    t.pause()
    threading.Timer(0.2, t.stop).start()
    assert isinstance(next(it), StoppedEvent)


# ---------------------------------------------------------------- checkpoints


def _equal_runs(a: Trainer, b: Trainer) -> None:
    sa, sb = a.model.state_dict(), b.model.state_dict()
    assert sa.keys() == sb.keys()
    for k in sa:
        assert torch.equal(sa[k], sb[k]), k
    for key in ("step_loss", "lr", "train_loss", "train_accuracy", "test_loss", "test_accuracy"):
        assert a.history[key] == b.history[key], key
    assert a.global_step == b.global_step and a.epoch == b.epoch


@pytest.mark.parametrize("stop_at", ["epoch", "mid-epoch"])
def test_resume_equals_one_run(sample, tmp_path, stop_at):
    ds = sample.subset(1280, 300)
    config = cfg(epochs=2, limit_steps=15)  # defaults: SGD with momentum and a cosine schedule
    whole = Trainer(lenet(), config, ds)
    assert isinstance(whole.run(), FinishedEvent)

    first = Trainer(lenet(), config, ds)
    for ev in first:
        if (stop_at == "epoch" and isinstance(ev, EpochEvent)) or (
                stop_at == "mid-epoch" and isinstance(ev, StepEvent) and ev.global_step == 22):
            first.stop()
    assert isinstance(ev, StoppedEvent)
    ckpt = tmp_path / "run.ckpt"
    first.save_checkpoint(str(ckpt))
    torch.manual_seed(12345)  # disturb the global RNG: the checkpoint must restore it
    resumed = Trainer.from_checkpoint(str(ckpt), ds)
    assert resumed.epoch == first.epoch and resumed.global_step == first.global_step
    assert isinstance(resumed.run(), FinishedEvent)
    _equal_runs(whole, resumed)


def test_resume_with_more_epochs(sample, tmp_path):
    """The literal recipe: 1 epoch, save, resume with epochs=2, 1 more epoch == 2 epochs in one go
    (with a schedule that does not depend on the number of epochs)."""
    ds = sample.subset(1280, 300)
    whole = Trainer(lenet(), cfg(epochs=2, limit_steps=12, schedule="none"), ds)
    whole.run()
    one = Trainer(lenet(), cfg(epochs=1, limit_steps=12, schedule="none"), ds)
    one.run()
    one.save_checkpoint(str(tmp_path / "c.ckpt"))
    more = Trainer.from_checkpoint(str(tmp_path / "c.ckpt"), ds, cfg(epochs=2, limit_steps=12, schedule="none"))
    more.run()
    _equal_runs(whole, more)


def test_checkpoint_contents(sample, tmp_path):
    t = Trainer(lenet(), cfg(epochs=1, limit_steps=3, optimizer="adam", lr=0.001), sample)
    t.run()
    t.save_checkpoint(str(tmp_path / "c.ckpt"))
    ck = load_checkpoint(tmp_path / "c.ckpt")
    assert [n.id for n in ck.graph.nodes] == [n.id for n in lenet().nodes]
    assert ck.config["optimizer"] == "adam" and ck.epoch == 1 and ck.global_step == 3
    assert isinstance(ck.rng["torch"], torch.Tensor) and ck.optimizer_state["state"]
    assert ck.history["test_accuracy"] == t.history["test_accuracy"]


class _Evil:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
@pytest.mark.parametrize("how", ["torch.save", "pickle2", "pickle4"])
def test_malicious_checkpoint_is_refused(tmp_path, how):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.ckpt"
    payload = {"format": "netbuilder-checkpoint", "version": 1, "state_dict": {"x": _Evil(marker)}}
    if how == "torch.save":
        torch.save(payload, path)
    else:
        with path.open("wb") as f:
            pickle.dump(payload, f, protocol=int(how[-1]))
    # torch's safe unpickler does not even read protocol-4 frames; either way nothing runs
    with pytest.raises(CheckpointError, match="refused to load" if how != "pickle4" else "not a readable") as e:
        load_checkpoint(path)
    assert isinstance(e.value, UserError) and str(path) in str(e.value)
    with pytest.raises(CheckpointError):
        Trainer.from_checkpoint(str(path))
    assert not marker.exists()


def test_corrupt_and_foreign_checkpoints(tmp_path):
    (tmp_path / "junk.ckpt").write_bytes(os.urandom(3000))
    with pytest.raises(CheckpointError, match="not a readable checkpoint"):
        load_checkpoint(tmp_path / "junk.ckpt")
    torch.save({"weights": torch.zeros(3)}, tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match="not a NetBuilder checkpoint"):
        load_checkpoint(tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match="no such"):
        load_checkpoint(tmp_path / "missing.ckpt")


def test_stop_before_start_then_continue_in_process(sample):
    ds = sample.subset(640, 200)
    t = Trainer(lenet(), cfg(epochs=1), ds)
    t.stop()  # e.g. the user pressed Stop before the worker thread got going
    first = events_of(t)
    assert isinstance(first[-1], StoppedEvent) and t.global_step == 0
    rest = events_of(t)  # iterating again continues the same run
    assert isinstance(rest[-1], FinishedEvent) and t.global_step == 10


def test_fast_batch_path_matches_prepare_images(sample):
    from netbuilder.core.train.data import prepare_images

    t = Trainer(lenet(), cfg(), sample)
    fast = t._batch(sample.train_x[:300])
    assert fast.is_contiguous(memory_format=torch.channels_last)
    assert torch.allclose(fast, prepare_images(sample.train_x[:300], sample, (1, 28, 28), "none"), atol=1e-5)


# ---------------------------------------------------------------- reviewed bugs: resume, pause+save, stop, tampering


def test_resume_with_another_optimizer_or_new_settings(sample, tmp_path):
    ds = sample.subset(640, 200)
    path = str(tmp_path / "sgd.ckpt")
    t = Trainer(lenet(), cfg(epochs=1, limit_steps=3), ds)  # SGD with momentum 0.9
    t.run()
    t.save_checkpoint(path)
    adam = Trainer.from_checkpoint(path, ds, cfg(epochs=2, limit_steps=3, optimizer="adam", lr=0.001))
    assert isinstance(adam.optimizer, torch.optim.Adam)
    evs = events_of(adam)
    assert any(isinstance(e, WarningEvent) and "sgd" in e.message and "adam" in e.message for e in evs)
    assert isinstance(evs[-1], FinishedEvent) and adam.global_step == 6
    # the same optimizer keeps its state, but this run's settings win over the stored ones
    sgd = Trainer.from_checkpoint(path, ds, cfg(epochs=2, limit_steps=3, momentum=0.5, weight_decay=0.01,
                                                nesterov=True))
    assert not sgd.warnings and sgd.optimizer.state  # momentum buffers restored
    for g in sgd.optimizer.param_groups:
        assert g["momentum"] == 0.5 and g["weight_decay"] == 0.01 and g["nesterov"] is True
    assert isinstance(sgd.run(), FinishedEvent)


def _tamper(src: Path, dst: Path, change) -> str:
    obj = torch.load(src, weights_only=True)
    change(obj)
    torch.save(obj, dst)
    return str(dst)


def test_unfit_optimizer_state_starts_afresh(sample, tmp_path):
    ds = sample.subset(640, 200)
    t = Trainer(lenet(), cfg(epochs=1, limit_steps=2), ds)
    t.run()
    t.save_checkpoint(str(tmp_path / "c.ckpt"))
    path = _tamper(tmp_path / "c.ckpt", tmp_path / "bad.ckpt",
                   lambda o: o.update(optimizer={"state": {}, "param_groups": 5}))  # TypeError inside torch
    r = Trainer.from_checkpoint(path, ds, cfg(epochs=2, limit_steps=2))
    assert any("starts afresh" in w.message for w in r.warnings)
    assert isinstance(r.optimizer, torch.optim.SGD) and r.optimizer.param_groups[0]["momentum"] == 0.9
    assert isinstance(r.run(), FinishedEvent)


@pytest.mark.parametrize("damage, match", [
    (lambda o: o["rng"].update(torch=torch.zeros(10, dtype=torch.uint8)), "random-generator"),
    (lambda o: o["rng"].update(torch=torch.zeros(5056)), "random-generator"),
    (lambda o: o["rng"].update(torch=[1, 2]), "random-generator"),
    (lambda o: o["history"].update(test_accuracy=["high"]), "history"),
    (lambda o: o.update(history={"step_loss": 3}), "history"),
    (lambda o: o["progress"].update(step_in_epoch="abc"), "progress counters"),
    (lambda o: o["progress"].update(step_in_epoch=2.5), "step within the epoch"),
    (lambda o: o["progress"].update(loss_sum="many"), "progress"),
    (lambda o: o.update(global_step=-4), "counters"),
])
def test_tampered_checkpoint_is_a_clean_error(sample, tmp_path, damage, match):
    ds = sample.subset(640, 200)
    t = Trainer(lenet(), cfg(epochs=1, limit_steps=2), ds)
    t.run()
    t.save_checkpoint(str(tmp_path / "c.ckpt"))
    path = _tamper(tmp_path / "c.ckpt", tmp_path / "bad.ckpt", damage)
    with pytest.raises(CheckpointError, match=match) as e:
        Trainer.from_checkpoint(path, ds)
    assert path in str(e.value)


def test_save_right_after_pause_holds_one_consistent_step(sample, tmp_path):
    """Pause returns at once, while the current step may still run; a save made then (the GUI allows it)
    must wait for that step, so weights, optimizer state and counters belong together."""
    ds = sample.subset(1280, 300)
    config = cfg(epochs=1, limit_steps=12)
    whole = Trainer(lenet(), config, ds)
    whole.run()

    t = Trainer(lenet(), config, ds)
    weights_after: dict[int, dict[str, torch.Tensor]] = {}
    in_step4 = threading.Event()
    original = t.optimizer.step

    def slow_step(*args, **kwargs):
        result = original(*args, **kwargs)
        n = len(weights_after) + 1
        weights_after[n] = {k: v.detach().clone() for k, v in t.model.state_dict().items()}
        if n == 4:
            in_step4.set()
            time.sleep(0.3)  # widen the window: step 4's bookkeeping is still to come
        return result

    t.optimizer.step = slow_step
    worker = threading.Thread(target=lambda: list(t))
    worker.start()
    assert in_step4.wait(30)
    t.pause()
    path = tmp_path / "paused.ckpt"
    t.save_checkpoint(str(path))
    t.stop()
    worker.join(30)
    assert not worker.is_alive()
    ck = load_checkpoint(path)
    assert ck.global_step == len(ck.history["step_loss"]) == ck.progress["step_in_epoch"]
    for k, v in weights_after[ck.global_step].items():
        assert torch.equal(ck.state_dict[k], v), k
    resumed = Trainer.from_checkpoint(str(path), ds)
    assert isinstance(resumed.run(), FinishedEvent)
    _equal_runs(whole, resumed)  # train accuracy included: the epoch's correct count was saved too


def test_save_between_last_step_and_evaluation_resumes_exactly(sample, tmp_path):
    ds = sample.subset(1280, 300)
    config = cfg(epochs=2, limit_steps=8)
    whole = Trainer(lenet(), config, ds)
    whole.run()
    t = Trainer(lenet(), config, ds)
    path = str(tmp_path / "c.ckpt")
    for ev in t:
        if isinstance(ev, StepEvent) and ev.global_step == 8:  # last step of epoch 1, not yet evaluated
            t.save_checkpoint(path)
            t.stop()
    resumed = Trainer.from_checkpoint(path, ds)
    assert resumed.epoch == 0 and resumed.global_step == 8
    assert isinstance(resumed.run(), FinishedEvent)
    _equal_runs(whole, resumed)


def test_stop_during_the_last_step_does_not_outlive_the_run(sample):
    t = Trainer(lenet(), cfg(epochs=1, limit_steps=3), sample.subset(640, 200))
    evs = []
    for ev in t:
        evs.append(ev)
        if isinstance(ev, StepEvent) and ev.step == 3:
            t.stop()  # too late: the evaluation and the finish follow anyway
    assert isinstance(evs[-1], FinishedEvent)
    t.config.epochs = 2  # the GUI's Continue
    rest = events_of(t)
    assert isinstance(rest[-1], FinishedEvent) and t.epoch == 2 and t.global_step == 6


def test_mid_epoch_resume_needs_the_same_batch_size(sample, tmp_path):
    ds = sample.subset(1280, 300)
    t = Trainer(lenet(), cfg(epochs=1, limit_steps=10), ds)
    for ev in t:
        if isinstance(ev, StepEvent) and ev.global_step == 6:
            t.stop()
    path = str(tmp_path / "c.ckpt")
    t.save_checkpoint(path)
    with pytest.raises(TrainError, match="batch size 64") as e:
        Trainer.from_checkpoint(path, ds, cfg(epochs=1, limit_steps=10, batch_size=32))
    assert e.value.field == "batch_size"
    with pytest.raises(TrainError, match="limit_steps to at least 6") as e:
        Trainer.from_checkpoint(path, ds, cfg(epochs=1, limit_steps=4))
    assert e.value.field == "limit_steps"
    more = Trainer.from_checkpoint(path, ds, cfg(epochs=1, limit_steps=12))  # the epoch goes on at step 7
    assert isinstance(more.run(), FinishedEvent) and more.global_step == 12
    # at an epoch's end any batch size will do
    t2 = Trainer(lenet(), cfg(epochs=1, limit_steps=3), ds)
    t2.run()
    t2.save_checkpoint(path)
    other = Trainer.from_checkpoint(path, ds, cfg(epochs=2, limit_steps=3, batch_size=32))
    assert isinstance(other.run(), FinishedEvent) and other.global_step == 6


def test_largest_seed_trains_and_small_seeds_keep_their_shuffle(sample):
    ds = sample.subset(640, 200)
    big = Trainer(lenet(), cfg(epochs=1, limit_steps=2, seed=2**63 - 1), ds)
    assert isinstance(big.run(), FinishedEvent)
    small = Trainer(lenet(), cfg(seed=7), ds)
    expected = torch.randperm(640, generator=torch.Generator().manual_seed(7 * 1_000_003 + 3))
    assert torch.equal(small._perm(3), expected)


def test_threads_apply_to_the_run_only(sample):
    ds = sample.subset(640, 200)
    torch.set_num_threads(1)
    t = Trainer(lenet(), cfg(epochs=1, limit_steps=2, threads=2), ds)
    assert torch.get_num_threads() == 1
    during = [torch.get_num_threads() for ev in t if isinstance(ev, StepEvent)]
    assert during == [2, 2] and torch.get_num_threads() == 1
    stopped = Trainer(lenet(), cfg(epochs=1, limit_steps=2, threads=2), ds)
    stopped.stop()
    assert isinstance(events_of(stopped)[-1], StoppedEvent) and torch.get_num_threads() == 1


def test_a_schedule_pinned_to_its_run_carries_on_instead_of_stretching() -> None:
    """Continue for more epochs (schedule_epochs = the first run's): the rate goes on from where it
    ended; an unpinned longer run would stretch the cosine and jump back up."""
    from netbuilder.core.train.optim import lr_at

    first = TrainConfig(epochs=5, schedule="cosine", lr=0.1)
    end = lr_at(first, 5 * 10 - 1, 10)
    pinned = TrainConfig(epochs=10, schedule="cosine", lr=0.1, schedule_epochs=5)
    stretched = TrainConfig(epochs=10, schedule="cosine", lr=0.1)
    assert lr_at(pinned, 5 * 10, 10) <= end + 1e-12 and lr_at(pinned, 99, 10) == 0.0  # stays at its end
    assert lr_at(stretched, 5 * 10, 10) > 10 * max(end, 1e-6)
    step = TrainConfig(epochs=9, schedule="step", lr=0.1, gamma=0.5, schedule_epochs=6)  # steps every 2 epochs
    assert [round(lr_at(step, e * 10, 10), 6) for e in (0, 2, 4, 6, 8)] == [0.1, 0.05, 0.025, 0.0125, 0.00625]


def test_a_network_that_outputs_an_image_sized_map_is_refused_as_such() -> None:
    from netbuilder.core.model.project import load_preset
    from netbuilder.core.train.data import load_dataset

    unet = load_preset("unet-small")
    with pytest.raises(TrainError, match=r"a map the size of the images .*trains classifiers"):
        Trainer(unet.graph, TrainConfig(dataset="sample", epochs=1, limit_steps=1), load_dataset("sample"))
