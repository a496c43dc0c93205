"""Standalone training script: the model class plus ``train()``, ``test()`` and ``main()``.

The script follows pytorch/examples ``mnist/main.py`` and needs only torch (torchvision only to
download a dataset that is not on disk). The model class is the exact text of
:func:`core.codegen.generate` — the same source the app compiles and trains — so the script cannot
drift from the app's model. The same file scales out with ``torchrun --nproc_per_node=N``:
DistributedDataParallel over nccl (GPUs) or gloo (CPU), a DistributedSampler to shard the data,
and rank 0 alone logging and saving.

Defaults for the command-line options come from the project's ``training`` settings. Every value
written into the script is type-checked first (a project file is untrusted input); a value the
script does not support falls back to the default and is reported in the returned notes.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from netbuilder.core import __version__
from netbuilder.core.model.codegen import CodegenError, GeneratedCode, generate
from netbuilder.core.model.graph import Graph
from netbuilder.core.model.inference import infer
from netbuilder.core.model.shapes import fmt_shape

DATASETS = ("mnist", "fashion-mnist", "cifar10")
OPTIMIZERS = ("sgd", "adam", "adamw", "rmsprop")
LOSSES = ("cross-entropy", "nll", "mse")
SCHEDULES = ("none", "step", "cosine")
FIT_INPUTS = ("auto", "pad", "resize")

# Sensible MNIST defaults for settings the project leaves out. The app's own defaults
# (core.trainer.TrainConfig) take precedence when they are valid, so the two agree.
DEFAULTS: dict[str, Any] = {
    "dataset": "mnist",
    "epochs": 5,
    "batch_size": 64,
    "eval_batch_size": 1000,
    "lr": 0.05,
    "momentum": 0.9,
    "weight_decay": 0.0,
    "nesterov": False,
    "optimizer": "sgd",
    "loss": "cross-entropy",
    "schedule": "cosine",
    "step_size": None,
    "gamma": 0.1,
    "fit_input": "auto",
    "seed": 0,
}
_OPTIONAL = {"step_size"}

MAIN_GUARD = 'if __name__ == "__main__":'


@dataclass
class TrainingScript:
    """The script text, the settings written into it and notes on settings that were not usable."""

    source: str
    settings: dict[str, Any]
    notes: list[str] = field(default_factory=list)
    code: GeneratedCode | None = None


def model_source(code: GeneratedCode) -> str:
    """The generated module without its ``if __name__ == "__main__"`` demo block."""
    text = code.source
    cut = text.find("\n" + MAIN_GUARD)
    if cut >= 0:
        text = text[: cut + 1]
    return text.rstrip() + "\n"


def _split_docstring(source: str) -> tuple[list[str], str]:
    """(docstring body lines, the rest) of a generated module that starts with a docstring."""
    assert source.startswith('"""')
    end = source.index('"""', 3)
    doc = source[3:end].strip("\n").splitlines()
    return doc, source[end + 3 :].lstrip("\n")


def _setting(training: Mapping[str, Any], key: str, notes: list[str]) -> Any:
    """The project's value for ``key`` if it is usable, else the default (with a note)."""
    default = DEFAULTS[key]
    if key not in training or training[key] is None:
        return default
    value = training[key]
    choices = {"dataset": DATASETS, "optimizer": OPTIMIZERS, "loss": LOSSES, "schedule": SCHEDULES,
               "fit_input": FIT_INPUTS}.get(key)
    if choices is not None:
        if key == "dataset" and value == "sample":
            notes.append("the bundled 'sample' dataset is part of the app; the script trains on MNIST")
            return "mnist"
        if key == "fit_input" and value == "none":
            return "auto"  # the app refuses a mismatch; the script pads or resizes as needed
        if value in choices:
            return value
        notes.append(f"{key} {value!r} is not supported by the script ({', '.join(choices)}); using {default!r}")
        return default
    ok = False
    if isinstance(default, bool):
        ok = isinstance(value, bool)
    elif (isinstance(default, int) or key in _OPTIONAL) and not isinstance(value, bool):
        ok = isinstance(value, int) and 0 <= value <= 10**9 and (value > 0 or key == "seed")
    elif isinstance(default, float):
        ok = (isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
              and 0 <= value <= 1e6)
        value = float(value) if ok else value
    if not ok:
        notes.append(f"training setting {key}={value!r} is not valid; using {default!r}")
        return default
    return value


