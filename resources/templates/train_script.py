"""NetBuilder's training-script template: a complete, runnable training program for one model.

NetBuilder's script export (netbuilder/core/interop/script_export.py) fills it in: this docstring becomes
the model's and the usage; the settings below become the project's training settings and the dataset
statistics the app computed; the import of ``netbuilder.core.train.formats`` is replaced by that module's
source, so the script and the app read the datasets and fit the images with the same code; and the
stand-in model class ``Net`` is replaced by the generated class. As it stands it trains ``Net`` (a single
Linear layer), which is how its tests run it.
"""

import argparse
import math
import os
import sys
import time
from collections.abc import Sequence

import torch
import torch.distributed as dist
import torch.nn as nn
import torch.nn.functional as F
from netbuilder.core.train.formats import (  # @formats: the exporter puts the module's source here
    CIFAR_DIR,
    CIFAR_TEST,
    CIFAR_TRAIN,
    IDX_FILES,
    FormatError,
    prepare,
    read_cifar_batch,
    read_idx,
)
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data.distributed import DistributedSampler

# --- settings: the defaults of the command-line options ---------------------------------------------
# @settings-begin
DATASET = "mnist"
EPOCHS = 5
BATCH_SIZE = 64
TEST_BATCH_SIZE = 1000
OPTIMIZER = "sgd"
LR = 0.05
MOMENTUM = 0.9
WEIGHT_DECAY = 0.0
NESTEROV = False
LOSS = "cross-entropy"
SCHEDULE = "cosine"
STEP_SIZE: int | None = None
GAMMA = 0.1
FIT_INPUT = "auto"
SEED = 0
OPTIMIZERS = ("sgd", "adam", "adamw", "rmsprop")
LOSSES = ("cross-entropy", "nll", "mse")
SCHEDULES = ("none", "step", "cosine")
FIT_INPUTS = ("auto", "pad", "resize")
# Per-channel mean and standard deviation of each dataset's training images (0..1 scale).
STATS: dict[str, tuple[tuple[float, ...], tuple[float, ...]]] = {
    "mnist": ((0.1307,), (0.3081,)),
    "fashion-mnist": ((0.286,), (0.353,)),
    "cifar10": ((0.4914, 0.4822, 0.4465), (0.247, 0.2435, 0.2616)),
}
# @settings-end

Data = tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]
"""(train_x, train_y, test_x, test_y): uint8 N×C×H×W images and int64 labels."""

# @model-begin


class Net(nn.Module):
    """Stands in for the generated model, so that the template runs (and is tested) on its own."""

    input_shape = (1, 28, 28)

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(784, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.fc(torch.flatten(x, 1))
        return out


# @model-end
MODEL = Net


# --- data -------------------------------------------------------------------------------------------

def _idx_folder(name: str, root: str) -> str | None:
    """The folder under root that holds the four IDX files (.gz or not), or None."""
    sub = {"mnist": "MNIST", "fashion-mnist": "FashionMNIST"}[name]
    for folder in (root, os.path.join(root, sub, "raw"), os.path.join(root, name)):
        if all(os.path.exists(os.path.join(folder, f)) or os.path.exists(os.path.join(folder, f + ".gz"))
               for f in IDX_FILES):
            return folder
    return None


def _load_idx(folder: str) -> Data:
    out = []
    for stem in IDX_FILES:
        path = os.path.join(folder, stem)
        out.append(read_idx(path if os.path.exists(path) else path + ".gz"))
    train_x, train_y, test_x, test_y = out
    return train_x.unsqueeze(1), train_y.long(), test_x.unsqueeze(1), test_y.long()


def _load_cifar(folder: str) -> Data:
    parts = [read_cifar_batch(os.path.join(folder, f)) for f in CIFAR_TRAIN]
    test_x, test_y = read_cifar_batch(os.path.join(folder, CIFAR_TEST))
    return torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts]), test_x, test_y


def _cifar_folder(root: str) -> str | None:
    for folder in (os.path.join(root, CIFAR_DIR), root):
        if all(os.path.exists(os.path.join(folder, f)) for f in (*CIFAR_TRAIN, CIFAR_TEST)):
            return folder
    return None


def _find(name: str, root: str) -> str | None:
    return _cifar_folder(root) if name == "cifar10" else _idx_folder(name, root)


