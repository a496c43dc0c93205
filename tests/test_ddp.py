"""The exported training script scales out with torchrun: 2 CPU processes over gloo on loopback."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch
from netbuilder.core.interop.script_export import training_script
from netbuilder.core.model.project import load_preset

from tests._helpers_export import fake_mnist, free_port, load_script, run_python


@pytest.mark.slow
def test_torchrun_two_cpu_processes(tmp_path: Path) -> None:
    data = fake_mnist(tmp_path / "data", n_train=200, n_test=50)
    # resnet-tiny has BatchNorm buffers, which DDP must broadcast from rank 0
    (tmp_path / "net.py").write_text(training_script(load_preset("resnet-tiny").graph, {"batch_size": 16}))
    proc = run_python(
        ["-m", "torch.distributed.run", "--nproc_per_node=2", "--master_addr=127.0.0.1",
         f"--master_port={free_port()}", "net.py", "--epochs", "2", "--max-steps", "3", "--data-dir", str(data),
         "--no-download", "--log-interval", "1", "--save-model", "ddp.pt"],
        cwd=tmp_path, timeout=120,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    out = proc.stdout
    assert "2 processes (gloo)" in out
    # DistributedSampler: each process gets half of the 200 samples
    assert "100 training samples per process per epoch" in out
    # rank 0 alone logs: one header, one test line per epoch, 3 steps logged per epoch
    assert out.count("parameters;") == 1
    assert out.count("Test set: Average loss") == 2
    assert len(re.findall(r"Train Epoch: 1 ", out)) == 3
    # the test set is shared between the ranks and the counts combined
    assert re.search(r"Accuracy: \d+/50 ", out)
    assert out.count("saved ddp.pt") == 1
    state = torch.load(tmp_path / "ddp.pt", weights_only=True)
    assert not any(k.startswith("module.") for k in state)  # saved unwrapped: loads into the plain class
    model = load_script(tmp_path / "net.py").Net()
    model.load_state_dict(state)
    assert int(state["bn0.num_batches_tracked"]) == 6  # 2 epochs × 3 steps


def test_sampler_shards_are_disjoint_and_cover_the_data(tmp_path: Path) -> None:
    """The sharding the script relies on: same permutation on every rank, disjoint strided shares."""
    from torch.utils.data.distributed import DistributedSampler

    shards = []
    for rank in range(2):
        s = DistributedSampler(range(10), num_replicas=2, rank=rank, shuffle=True, seed=3)
        s.set_epoch(1)
        shards.append(list(s))
    assert len(shards[0]) == len(shards[1]) == 5
    assert sorted(shards[0] + shards[1]) == list(range(10))