def app_defaults() -> dict[str, Any]:
    """The app trainer's default settings (those the script understands), or {} without the trainer."""
    try:
        from netbuilder.core.train.trainer import TrainConfig
    except ImportError:
        return {}
    fields = TrainConfig().to_dict()
    return {k: fields[k] for k in DEFAULTS if k in fields}


def settings_from_training(training: Mapping[str, Any] | None) -> tuple[dict[str, Any], list[str]]:
    """Validated script defaults from a project's ``training`` dict, and notes on what was replaced.

    Settings left out take the app's defaults, so the script trains as the app would."""
    base, _ = _settings({**app_defaults()}, [])
    training = {**base, **{k: v for k, v in (training or {}).items() if v is not None}}
    notes: list[str] = []
    return _settings(training, notes)


def _settings(training: Mapping[str, Any], notes: list[str]) -> tuple[dict[str, Any], list[str]]:
    out = {key: _setting(training, key, notes) for key in DEFAULTS}
    return out, notes


def training_script_full(graph: Graph, training: Mapping[str, Any] | None = None,
                         class_name: str = "Net") -> TrainingScript:
    """Like :func:`training_script` but also returns the settings used and notes on replaced ones.

    Raises :class:`core.codegen.CodegenError` (a UserError) when the graph has errors."""
    if class_name in _script_names():
        raise CodegenError(f"class name {class_name!r} is already used by the training script "
                           f"(for a function, module or variable); choose another, e.g. {class_name.title()}Net")
    result = infer(graph)
    code = generate(graph, result, class_name)
    settings, notes = settings_from_training(training)
    doc, body = _split_docstring(model_source(code))
    assert result.input_id is not None
    in_shape = result.nodes[result.input_id].output_shape or ()
    usage = [
        *doc,
        "",
        f"Training script generated by NetBuilder {__version__} (model input {fmt_shape(in_shape)}).",
        "",
        "    python SCRIPT --epochs 1 --data-dir DIR      train on one device (cuda, mps or cpu, chosen",
        "                                                  automatically; --device to choose)",
        "    torchrun --nproc_per_node=N SCRIPT           DistributedDataParallel over N processes",
        "                                                  (nccl on GPUs, gloo on CPU)",
        "",
        "Data: MNIST, Fashion-MNIST or CIFAR-10, read from --data-dir (the IDX .gz files directly in",
        "the folder, torchvision's MNIST/raw or FashionMNIST/raw layout, or cifar-10-batches-py) and",
        "downloaded there with torchvision when missing (unless --no-download).",
    ]
    # The generated imports are a subset of the script's; the class itself is kept verbatim.
    body = body.removeprefix(_MODEL_IMPORTS).lstrip("\n")
    text = "\n".join(['"""' + usage[0], *usage[1:], '"""', "", _IMPORTS, "", body])
    template = _TEMPLATE
    replacements = {
        "CLASS": class_name,
        "DATASET": repr(settings["dataset"]),
        "EPOCHS": repr(settings["epochs"]),
        "BATCH": repr(settings["batch_size"]),
        "TEST_BATCH": repr(settings["eval_batch_size"]),
        "LR": repr(settings["lr"]),
        "MOMENTUM": repr(settings["momentum"]),
        "WEIGHT_DECAY": repr(settings["weight_decay"]),
        "OPTIMIZER": repr(settings["optimizer"]),
        "LOSS": repr(settings["loss"]),
        "SCHEDULE": repr(settings["schedule"]),
        "STEP_SIZE": repr(settings["step_size"]),
        "GAMMA": repr(settings["gamma"]),
        "NESTEROV": repr(settings["nesterov"]),
        "FIT": repr(settings["fit_input"]),
        "SEED": repr(settings["seed"]),
    }
    for key, value in replacements.items():
        template = template.replace("@" + key + "@", value)
    source = text.rstrip("\n") + "\n\n" + template
    return TrainingScript(source, settings, notes, code)


def training_script(graph: Graph, training: Mapping[str, Any] | None = None, class_name: str = "Net") -> str:
    """The standalone training script for ``graph`` as text (see the module docstring).

    ``training`` is the project's training settings (dataset, epochs, batch_size, lr, momentum,
    optimizer, loss, schedule, seed, …); they become the defaults of the script's options."""
    return training_script_full(graph, training, class_name).source


