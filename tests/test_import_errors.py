"""What the importer says when it cannot import: the op that returns a tuple is named, a text model
fed float noise is told to declare integer input, and a failure inside a library model names the
module path, not only the wrapper's ``return self.m(x)``."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from netbuilder.core.cli.main import main as cli_main
from netbuilder.core.interop.importer import ModelImportError, import_model
from netbuilder.core.model.layers import REGISTRY


def _write(tmp_path: Path, code: str) -> Path:
    path = tmp_path / "model.py"
    path.write_text(textwrap.dedent(code))
    return path


def _error(path: Path, **kwargs: object) -> str:
    with pytest.raises(ModelImportError) as info:
        import_model(path, **kwargs)  # type: ignore[arg-type]
    return str(info.value)


def test_an_unmapped_op_with_a_tuple_result_is_named_and_its_pieces_are_not(tmp_path: Path) -> None:
    msg = _error(_write(tmp_path, """
        import torch.nn as nn


        class Rnn(nn.Module):
            input_shape = (5, 8)

            def __init__(self):
                super().__init__()
                self.rnn = nn.RNN(8, 4, batch_first=True)
                self.fc = nn.Linear(4, 2)

            def forward(self, x):
                out, h = self.rnn(x)
                return self.fc(out[:, -1])
    """))
    assert "1 unsupported operation:" in msg
    assert "line 14 `out, h = self.rnn(x)` — nn.RNN (self.rnn) returns a tuple and is not a NetBuilder layer" in msg
    assert "getitem" not in msg.split("Supported:")[0]


TEXT = """
    import torch.nn as nn


    class Text(nn.Module):
        input_shape = (12,)

        def __init__(self):
            super().__init__()
            self.embed = nn.Embedding(50, 8)
            self.fc = nn.Linear(8, 2)

        def forward(self, x):
            return self.fc(self.embed(x).mean(1))
"""


@pytest.mark.skipif("Embedding" not in REGISTRY, reason="needs the Embedding layer type")
def test_a_text_model_fed_floats_is_told_to_declare_integer_input(tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    path = _write(tmp_path, TEXT)
    msg = _error(path)
    assert "running Text on an input of shape N×12 failed at model.py, line 14" in msg
    assert "declare integer input with --input-dtype long" in msg and "check the input shape" not in msg
    graph = import_model(path, input_dtype="long").graph
    assert graph.node("input").params["dtype"] == "long" and graph.node("input").params["vocab_size"] == 50
    assert cli_main(["import", str(path), "--input-dtype", "long", "-o", str(tmp_path / "text.json")]) == 0
    assert "same outputs" in capsys.readouterr().err


LIBRARY = """
    import torch.nn as nn
    import torchvision


    class Wrap(nn.Module):
        input_shape = (3, 32, 32)

        def __init__(self):
            super().__init__()
            self.m = torchvision.models.mobilenet_v2(weights=None)
            self.m.features[3].conv[1][2] = nn.RReLU()  # an activation NetBuilder does not have

        def forward(self, x):
            return self.m(x)
"""


def test_a_missing_op_inside_a_library_model_names_its_module_path(tmp_path: Path) -> None:
    msg = _error(_write(tmp_path, LIBRARY))
    assert "1 unsupported operation:" in msg
    assert "m.features.3.conv.1.2: nn.RReLU is not a NetBuilder layer" in msg
    assert "`return self.m(x)`" in msg  # the wrapper's line comes too, but not alone


def test_a_run_failure_inside_a_library_model_names_its_module_path(tmp_path: Path) -> None:
    code = LIBRARY.replace("self.m.features[3].conv[1][2] = nn.RReLU()  # an activation NetBuilder does not have",
                           "self.m.classifier[1] = nn.Linear(7, 10)  # the wrong size")
    msg = _error(_write(tmp_path, code))
    assert "running Wrap on an input of shape N×3×32×32 failed in m.classifier.1: nn.Linear at" in msg