def load_data(name: str, data_dir: str, download: bool, rank: int = 0, world_size: int = 1) -> Data:
    """The dataset ``name`` from ``data_dir`` (or NetBuilder's download folder), in memory; downloaded into
    ``data_dir`` with torchvision when missing and ``download`` is true."""
    roots = [data_dir, os.path.join(os.path.expanduser("~"), ".cache", "netbuilder", name)]
    folder = next((f for f in (_find(name, r) for r in roots) if f), None)
    if folder is None and download:
        if rank == 0:  # one process downloads; the others wait for it
            from torchvision import datasets  # only needed to download

            cls = {"mnist": datasets.MNIST, "fashion-mnist": datasets.FashionMNIST, "cifar10": datasets.CIFAR10}[name]
            for train in (True, False):
                cls(data_dir, train=train, download=True)
        if world_size > 1:
            dist.barrier()
        folder = _find(name, data_dir)
    if folder is None:
        sys.exit(f"error: {name} not found in {data_dir!r} (looked for the IDX files, MNIST/raw, "
                 f"FashionMNIST/raw or cifar-10-batches-py); give --data-dir, or drop --no-download to "
                 f"download it with torchvision")
    try:
        return _load_cifar(folder) if name == "cifar10" else _load_idx(folder)
    except FormatError as e:
        sys.exit(f"error: {e}")


# --- training ---------------------------------------------------------------------------------------