_MODEL_IMPORTS = "import torch\nimport torch.nn as nn\nimport torch.nn.functional as F\n"
_IMPORTS = """\
import argparse
import gzip
import functools
import math
import os
import pickle
import struct
import sys
import time

import torch
import torch.distributed as dist
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data.distributed import DistributedSampler
"""

# The rest of the script. @NAME@ markers are replaced by validated literals.
_TEMPLATE = r'''
# --- data ---------------------------------------------------------------------------------------

# Per-channel mean and standard deviation of the training images (0..1 scale).
STATS = {
    "mnist": ((0.1307,), (0.3081,)),
    "fashion-mnist": ((0.2860,), (0.3530,)),
    "cifar10": ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)),
}
IDX_FILES = {
    "train_x": "train-images-idx3-ubyte",
    "train_y": "train-labels-idx1-ubyte",
    "test_x": "t10k-images-idx3-ubyte",
    "test_y": "t10k-labels-idx1-ubyte",
}


def read_idx(path):
    """Read an IDX file (optionally gzipped) of unsigned bytes into a uint8 tensor."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    zero, dtype, ndim = struct.unpack(">HBB", data[:4])
    if zero != 0 or dtype != 0x08 or ndim < 1:
        raise ValueError(f"{path}: not an IDX file of unsigned bytes")
    dims = struct.unpack(f">{ndim}I", data[4:4 + 4 * ndim])
    count = 1
    for d in dims:
        count *= d
    if len(data) - 4 - 4 * ndim != count:
        raise ValueError(f"{path}: truncated ({len(data)} bytes for shape {dims})")
    return torch.frombuffer(bytearray(data), dtype=torch.uint8, offset=4 + 4 * ndim).reshape(dims)


def _idx_folder(name, root):
    """The folder under root that holds the four IDX files (.gz or not), or None."""
    sub = {"mnist": "MNIST", "fashion-mnist": "FashionMNIST"}[name]
    for folder in (root, os.path.join(root, sub, "raw"), os.path.join(root, name)):
        if all(os.path.exists(os.path.join(folder, f)) or os.path.exists(os.path.join(folder, f + ".gz"))
               for f in IDX_FILES.values()):
            return folder
    return None


def _load_idx(folder):
    out = {}
    for key, stem in IDX_FILES.items():
        path = os.path.join(folder, stem)
        out[key] = read_idx(path if os.path.exists(path) else path + ".gz")
    return (out["train_x"].unsqueeze(1), out["train_y"].long(), out["test_x"].unsqueeze(1), out["test_y"].long())


def _load_cifar(folder):
    def batch(file):
        with open(os.path.join(folder, file), "rb") as f:
            d = pickle.load(f, encoding="bytes")  # torchvision's own format; only open files you trust
        x = torch.tensor(bytearray(d[b"data"]), dtype=torch.uint8).reshape(-1, 3, 32, 32)
        return x, torch.tensor(d[b"labels"], dtype=torch.long)

    parts = [batch(f"data_batch_{i}") for i in range(1, 6)]
    test_x, test_y = batch("test_batch")
    return torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts]), test_x, test_y


def _cifar_folder(root):
    for folder in (os.path.join(root, "cifar-10-batches-py"), root):
        if os.path.exists(os.path.join(folder, "data_batch_1")) and os.path.exists(os.path.join(folder, "test_batch")):
            return folder
    return None


def _find(name, root):
    return _cifar_folder(root) if name == "cifar10" else _idx_folder(name, root)


def load_data(name, data_dir, download, rank=0, world_size=1):
    """(train_x, train_y, test_x, test_y): uint8 N×C×H×W images and int64 labels, in memory."""
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
    return _load_cifar(folder) if name == "cifar10" else _load_idx(folder)


def prepare(x, input_shape, mean, std, fit="auto"):
    """uint8 images → normalised float, fitted to the model's input shape.

    With fit "auto" a smaller image is padded with black borders (a 32×32 net on 28×28 MNIST, as
    LeNet-5 did) and a larger one resized; "pad" and "resize" force one way. Grey images are
    repeated for a colour net and colour ones averaged for a grey net; a flat input gets the
    flattened image."""
    x = x.float().div_(255.0)
    c, h, w = x.shape[1:]
    want = tuple(input_shape)
    if len(want) == 1:
        if c * h * w != want[0]:
            sys.exit(f"error: the model takes {want[0]} features but the images have {c}×{h}×{w} = {c * h * w}")
    else:
        wc, wh, ww = want
        if (wh, ww) != (h, w):
            if fit == "pad" or (fit == "auto" and wh >= h and ww >= w):
                top, left = (wh - h) // 2, (ww - w) // 2  # negative padding crops
                x = F.pad(x, (left, ww - w - left, top, wh - h - top))
            else:
                x = F.interpolate(x, size=(wh, ww), mode="bilinear", align_corners=False,
                                  antialias=wh < h or ww < w)
        if wc != c:
            if c == 1:
                x = x.expand(-1, wc, -1, -1)
                mean, std = mean * wc, std * wc
            elif wc == 1:
                x = x.mean(dim=1, keepdim=True)
                mean, std = (sum(mean) / len(mean),), (sum(std) / len(std),)
            else:
                sys.exit(f"error: the model takes {wc} channels but the images have {c}")
    m = torch.tensor(mean, device=x.device).view(1, -1, 1, 1)
    s = torch.tensor(std, device=x.device).view(1, -1, 1, 1)
    x = (x - m) / s
    return x.reshape(x.shape[0], *want)


# --- training -----------------------------------------------------------------------------------

def loss_fn(name, output, target, reduction="mean"):
    if name == "nll":  # for a network that ends in LogSoftmax
        return F.nll_loss(output, target, reduction=reduction)
    if name == "mse":  # squared error against one-hot targets
        return F.mse_loss(output, F.one_hot(target, output.shape[1]).to(output.dtype), reduction=reduction)
    return F.cross_entropy(output, target, reduction=reduction)


def lr_at(args, step, steps_per_epoch):
    """The learning rate of optimisation step ``step`` (0-based), as the app schedules it."""
    if args.schedule == "cosine":
        total = max(1, steps_per_epoch * args.epochs)
        return args.lr * 0.5 * (1.0 + math.cos(math.pi * min(step, total) / total))
    if args.schedule == "step":
        size = args.step_size or max(1, args.epochs // 3)
        return args.lr * args.gamma ** ((step // steps_per_epoch) // size)
    return args.lr


def train(args, model, device, data, optimizer, sampler, epoch, rank, stats):
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
        x = prepare(train_x[idx], @CLASS@.input_shape, *stats, args.fit_input).to(device, non_blocking=True)
        y = train_y[idx].to(device, non_blocking=True)
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn(args.loss, model(x), y)
        loss.backward()
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
def test(args, model, device, data, rank, world_size, stats):
    """Loss and accuracy on the test set; each process scores a share and the sums are combined."""
    model.eval()
    test_x, test_y = data[2], data[3]
    idx_all = torch.arange(rank, len(test_x), world_size, device=test_x.device)
    sums = torch.zeros(3, dtype=torch.float64, device=device)  # loss, correct, count
    for start in range(0, len(idx_all), args.test_batch_size):
        idx = idx_all[start:start + args.test_batch_size]
        x = prepare(test_x[idx], @CLASS@.input_shape, *stats, args.fit_input).to(device)
        y = test_y[idx].to(device)
        out = model(x)
        sums[0] += loss_fn(args.loss, out, y, reduction="sum").double()
        sums[1] += (out.argmax(dim=1) == y).sum().double()
        sums[2] += len(idx)
    if world_size > 1:
        dist.all_reduce(sums)
    loss, correct, count = sums.tolist()
    loss /= max(count, 1)
    if rank == 0:
        print(f"\nTest set: Average loss: {loss:.4f}, Accuracy: {int(correct)}/{int(count)} "
              f"({100.0 * correct / max(count, 1):.2f}%)\n", flush=True)
    return loss, correct / max(count, 1)


def make_optimizer(args, params):
    if args.optimizer == "adam":
        return torch.optim.Adam(params, lr=args.lr, weight_decay=args.weight_decay)
    if args.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=args.lr, weight_decay=args.weight_decay)
    if args.optimizer == "rmsprop":
        return torch.optim.RMSprop(params, lr=args.lr, momentum=args.momentum, weight_decay=args.weight_decay)
    return torch.optim.SGD(params, lr=args.lr, momentum=args.momentum, weight_decay=args.weight_decay,
                           nesterov=args.nesterov)


def pick_device(args, local_rank):
    if args.device != "auto":
        if args.device == "cuda" and local_rank is not None:
            return torch.device("cuda", local_rank)
        return torch.device(args.device)
    if not args.no_accel and torch.cuda.is_available():
        return torch.device("cuda", local_rank or 0)
    if not args.no_accel and local_rank is None and torch.backends.mps.is_available():
        return torch.device("mps")  # not with torchrun: DDP has no mps backend
    return torch.device("cpu")


def parse_args(argv=None):
    script = os.path.splitext(os.path.basename(__file__))[0]
    p = argparse.ArgumentParser(description=f"Train {@CLASS@.__name__} (generated by NetBuilder). "
                                "Run it with torchrun --nproc_per_node=N for DistributedDataParallel.")
    p.add_argument("--dataset", choices=tuple(STATS), default=@DATASET@, help="dataset (default: %(default)s)")
    p.add_argument("--data-dir", default="data", help="folder with the dataset files (default: %(default)s)")
    p.add_argument("--no-download", action="store_true", help="never download; fail if the files are missing")
    p.add_argument("--epochs", type=int, default=@EPOCHS@, help="epochs to train (default: %(default)s)")
    p.add_argument("--batch-size", type=int, default=@BATCH@,
                   help="batch size per process (default: %(default)s)")
    p.add_argument("--test-batch-size", type=int, default=@TEST_BATCH@, help="evaluation batch (default: %(default)s)")
    p.add_argument("--optimizer", choices=("sgd", "adam", "adamw", "rmsprop"), default=@OPTIMIZER@,
                   help="optimizer (default: %(default)s)")
    p.add_argument("--lr", type=float, default=@LR@, help="learning rate (default: %(default)s)")
    p.add_argument("--momentum", type=float, default=@MOMENTUM@, help="SGD/RMSprop momentum (default: %(default)s)")
    p.add_argument("--weight-decay", type=float, default=@WEIGHT_DECAY@, help="L2 penalty (default: %(default)s)")
    p.add_argument("--nesterov", action=argparse.BooleanOptionalAction, default=@NESTEROV@,
                   help="Nesterov momentum for SGD (default: %(default)s)")
    p.add_argument("--loss", choices=("cross-entropy", "nll", "mse"), default=@LOSS@,
                   help="loss (default: %(default)s)")
    p.add_argument("--schedule", choices=("none", "step", "cosine"), default=@SCHEDULE@,
                   help="learning-rate schedule, updated every step (default: %(default)s)")
    p.add_argument("--step-size", type=int, default=@STEP_SIZE@,
                   help="step schedule: epochs between decays (default: a third of the epochs)")
    p.add_argument("--gamma", type=float, default=@GAMMA@, help="step schedule: decay factor (default: %(default)s)")
    p.add_argument("--fit-input", choices=("auto", "pad", "resize"), default=@FIT@,
                   help="how images are fitted to the model's input size (default: %(default)s)")
    p.add_argument("--seed", type=int, default=@SEED@, help="random seed (default: %(default)s)")
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


def main(argv=None):
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
        data = tuple(t.to(device) for t in data)
    stats = STATS[args.dataset]

    model = @CLASS@().to(device)
    if args.weights:
        model.load_state_dict(torch.load(args.weights, map_location=device, weights_only=True))
    net = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None) \
        if distributed else model
    optimizer = make_optimizer(args, net.parameters())
    # Shards the shuffled indices: each process gets its own 1/world_size of every epoch.
    sampler = DistributedSampler(range(len(data[0])), num_replicas=world_size, rank=rank, shuffle=True,
                                 seed=args.seed)
    if rank == 0:
        n_params = sum(p.numel() for p in model.parameters())
        how = f"{world_size} processes ({'nccl' if device.type == 'cuda' else 'gloo'})" if distributed else "1 process"
        print(f"{@CLASS@.__name__}: {n_params:,} parameters; {args.dataset} from {args.data_dir}: "
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
'''


@functools.cache
def _script_names() -> frozenset[str]:
    """Top-level names the script template defines or imports (a class must not shadow them)."""
    import ast

    names: set[str] = set()
    import re

    template = re.sub(r"@[A-Z_]+@", "None", _TEMPLATE.replace("@CLASS@", "Net_"))
    for node in ast.parse(_IMPORTS + "\n" + template).body:
        if isinstance(node, ast.FunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Import | ast.ImportFrom):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
    return frozenset(names - {"Net_"})
