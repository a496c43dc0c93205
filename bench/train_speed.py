"""Training speed, side by side in one run: this engine vs the textbook torchvision loop vs a
hand-written in-memory loop, plus the cost of gradient statistics and the effect of channels_last.

All loops train the LeNet-5 preset (same initial weights) on MNIST with batch 64 and SGD lr 0.01,
momentum 0.9, and time training steps only (no evaluation). Variants run in interleaved rounds and
each reports its best round, because other processes on a shared machine make single timings noisy;
the ratios within one run are what counts.

    python bench/train_speed.py [--data-dir DIR] [--limit-steps 300] [--rounds 3] [--threads 2]

``--limit-steps`` times that many steps per round and extrapolates to a full epoch (938 steps);
``--limit-steps 0`` runs whole epochs.
"""

from __future__ import annotations

import argparse
import gzip
import math
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from core.compiler import build_model  # noqa: E402
from core.data import IDX_FILES, Dataset, load_dataset  # noqa: E402
from core.project import load_preset  # noqa: E402
from core.train_events import EpochEvent, StepEvent  # noqa: E402
from core.trainer import TrainConfig, Trainer  # noqa: E402

BATCH, LR, MOMENTUM = 64, 0.01, 0.9


def lenet() -> torch.nn.Module:
    torch.manual_seed(0)
    return build_model(load_preset("lenet5-mnist").graph)[0]


def engine_loop(ds: Dataset, steps: int, **options: object) -> float:
    """Seconds for ``steps`` training steps through :class:`Trainer` (evaluation excluded)."""
    config = TrainConfig(dataset="mnist", epochs=1, batch_size=BATCH, lr=LR, momentum=MOMENTUM, schedule="none",
                         device="cpu", limit_steps=steps, **options)  # type: ignore[arg-type]
    trainer = Trainer(load_preset("lenet5-mnist").graph, config, ds)
    start = time.perf_counter()
    end = start
    for ev in trainer:
        if isinstance(ev, StepEvent) and ev.step == ev.steps_per_epoch:
            end = time.perf_counter()
        if isinstance(ev, EpochEvent):
            break
    return end - start


def handwritten_loop(x: torch.Tensor, y: torch.Tensor, steps: int) -> float:
    """The loop an expert writes by hand: the whole set normalised once in memory (float32, not timed, like
    the engine's loading), randperm batches."""
    model = lenet()
    opt = torch.optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM)
    start = time.perf_counter()
    perm = torch.randperm(len(y), generator=torch.Generator().manual_seed(0))
    for s in range(steps):
        idx = perm[s * BATCH:(s + 1) * BATCH]
        loss = F.cross_entropy(model(x[idx]), y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    return time.perf_counter() - start


def textbook_loop(root: Path, steps: int) -> float:
    """The tutorial loop: torchvision MNIST + ToTensor + Normalize through a DataLoader."""
    import torchvision
    from torchvision import transforms

    tf = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.1307,), (0.3081,))])
    train = torchvision.datasets.MNIST(str(root), train=True, download=False, transform=tf)
    loader = torch.utils.data.DataLoader(train, batch_size=BATCH, shuffle=True)
    model = lenet()
    opt = torch.optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM)
    start = time.perf_counter()
    for s, (xb, yb) in enumerate(loader):
        if s == steps:
            break
        loss = F.cross_entropy(model(xb), yb)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return time.perf_counter() - start


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=str(ROOT.parent / "shared" / "datasets" / "mnist"))
    parser.add_argument("--limit-steps", type=int, default=300, help="steps per round (0 = a whole epoch)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    ds = load_dataset("mnist", args.data_dir)
    full = math.ceil(len(ds.train_y) / BATCH)
    steps = min(args.limit_steps or full, full)
    x_float = (ds.train_x.float() / 255 - ds.mean[0]) / ds.std[0]
    with tempfile.TemporaryDirectory(prefix="nb-bench-") as tmp:
        root = torchvision_root(Path(args.data_dir), Path(tmp))
        variants: dict[str, Callable[[], float]] = {
            "engine (stats on, channels_last)": lambda: engine_loop(ds, steps),
            "engine, grad stats off": lambda: engine_loop(ds, steps, stats_every=0, histogram_every=0),
            "engine, channels_last off": lambda: engine_loop(ds, steps, channels_last=False),
            "hand-written in-memory": lambda: handwritten_loop(x_float, ds.train_y, steps),
            "textbook DataLoader": lambda: textbook_loop(root, steps),
        }
        best = {name: math.inf for name in variants}
        for r in range(args.rounds):
            for name, fn in variants.items():
                seconds = fn()
                best[name] = min(best[name], seconds)
                print(f"round {r + 1}: {name:34s} {seconds * full / steps:6.2f} s/epoch", file=sys.stderr, flush=True)
    per_epoch = {name: s * full / steps for name, s in best.items()}
    eng = per_epoch["engine (stats on, channels_last)"]
    print(f"\nLeNet-5, MNIST, batch {BATCH}, SGD {LR} momentum {MOMENTUM}, {torch.get_num_threads()} threads, "
          f"{steps} of {full} steps per round, best of {args.rounds} rounds, extrapolated to one epoch")
    print(f"{'loop':36s} {'s/epoch':>8s} {'vs engine':>10s}")
    for name, sec in per_epoch.items():
        print(f"{name:36s} {sec:8.2f} {sec / eng:9.2f}×")
    print(f"\nengine speed-up over textbook: {per_epoch['textbook DataLoader'] / eng:.2f}×")
    print(f"engine vs hand-written: {per_epoch['hand-written in-memory'] / eng:.2f}× (>1 means the engine is faster)")
    print(f"grad-stats overhead: {100 * (eng / per_epoch['engine, grad stats off'] - 1):+.1f}%")
    print(f"channels_last gain: {100 * (per_epoch['engine, channels_last off'] / eng - 1):+.1f}% "
          f"(>0 means channels_last is faster)")


if __name__ == "__main__":
    main()