def loss_fn(name: str, output: torch.Tensor, target: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """The loss ``name``: cross-entropy on logits, NLL on log-probabilities, or squared error against
    one-hot targets."""
    if name == "nll":  # for a network that ends in LogSoftmax
        return F.nll_loss(output, target, reduction=reduction)
    if name == "mse":
        return F.mse_loss(output, F.one_hot(target, output.shape[1]).to(output.dtype), reduction=reduction)
    return F.cross_entropy(output, target, reduction=reduction)


def lr_at(args: argparse.Namespace, step: int, steps_per_epoch: int) -> float:
    """The learning rate of optimisation step ``step`` (0-based), as the app schedules it."""
    lr: float = args.lr
    if args.schedule == "cosine":
        total = max(1, steps_per_epoch * args.epochs)
        return lr * 0.5 * (1.0 + math.cos(math.pi * min(step, total) / total))
    if args.schedule == "step":
        size: int = args.step_size or max(1, args.epochs // 3)
        return lr * float(args.gamma) ** ((step // steps_per_epoch) // size)
    return lr


def _inputs(args: argparse.Namespace, images: torch.Tensor, stats: Sequence[Sequence[float]]) -> torch.Tensor:
    try:
        return prepare(images, MODEL.input_shape, stats[0], stats[1], args.fit_input)
    except FormatError as e:
        sys.exit(f"error: {e}")


def train(args: argparse.Namespace, model: nn.Module, device: torch.device, data: Data,
          optimizer: torch.optim.Optimizer, sampler: DistributedSampler[int], epoch: int, rank: int,
          stats: Sequence[Sequence[float]]) -> int:
    """One epoch over this process's shard in shuffled batches. Returns the steps taken."""
    model.train()
    train_x, train_y = data[0], data[1]
    sampler.set_epoch(epoch)  # a different shuffle each epoch, the same on every process
    order = torch.tensor(list(sampler), dtype=torch.long)
    steps = 0
    n_batches = math.ceil(len(order) / args.batch_size)
    for batch_idx in range(n_batches):
        for group in optimizer.param_groups:
            group["lr"] = lr_at(args, (epoch - 1) * n_batches + batch_idx, n_batches)
        idx = order[batch_idx * args.batch_size:(batch_idx + 1) * args.batch_size].to(train_x.device)
        x = _inputs(args, train_x[idx], stats).to(device, non_blocking=True)
        y = train_y[idx].to(device, non_blocking=True)
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn(args.loss, model(x), y)
        loss.backward()  # type: ignore[no-untyped-call]
        optimizer.step()
        steps += 1
        stop = args.dry_run or (args.max_steps and steps >= args.max_steps)
        if rank == 0 and (batch_idx % args.log_interval == 0 or batch_idx == n_batches - 1 or stop):
            done = min((batch_idx + 1) * args.batch_size, len(order))
            print(f"Train Epoch: {epoch} [{done}/{len(order)} ({100.0 * done / len(order):.0f}%)]"
                  f"\tLoss: {loss.item():.6f}", flush=True)
        if stop:
            break
    return steps


@torch.no_grad()
def test(args: argparse.Namespace, model: nn.Module, device: torch.device, data: Data, rank: int,
         world_size: int, stats: Sequence[Sequence[float]]) -> tuple[float, float]:
    """Loss and accuracy on the test set; each process scores a share and the sums are combined."""
    model.eval()
    test_x, test_y = data[2], data[3]
    idx_all = torch.arange(rank, len(test_x), world_size, device=test_x.device)
    sums = torch.zeros(3, dtype=torch.float64, device=device)  # loss, correct, count
    for start in range(0, len(idx_all), args.test_batch_size):
        idx = idx_all[start:start + args.test_batch_size]
        x = _inputs(args, test_x[idx], stats).to(device)
        y = test_y[idx].to(device)
        out = model(x)
        sums[0] += loss_fn(args.loss, out, y, reduction="sum").double()
        sums[1] += (out.argmax(dim=1) == y).sum().double()
        sums[2] += len(idx)
    if world_size > 1:
        dist.all_reduce(sums)
    loss_sum, correct, count = (float(v) for v in sums.tolist())
    loss = loss_sum / max(count, 1)
    if rank == 0:
        print(f"\nTest set: Average loss: {loss:.4f}, Accuracy: {int(correct)}/{int(count)} "
              f"({100.0 * correct / max(count, 1):.2f}%)\n", flush=True)
    return loss, correct / max(count, 1)


def make_optimizer(args: argparse.Namespace, params: Sequence[nn.Parameter]) -> torch.optim.Optimizer:
    """The optimizer ``args.optimizer`` with the script's settings, as the app builds it."""
    if args.optimizer == "adam":
        return torch.optim.Adam(params, lr=args.lr, weight_decay=args.weight_decay)
    if args.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=args.lr, weight_decay=args.weight_decay)
    if args.optimizer == "rmsprop":
        return torch.optim.RMSprop(params, lr=args.lr, momentum=args.momentum, weight_decay=args.weight_decay)
    return torch.optim.SGD(params, lr=args.lr, momentum=args.momentum, weight_decay=args.weight_decay,
                           nesterov=args.nesterov)


def pick_device(args: argparse.Namespace, local_rank: int | None) -> torch.device:
    """--device, or the best there is: a GPU (this process's with torchrun), else mps, else the CPU."""
    if args.device != "auto":
        if args.device == "cuda" and local_rank is not None:
            return torch.device("cuda", local_rank)
        return torch.device(args.device)
    if not args.no_accel and torch.cuda.is_available():
        return torch.device("cuda", local_rank or 0)
    if not args.no_accel and local_rank is None and torch.backends.mps.is_available():
        return torch.device("mps")  # not with torchrun: DDP has no mps backend
    return torch.device("cpu")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The command line; the defaults are the settings at the top of this file."""
    script = os.path.splitext(os.path.basename(__file__))[0]
    p = argparse.ArgumentParser(description=f"Train {MODEL.__name__} (generated by NetBuilder). "
                                "Run it with torchrun --nproc_per_node=N for DistributedDataParallel.")
    p.add_argument("--dataset", choices=tuple(STATS), default=DATASET, help="dataset (default: %(default)s)")
    p.add_argument("--data-dir", default="data", help="folder with the dataset files (default: %(default)s)")
    p.add_argument("--no-download", action="store_true", help="never download; fail if the files are missing")
    p.add_argument("--epochs", type=int, default=EPOCHS, help="epochs to train (default: %(default)s)")
    p.add_argument("--batch-size", type=int, default=BATCH_SIZE, help="batch size per process (default: %(default)s)")
    p.add_argument("--test-batch-size", type=int, default=TEST_BATCH_SIZE,
                   help="evaluation batch (default: %(default)s)")
    p.add_argument("--optimizer", choices=OPTIMIZERS, default=OPTIMIZER, help="optimizer (default: %(default)s)")
    p.add_argument("--lr", type=float, default=LR, help="learning rate (default: %(default)s)")
    p.add_argument("--momentum", type=float, default=MOMENTUM, help="SGD/RMSprop momentum (default: %(default)s)")
    p.add_argument("--weight-decay", type=float, default=WEIGHT_DECAY, help="L2 penalty (default: %(default)s)")
    p.add_argument("--nesterov", action=argparse.BooleanOptionalAction, default=NESTEROV,
                   help="Nesterov momentum for SGD (default: %(default)s)")
    p.add_argument("--loss", choices=LOSSES, default=LOSS, help="loss (default: %(default)s)")
    p.add_argument("--schedule", choices=SCHEDULES, default=SCHEDULE,
                   help="learning-rate schedule, updated every step (default: %(default)s)")
    p.add_argument("--step-size", type=int, default=STEP_SIZE,
                   help="step schedule: epochs between decays (default: a third of the epochs)")
    p.add_argument("--gamma", type=float, default=GAMMA, help="step schedule: decay factor (default: %(default)s)")
    p.add_argument("--fit-input", choices=FIT_INPUTS, default=FIT_INPUT,
                   help="how images are fitted to the model's input size (default: %(default)s)")
    p.add_argument("--seed", type=int, default=SEED, help="random seed (default: %(default)s)")
    p.add_argument("--device", choices=("auto", "cpu", "cuda", "mps"), default="auto",
                   help="device (default: cuda, else mps, else cpu)")
    p.add_argument("--no-accel", action="store_true", help="train on the CPU even if a GPU is available")
    p.add_argument("--dry-run", action="store_true", help="one training batch per epoch, then test (a quick check)")
    p.add_argument("--max-steps", type=int, default=0, help="stop each epoch after this many batches (0 = all)")
    p.add_argument("--log-interval", type=int, default=100, help="batches between log lines (default: %(default)s)")
    p.add_argument("--weights", help="start from this state_dict (.pt) instead of a fresh initialisation")
    p.add_argument("--save-model", nargs="?", const=f"{script}.pt", metavar="PATH",
                   help=f"save the trained state_dict (default path {script}.pt)")
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> float:
    """Train and test as the command line says; returns the last test accuracy (0..1)."""
    args = parse_args(argv)
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    distributed = world_size > 1
    rank = int(os.environ.get("RANK", "0")) if distributed else 0
    local_rank = int(os.environ.get("LOCAL_RANK", "0")) if distributed else None
    device = pick_device(args, local_rank)
    if distributed:
        backend = "nccl" if device.type == "cuda" else "gloo"
        if device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group(backend)
    torch.manual_seed(args.seed)  # the same initial weights on every process

    started = time.perf_counter()
    data = load_data(args.dataset, args.data_dir, not args.no_download, rank, world_size)
    if device.type == "cuda":  # uint8 images fit on the GPU; batches are then gathered there
        data = (data[0].to(device), data[1].to(device), data[2].to(device), data[3].to(device))
    stats = STATS[args.dataset]

    model = MODEL().to(device)
    if args.weights:
        model.load_state_dict(torch.load(args.weights, map_location=device, weights_only=True))
    net: nn.Module = model
    if distributed:
        net = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
    optimizer = make_optimizer(args, list(net.parameters()))
    # Shards the shuffled indices: each process gets its own 1/world_size of every epoch.
    sampler: DistributedSampler[int] = DistributedSampler(range(len(data[0])), num_replicas=world_size,  # type: ignore[arg-type]
                                                          rank=rank, shuffle=True, seed=args.seed)
    if rank == 0:
        n_params = sum(p.numel() for p in model.parameters())
        how = f"{world_size} processes ({'nccl' if device.type == 'cuda' else 'gloo'})" if distributed else "1 process"
        print(f"{MODEL.__name__}: {n_params:,} parameters; {args.dataset} from {args.data_dir}: "
              f"{len(data[0])} training, {len(data[2])} test images; device {device}; {how}, "
              f"{len(sampler)} training samples per process per epoch ({time.perf_counter() - started:.1f} s to load)",
              flush=True)

    accuracy = 0.0
    for epoch in range(1, args.epochs + 1):
        t0 = time.perf_counter()
        train(args, net, device, data, optimizer, sampler, epoch, rank, stats)
        _, accuracy = test(args, model, device, data, rank, world_size, stats)
        if rank == 0:
            print(f"Epoch {epoch} took {time.perf_counter() - t0:.1f} s", flush=True)

    if args.save_model and rank == 0:  # DDP keeps the replicas identical: one copy is enough
        torch.save(model.state_dict(), args.save_model)
        print(f"saved {args.save_model}", flush=True)
    if distributed:
        dist.destroy_process_group()
    return accuracy


if __name__ == "__main__":
    main()
