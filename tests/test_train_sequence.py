"""Training sequence models: MNIST read row by row (``fit_input="rows"``), the compatibility
messages that suggest it, token inputs refused up front, and the LSTM preset learning on the sample."""

from __future__ import annotations

import pytest
import torch
from netbuilder.core.model.graph import Graph
from netbuilder.core.model.project import load_preset
from netbuilder.core.train.config import FIT_INPUTS, TrainConfig, TrainError
from netbuilder.core.train.data import check_compat, load_dataset, prepare_images
from netbuilder.core.train.events import FinishedEvent
from netbuilder.core.train.fit import TOKENS_UNSUPPORTED, rows_shape
from netbuilder.core.train.trainer import Trainer


@pytest.fixture(scope="module")
def sample():
    return load_dataset("sample")


def test_rows_is_a_fit_option() -> None:
    assert "rows" in FIT_INPUTS
    assert TrainConfig.from_dict({"fit_input": "rows"}).fit_input == "rows"


def test_compat_accepts_a_sequence_input_with_rows_and_suggests_it(sample) -> None:
    assert rows_shape(sample.shape) == (28, 28)
    assert check_compat((28, 28), sample, "rows") is None
    hint = check_compat((28, 28), sample, "none")
    assert hint is not None and "row by row" in hint and "fit_input 'rows'" in hint
    wrong = check_compat((1, 28, 28), sample, "rows")
    assert wrong is not None and "[28, 28]" in wrong
    assert check_compat((28, 28), sample, "rows", dtype="long") == TOKENS_UNSUPPORTED


def test_rows_are_the_normalised_image_rows(sample) -> None:
    x = sample.train_x[:3]
    seq = prepare_images(x, sample, (28, 28), "rows")
    img = prepare_images(x, sample, (1, 28, 28), "none")
    assert seq.shape == (3, 28, 28) and seq.dtype == torch.float32
    assert torch.equal(seq, img[:, 0])


def token_graph() -> Graph:
    g = Graph("text")
    g.add_node("Input", "input", {"shape": [16], "dtype": "long", "vocab_size": 100})
    g.add_node("Embedding", "embed", {"num_embeddings": 100, "embedding_dim": 8})
    g.add_node("Flatten", "flat")
    g.add_node("Linear", "fc", {"out_features": 10})
    g.connect("input", "embed")
    g.connect("embed", "flat")
    g.connect("flat", "fc")
    return g


def test_token_inputs_are_refused_before_any_data_is_looked_for(tmp_path) -> None:
    cfg = TrainConfig.from_dict({"dataset": "mnist", "data_dir": str(tmp_path / "nothing-here"), "device": "cpu"})
    with pytest.raises(TrainError) as err:
        Trainer(token_graph(), cfg)
    assert str(err.value) == TOKENS_UNSUPPORTED
    assert "export and import" in str(err.value)
    assert err.value.node == "input" and err.value.field == "dataset"


def test_a_sequence_input_without_rows_is_refused_with_the_fix(sample) -> None:
    g = load_preset("lstm-mnist-rows").graph
    with pytest.raises(TrainError, match="fit_input 'rows'"):
        Trainer(g, TrainConfig.from_dict({"dataset": "sample", "device": "cpu"}), sample)


def test_the_lstm_preset_trains_above_chance_on_the_sample(sample) -> None:
    project = load_preset("lstm-mnist-rows")
    assert project.training["fit_input"] == "rows"
    threads = torch.get_num_threads()
    cfg = TrainConfig.from_dict({**project.training, "dataset": "sample", "device": "cpu", "batch_size": 32,
                                 "limit_steps": 120, "lr": 0.003, "stats_every": 0, "histogram_every": 0,
                                 "eval_batch_size": 500, "threads": min(threads, 2)})
    last = Trainer(project.graph, cfg, sample.subset(test=500)).run()
    assert isinstance(last, FinishedEvent), last
    assert last.test_accuracy > 0.4, last.test_accuracy  # chance is 0.1; about 0.69 here
