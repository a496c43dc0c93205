"""``netbuilder train``: progress on stderr, one JSON object on stdout, checkpoints, clean user errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from netbuilder.core.cli.main import main
from netbuilder.core.model.project import load_preset, presets_dir, save_project

from tests._cli import FAST, LENET5, ROOT, isolated_training  # noqa: F401  (fixture)
from tests._graphs import linear_net

TUTORIAL = str(presets_dir() / "lenet-tutorial.json")


pytestmark = pytest.mark.usefixtures("isolated_training")


def test_train_json_and_progress(capsys):
    rc = main(["train", LENET5, *FAST, "--epochs", "2", "--limit-steps", "25", "--json", "--lr", "0.05"])
    out, err = capsys.readouterr()
    assert rc == 0, err
    result = json.loads(out)
    assert set(result) >= {"test_accuracy", "test_loss", "train_seconds", "samples_per_second", "epochs", "history"}
    assert result["epochs"] == 2 and 0.5 < result["test_accuracy"] <= 1
    assert len(result["history"]["step_loss"]) == 50 and len(result["history"]["test_accuracy"]) == 2
    assert result["config"]["lr"] == 0.05 and result["config"]["limit_steps"] == 25
    assert "epoch 2/2 [" in err and "samples/s" in err and "ETA" in err and "\r" in err
    assert "epoch 1/2: train loss" in err and "done: test accuracy" in err


def test_settings_from_project_then_command_line(tmp_path, capsys):
    project = load_preset("lenet5-mnist")
    path = tmp_path / "p.json"
    save_project(path, project.graph, {"optimizer": "adam", "lr": 0.002, "epochs": 3, "batch_size": 32})
    rc = main(["train", str(path), *FAST, "--epochs", "1", "--limit-steps", "5", "--json", "--quiet"])
    out, err = capsys.readouterr()
    assert rc == 0, err
    config = json.loads(out)["config"]
    assert config["optimizer"] == "adam" and config["lr"] == 0.002 and config["batch_size"] == 32
    assert config["epochs"] == 1
    assert err == ""


def test_save_and_resume(tmp_path, capsys):
    ckpt = str(tmp_path / "run.ckpt")
    assert main(["train", LENET5, *FAST, "--epochs", "1", "--limit-steps", "10", "--save", ckpt, "--quiet"]) == 0
    assert Path(ckpt).is_file()
    capsys.readouterr()
    rc = main(["train", "--resume", ckpt, "--epochs", "2", "--json", "--quiet", "--threads", "1"])
    out, err = capsys.readouterr()
    assert rc == 0, err
    result = json.loads(out)
    assert result["epochs"] == 2 and len(result["history"]["test_accuracy"]) == 2
    assert len(result["history"]["step_loss"]) == 20
    # resuming with a different network is refused
    assert main(["train", TUTORIAL, "--resume", ckpt, "--quiet"]) == 1
    assert "different network" in capsys.readouterr().err


def test_model_data_mismatch_exits_1(capsys):
    rc = main(["train", TUTORIAL, *FAST, "--epochs", "1"])
    err = capsys.readouterr().err
    assert rc == 1
    assert err.startswith("netbuilder: error: ") and "1×32×32" in err and "1×28×28" in err and "--fit-input pad" in err
    assert "Traceback" not in err
    assert main(["train", TUTORIAL, *FAST, "--epochs", "1", "--limit-steps", "3", "--fit-input", "pad",
                 "--quiet"]) == 0


def test_missing_data_exits_1(tmp_path, capsys):
    rc = main(["train", LENET5, "--dataset", "mnist", "--data-dir", str(tmp_path / "none"), "--epochs", "1"])
    err = capsys.readouterr().err
    assert rc == 1 and "MNIST not found" in err and str(tmp_path / "none") in err and "--download" in err


def test_bad_inputs_exit_1(tmp_path, capsys):
    assert main(["train", str(tmp_path / "nope.json"), *FAST]) == 1
    assert "no such file" in capsys.readouterr().err
    assert main(["train", LENET5, *FAST, "--lr", "-1"]) == 1
    assert "'lr'" in capsys.readouterr().err
    evil = tmp_path / "evil.ckpt"
    evil.write_bytes(os.urandom(500))
    assert main(["train", "--resume", str(evil)]) == 1
    assert "not a readable checkpoint" in capsys.readouterr().err
    assert main(["train"]) == 1
    assert "give the project file" in capsys.readouterr().err


def test_diverging_run_exits_1_naming_the_layer(tmp_path, capsys):
    save_project(tmp_path / "linear.json", linear_net())
    rc = main(["train", str(tmp_path / "linear.json"), *FAST, "--epochs", "1", "--lr", "100", "--loss", "mse",
               "--momentum", "0", "--schedule", "none", "--quiet"])
    err = capsys.readouterr().err
    assert rc == 1 and "netbuilder: error: training stopped at epoch 1" in err and "'fc'" in err


def test_console_script_end_to_end(tmp_path):
    """The real process: exit status, stdout holds only the JSON object."""
    env = {**os.environ, "NETBUILDER_CACHE": str(tmp_path / "cache")}
    proc = subprocess.run([sys.executable, "-m", "netbuilder.core.cli", "train", LENET5, *FAST, "--epochs", "1",
                           "--limit-steps", "5", "--json"], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["epochs"] == 1


def test_unwritable_save_path_is_refused_before_training(tmp_path, capsys):
    for bad in (tmp_path / "no" / "such" / "dir" / "ck.pt", tmp_path):
        rc = main(["train", LENET5, *FAST, "--epochs", "1", "--limit-steps", "2", "--save", str(bad)])
        err = capsys.readouterr().err
        assert rc == 1 and err.startswith("netbuilder: error: --save") and "epoch 1/1" not in err
    (tmp_path / "file.txt").write_text("x")
    rc = main(["train", LENET5, *FAST, "--epochs", "1", "--save", str(tmp_path / "file.txt" / "ck.pt")])
    assert rc == 1 and "does not exist" in capsys.readouterr().err


def test_json_for_a_stopped_run(tmp_path, monkeypatch, capsys):
    import signal

    from netbuilder.core.cli import train as train_cli

    def ctrl_c_on_first_step(self, ev):
        if ev.global_step == 3:
            os.kill(os.getpid(), signal.SIGINT)  # the handler asks the trainer to stop

    monkeypatch.setattr(train_cli.ProgressBar, "step", ctrl_c_on_first_step)
    ckpt = tmp_path / "run.ckpt"
    rc = main(["train", LENET5, *FAST, "--epochs", "1", "--limit-steps", "20", "--json", "--save", str(ckpt)])
    out, err = capsys.readouterr()
    assert rc == 130 and "stopped at epoch 0" in err
    result = json.loads(out)
    assert result["status"] == "stopped" and result["checkpoint"] == str(ckpt) and ckpt.is_file()
    assert 3 <= result["global_step"] < 20 and len(result["history"]["step_loss"]) == result["global_step"]


def test_json_for_failed_runs(tmp_path, capsys):
    save_project(tmp_path / "linear.json", linear_net())
    rc = main(["train", str(tmp_path / "linear.json"), *FAST, "--epochs", "1", "--lr", "100", "--loss", "mse",
               "--momentum", "0", "--schedule", "none", "--quiet", "--json"])
    out, err = capsys.readouterr()
    result = json.loads(out)
    assert rc == 1 and result["status"] == "failed" and "training stopped at epoch 1" in result["error"]
    assert result["node"] == "fc" and "netbuilder: error:" in err
    # a failure before training (the model does not fit the data) prints the object too
    rc = main(["train", TUTORIAL, *FAST, "--epochs", "1", "--json"])
    out, err = capsys.readouterr()
    result = json.loads(out)
    assert rc == 1 and result["status"] == "failed" and "1×32×32" in result["error"]
    assert err.startswith("netbuilder: error: ")


def test_json_for_a_finished_run_has_a_status(capsys):
    rc = main(["train", LENET5, *FAST, "--epochs", "1", "--limit-steps", "3", "--json", "--quiet"])
    result = json.loads(capsys.readouterr().out)
    assert rc == 0 and result["status"] == "finished" and result["epochs"] == 1 and result["global_step"] == 3
