"""Training speed, side by side in one run: this engine vs the textbook torchvision loop vs a
hand-written in-memory loop, plus the cost of gradient statistics and the effect of channels_last.

All loops train the LeNet-5 preset (same initial weights) on MNIST with batch 64 and SGD lr 0.01,
momentum 0.9. Each loop is kept alive as a generator; the loops take turns running timed bursts of
``--burst`` steps, ``--rounds`` times, and each burst is extrapolated to a full epoch (938 steps).
The best burst of each loop is its speed with the least interference from other processes on a
shared machine; medians are printed too. The ratios within one run are what counts.

    python bench/train_speed.py [--data-dir DIR] [--burst 50] [--rounds 12] [--threads 2]
"""

from __future__ import annotations

import argparse
import gzip
import math
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from netbuilder.core.model.compiler import build_model  # noqa: E402
from netbuilder.core.model.project import load_preset  # noqa: E402
from netbuilder.core.train.data import IDX_FILES, Dataset, load_dataset  # noqa: E402
from netbuilder.core.train.events import StepEvent  # noqa: E402
from netbuilder.core.train.observe import grad_stats, histogram, readback  # noqa: E402
from netbuilder.core.train.trainer import TrainConfig, Trainer  # noqa: E402

BATCH, LR, MOMENTUM = 64, 0.01, 0.9
ENGINE = "engine (stats on, channels_last)"


def lenet() -> torch.nn.Module:
    torch.manual_seed(0)
    return build_model(load_preset("lenet5-mnist").graph)[0]


def engine_steps(ds: Dataset, **options: object) -> Iterator[None]:
    """Training steps through :class:`Trainer` (one ``yield`` per optimisation step)."""
    config = TrainConfig(dataset="mnist", epochs=1000, batch_size=BATCH, lr=LR, momentum=MOMENTUM, schedule="none",
                         device="cpu", **options)  # type: ignore[arg-type]
    trainer = Trainer(load_preset("lenet5-mnist").graph, config, ds)
    for ev in trainer:
        if isinstance(ev, StepEvent):
            yield


