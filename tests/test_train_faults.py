"""Training faults that used to lose work or pass silently (issue 14, point 8): SIGTERM, kill -9 between
epochs, divergence, and checkpoints that do not hold what they claim."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from netbuilder.core.cli.main import main
from netbuilder.core.train.checkpoint import load_checkpoint

from tests._cli import FAST, LENET5, ROOT, isolated_training  # noqa: F401  (fixture)

pytestmark = pytest.mark.usefixtures("isolated_training")


def _start(tmp_path: Path, *extra: str) -> subprocess.Popen[str]:
    env = {**os.environ, "NETBUILDER_CACHE": str(tmp_path / "cache")}
    return subprocess.Popen([sys.executable, "-m", "netbuilder.core.cli", "train", LENET5, *FAST, *extra],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for(path: Path, proc: subprocess.Popen[str], timeout: float = 120) -> None:
    end = time.monotonic() + timeout
    while not path.is_file():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < end, "no checkpoint appeared"
        time.sleep(0.05)


def test_sigterm_saves_and_prints_the_json_result(tmp_path):
    ckpt = tmp_path / "run.ckpt"
    # the interval checkpoint says when training is under way; SIGTERM then comes mid-epoch
    proc = _start(tmp_path, "--epochs", "50", "--save", str(ckpt), "--checkpoint-every", "0.3", "--json",
                  "--quiet")
    _wait_for(ckpt, proc)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 143, err
    result = json.loads(out)
    assert result["status"] == "stopped" and result["checkpoint"] == str(ckpt)
    assert "stopped at epoch" in err and "--resume" in err
    ck = load_checkpoint(ckpt)
    assert ck.global_step == result["global_step"] > 0


def test_help_documents_the_exit_status(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    out = capsys.readouterr().out
    assert "143" in out and "SIGTERM" in out and "130" in out and "--checkpoint-every" in out


def test_kill_9_loses_at_most_the_interval_and_resumes_exactly(tmp_path):
    ckpt = tmp_path / "run.ckpt"
    proc = _start(tmp_path, "--epochs", "1", "--save", str(ckpt), "--checkpoint-every", "0.3", "--quiet",
                  "--schedule", "none")
    _wait_for(ckpt, proc)
    proc.kill()  # SIGKILL: no handler runs
    proc.communicate(timeout=60)
    ck = load_checkpoint(ckpt)
    done = ck.global_step
    assert ck.epoch == 0 and 0 < done == ck.progress["step_in_epoch"]  # saved in the middle of the epoch
    out = tmp_path / "resumed.json"
    env = {**os.environ, "NETBUILDER_CACHE": str(tmp_path / "cache")}
    proc2 = subprocess.run([sys.executable, "-m", "netbuilder.core.cli", "train", "--resume", str(ckpt),
                            "--limit-steps", str(done + 5), "--json", "--quiet"],
                           cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc2.returncode == 0, proc2.stderr
    out.write_text(proc2.stdout)
    result = json.loads(proc2.stdout)
    assert result["global_step"] == done + 5 and result["epochs"] == 1
    losses = result["history"]["step_loss"]
    assert len(losses) == done + 5 and losses[:done] == ck.history["step_loss"]


def test_bad_checkpoint_interval_is_refused(capsys):
    with pytest.raises(SystemExit):
        main(["train", LENET5, *FAST, "--checkpoint-every", "-1"])
    assert "seconds" in capsys.readouterr().err


@pytest.fixture(scope="module")
def saved(tmp_path_factory) -> tuple[Path, dict[str, object]]:
    from netbuilder.core.model.project import load_preset
    from netbuilder.core.train.config import TrainConfig
    from netbuilder.core.train.trainer import Trainer

    folder = tmp_path_factory.mktemp("ckpt")
    trainer = Trainer(load_preset("lenet5-mnist").graph, TrainConfig(dataset="sample", epochs=1, limit_steps=2,
                                                                      threads=1, device="cpu"))
    trainer.run()
    trainer.save_checkpoint(str(folder / "good.ckpt"))
    return folder, torch.load(folder / "good.ckpt", weights_only=True)


def _forge(saved: tuple[Path, dict[str, object]], name: str, change) -> str:
    import copy

    folder, payload = saved
    forged = copy.deepcopy(payload)
    change(forged)
    torch.save(forged, folder / name)
    return str(folder / name)


def _nan(p):
    p["state_dict"]["conv1.weight"][0, 0, 0, 0] = float("nan")


def _bad_settings(p):
    p["config"]["lr"] = -3


def _wrong_shape(p):
    p["state_dict"]["conv1.weight"] = torch.zeros(3, 3)


def _huge_epoch(p):
    p["epoch"] = 10**18


@pytest.mark.parametrize(("change", "said"), [
    (_nan, "'conv1.weight' hold 1 NaN or infinite value"),
    (_bad_settings, "training settings are invalid: training setting 'lr'"),
    (_wrong_shape, "the weights do not fit this network"),
    (_huge_epoch, "counters are damaged (epoch 1e+18"),
])
def test_export_refuses_a_checkpoint_that_is_not_what_it_claims(saved, tmp_path, capsys, change, said):
    ckpt = _forge(saved, f"{change.__name__}.ckpt", change)
    rc = main(["export", LENET5, "--checkpoint", ckpt, "-o", str(tmp_path / "w.pt")])
    err = capsys.readouterr().err
    assert rc == 1 and said in err and err.count("\n") == 1, err
    assert not (tmp_path / "w.pt").exists()


def test_export_of_a_sound_checkpoint_still_works(saved, tmp_path, capsys):
    rc = main(["export", LENET5, "--checkpoint", str(saved[0] / "good.ckpt"), "-o", str(tmp_path / "w.pt")])
    assert rc == 0 and (tmp_path / "w.pt").is_file()


def test_resume_refuses_a_checkpoint_claiming_an_impossible_epoch(saved, capsys):
    rc = main(["train", "--resume", _forge(saved, "epoch.ckpt", _huge_epoch), "--quiet"])
    assert rc == 1 and "counters are damaged" in capsys.readouterr().err


def _warnings(**settings: object) -> list[str]:
    from netbuilder.core.model.project import load_preset
    from netbuilder.core.train.config import TrainConfig
    from netbuilder.core.train.events import WarningEvent
    from netbuilder.core.train.trainer import Trainer

    config = TrainConfig(**{"dataset": "sample", "epochs": 1, "threads": 1, "device": "cpu", **settings})
    return [ev.message for ev in Trainer(load_preset("lenet5-mnist").graph, config) if isinstance(ev, WarningEvent)]


def test_sgd_lr_5_is_said_to_diverge_with_the_cause_and_the_fix():
    said = _warnings(optimizer="sgd", lr=5.0)
    assert len(said) == 1 and "the run is diverging" in said[0]
    assert "the learning rate 5 is too high for SGD: try 0.05" in said[0]


def test_adam_lr_1_is_said_to_sit_at_chance():
    said = _warnings(optimizer="adam", lr=1.0)
    assert len(said) == 1 and "the learning rate 1 is too high for ADAM: try 0.001" in said[0]


def test_default_settings_raise_no_divergence_warning():
    assert _warnings() == []


def test_the_cli_prints_the_divergence_warning(capsys):
    rc = main(["train", LENET5, *FAST, "--epochs", "1", "--lr", "5", "--quiet"])
    err = capsys.readouterr().err
    assert rc == 0 and "warning: the run is diverging" in err and "try 0.05" in err