def handwritten_steps(x: torch.Tensor, y: torch.Tensor) -> Iterator[None]:
    """The loop an expert writes by hand: the whole set normalised once in memory (float32, made before
    timing starts, like the engine's loading), randperm batches."""
    model = lenet()
    opt = torch.optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM)
    gen = torch.Generator().manual_seed(0)
    while True:
        perm = torch.randperm(len(y), generator=gen)
        for s in range(0, len(y), BATCH):
            idx = perm[s:s + BATCH]
            loss = F.cross_entropy(model(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            yield


def textbook_steps(root: Path) -> Iterator[None]:
    """The tutorial loop: torchvision MNIST + ToTensor + Normalize through a DataLoader (no workers)."""
    import torchvision
    from torchvision import transforms

    tf = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.1307,), (0.3081,))])
    train = torchvision.datasets.MNIST(str(root), train=True, download=False, transform=tf)
    loader = torch.utils.data.DataLoader(train, batch_size=BATCH, shuffle=True)
    model = lenet()
    opt = torch.optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM)
    while True:
        for xb, yb in loader:
            loss = F.cross_entropy(model(xb), yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
            yield


def torchvision_root(data_dir: Path, tmp: Path) -> Path:
    """A temp folder in torchvision's MNIST/raw layout. torchvision reads the unpacked files, so the
    shared .gz files are unpacked there once (the shared folder is read-only)."""
    raw = tmp / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for stem in IDX_FILES:
        src = data_dir / f"{stem}.gz"
        (raw / f"{stem}.gz").symlink_to(src)
        (raw / stem).write_bytes(gzip.decompress(src.read_bytes()))
    return tmp


def stats_cost(ds: Dataset, reps: int = 300) -> dict[str, float]:
    """The gradient-statistics work measured in isolation (µs per step), which is steadier than the
    difference between two noisy loops: the per-step fused norms + readback, the every-20-steps weight
    norms and update ratios, the every-100-steps histogram; and a whole plain step for scale."""
    trainer = Trainer(load_preset("lenet5-mnist").graph,
                      TrainConfig(dataset="mnist", epochs=1, device="cpu", lr=LR, schedule="none"), ds)
    params = [p for _, p in trainer.model.named_parameters()]
    names = [n for n, _ in trainer.model.named_parameters()]
    xb = trainer._batch(ds.train_x[:BATCH])
    yb = ds.train_y[:BATCH]

    def step() -> torch.Tensor:
        loss = F.cross_entropy(trainer.model(xb), yb)
        trainer.optimizer.zero_grad()
        loss.backward()
        trainer.optimizer.step()
        return loss

    def per_call(fn: Callable[[], object], n: int) -> float:
        best = math.inf
        for _ in range(5):
            start = time.perf_counter()
            for _ in range(n):
                fn()
            best = min(best, (time.perf_counter() - start) / n)
        return best * 1e6

    loss = step()
    plain = per_call(lambda: readback(loss, params, False), reps)
    norms = per_call(lambda: readback(loss, params, True), reps)
    gnorms = readback(loss, params, True)[1]
    assert gnorms is not None

    def every20() -> None:
        before = [p.detach().clone() for p in params]
        grad_stats(1, names, names, params, gnorms, before)

    extra20 = per_call(every20, max(1, reps // 10))
    grad = params[0].grad
    assert grad is not None
    hist = per_call(lambda: histogram(1, names[0], grad), max(1, reps // 10))
    step_us = per_call(step, 20)
    total = norms - plain + extra20 / 20 + hist / 100
    return {"step_us": step_us, "per_step_us": norms - plain, "every20_us": extra20, "histogram_us": hist,
            "total_us": total, "percent": 100 * total / step_us}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=str(ROOT.parent / "shared" / "datasets" / "mnist"))
    parser.add_argument("--burst", type=int, default=50, help="steps per timed burst")
    parser.add_argument("--rounds", type=int, default=12, help="bursts per variant, interleaved")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    ds = load_dataset("mnist", args.data_dir)
    full = math.ceil(len(ds.train_y) / BATCH)
    x_float = (ds.train_x.float() / 255 - ds.mean[0]) / ds.std[0]
    with tempfile.TemporaryDirectory(prefix="nb-bench-") as tmp:
        root = torchvision_root(Path(args.data_dir), Path(tmp))
        variants: dict[str, Iterator[None]] = {
            ENGINE: engine_steps(ds),
            "engine, grad stats off": engine_steps(ds, stats_every=0, histogram_every=0),
            "engine, channels_last off": engine_steps(ds, channels_last=False),
            "hand-written in-memory": handwritten_steps(x_float, ds.train_y),
            "textbook DataLoader": textbook_steps(root),
        }
        for it in variants.values():  # warm-up: first steps allocate and pick kernels
            for _ in range(5):
                next(it)
        times: dict[str, list[float]] = {name: [] for name in variants}
        for r in range(args.rounds):
            for name, it in variants.items():
                start = time.perf_counter()
                for _ in range(args.burst):
                    next(it)
                times[name].append(time.perf_counter() - start)
            print(f"round {r + 1}/{args.rounds}: " + ", ".join(
                f"{n.split(',')[0] if n == ENGINE else n}: {t[-1] * full / args.burst:.1f}" for n, t in times.items()),
                file=sys.stderr, flush=True)
    cost = stats_cost(ds)
    best = {name: min(t) * full / args.burst for name, t in times.items()}
    med = {name: statistics.median(t) * full / args.burst for name, t in times.items()}
    eng = best[ENGINE]
    print(f"\nLeNet-5, MNIST, batch {BATCH}, SGD {LR} momentum {MOMENTUM}, {torch.get_num_threads()} thread(s); "
          f"{args.rounds} interleaved bursts of {args.burst} steps per loop, extrapolated to one epoch ({full} steps)")
    print(f"{'loop':34s} {'best s/epoch':>12s} {'median':>8s} {'best vs engine':>15s}")
    for name in times:
        print(f"{name:34s} {best[name]:12.2f} {med[name]:8.2f} {best[name] / eng:14.2f}×")
    tb = "textbook DataLoader"
    print(f"\nengine speed-up over textbook: {best[tb] / eng:.2f}× (median {med[tb] / med[ENGINE]:.2f}×)")
    print(f"hand-written / engine time: {best['hand-written in-memory'] / eng:.2f} (median "
          f"{med['hand-written in-memory'] / med[ENGINE]:.2f}; ≥1 means the engine is at least as fast)")
    print(f"grad-stats overhead: {100 * (eng / best['engine, grad stats off'] - 1):+.1f}% (median "
          f"{100 * (med[ENGINE] / med['engine, grad stats off'] - 1):+.1f}%)")
    print(f"grad-stats cost measured in isolation: {cost['per_step_us']:.0f} µs per step (fused norms + readback) "
          f"+ {cost['every20_us']:.0f} µs every 20 steps (weight norms, update ratios) + {cost['histogram_us']:.0f} µs "
          f"every 100 steps (histogram) = {cost['total_us']:.0f} µs per step on average, {cost['percent']:.1f}% of a "
          f"{cost['step_us'] / 1000:.1f} ms step")
    print(f"channels_last gain: {100 * (best['engine, channels_last off'] / eng - 1):+.1f}% (median "
          f"{100 * (med['engine, channels_last off'] / med[ENGINE] - 1):+.1f}%; >0 means channels_last is faster)")


if __name__ == "__main__":
    main()
