"""Datasets: the bundled sample, IDX layouts, the decoded cache, CIFAR-10 (safe unpickling),
downloads from a local mirror, and the errors for missing or corrupt files."""

from __future__ import annotations

import gzip
import os
import pickle
import shutil
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch
from netbuilder.core.errors import UserError
from netbuilder.core.train import cache, download
from netbuilder.core.train import data as D
from netbuilder.core.train.data import DataError, check_compat, load_dataset, prepare_images

SHARED_MNIST = Path(__file__).resolve().parent.parent.parent / "shared" / "datasets" / "mnist"
need_mnist = pytest.mark.skipif(not SHARED_MNIST.is_dir(), reason="real MNIST not present")


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    """Every test gets its own decode cache and no default data folder of the user."""
    monkeypatch.setenv("NETBUILDER_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))


def copy_sample(dest: Path, unpack: bool = False) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    for src in D.sample_dir().glob("*.gz"):
        if unpack:
            (dest / src.stem).write_bytes(gzip.decompress(src.read_bytes()))
        else:
            shutil.copy(src, dest / src.name)
    return dest


def test_sample_is_stratified_mnist_with_licence():
    ds = load_dataset("sample")
    assert ds.name == "sample" and ds.shape == (1, 28, 28)
    assert ds.train_x.dtype == torch.uint8 and ds.train_y.dtype == torch.int64
    assert ds.train_y.bincount().tolist() == [600] * 10
    assert ds.test_y.bincount().tolist() == [100] * 10
    assert ds.classes == [str(i) for i in range(10)]
    assert ds.mean[0] == pytest.approx(0.1307, abs=0.005) and ds.std[0] == pytest.approx(0.3081, abs=0.005)
    assert sum(p.stat().st_size for p in D.sample_dir().iterdir()) < 2_000_000
    readme = (D.sample_dir() / "README.md").read_text()
    assert "LeCun" in readme and "Cortes" in readme and "Burges" in readme and "CC BY-SA 3.0" in readme


@pytest.mark.parametrize("layout", ["flat-gz", "flat-unpacked", "torchvision"])
def test_idx_layouts_and_cache(tmp_path, layout):
    root = tmp_path / "data"
    if layout == "torchvision":
        copy_sample(root / "MNIST" / "raw")
    else:
        copy_sample(root, unpack=layout == "flat-unpacked")
    ds = load_dataset("mnist", str(root))
    ref = load_dataset("sample")
    assert torch.equal(ds.train_x, ref.train_x) and torch.equal(ds.test_y, ref.test_y)
    assert not ds.from_cache
    again = load_dataset("mnist", str(root))
    assert again.from_cache and torch.equal(again.train_x, ref.train_x) and again.mean == ds.mean
    # a changed source file invalidates the cache
    any_file = next(p for p in Path(ds.source).iterdir() if p.name.startswith("t10k-labels"))
    st = any_file.stat()
    os.utime(any_file, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    assert not load_dataset("mnist", str(root)).from_cache


def test_data_dir_from_environment(tmp_path, monkeypatch):
    copy_sample(tmp_path / "env")
    monkeypatch.setenv("NETBUILDER_DATA", str(tmp_path / "env"))
    assert len(load_dataset("mnist").train_y) == 6000


def test_missing_dataset_says_where_and_how(tmp_path, monkeypatch):
    monkeypatch.delenv("NETBUILDER_DATA", raising=False)
    with pytest.raises(DataError) as e:
        load_dataset("mnist", str(tmp_path / "nothing"))
    msg = str(e.value)
    assert "train-images-idx3-ubyte.gz" in msg and str(tmp_path / "nothing") in msg
    assert "--data-dir" in msg and "NETBUILDER_DATA" in msg and "--download" in msg
    assert isinstance(e.value, UserError)


def test_incomplete_folder_names_missing_file(tmp_path):
    root = copy_sample(tmp_path / "d")
    (root / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DataError, match=r"missing t10k-labels-idx1-ubyte\.gz") as e:
        load_dataset("mnist", str(root))
    assert str(root) in str(e.value)


def test_truncated_gzip_is_reported_with_its_path(tmp_path):
    root = copy_sample(tmp_path / "d")
    f = root / "train-images-idx3-ubyte.gz"
    f.write_bytes(f.read_bytes()[:5000])
    with pytest.raises(DataError, match="corrupt") as e:
        load_dataset("mnist", str(root))
    assert str(f) in str(e.value) and "--data-dir" in str(e.value)


def test_wrong_idx_size_is_reported(tmp_path):
    root = copy_sample(tmp_path / "d", unpack=True)
    f = root / "t10k-images-idx3-ubyte"
    f.write_bytes(f.read_bytes()[:-100])
    with pytest.raises(DataError, match="header promises") as e:
        load_dataset("mnist", str(root))
    assert str(f) in str(e.value)
    f.write_bytes(b"\x00\x00\x0d\x03" + bytes(20))  # float IDX, not bytes
    with pytest.raises(DataError, match="not an IDX file"):
        load_dataset("mnist", str(root))


def test_unknown_dataset_name():
    with pytest.raises(DataError, match="sample, mnist, fashion-mnist, cifar10"):
        load_dataset("imagenet")
    assert D.normalise_name("FashionMNIST") == "fashion-mnist" and D.normalise_name("CIFAR-10") == "cifar10"


@need_mnist
def test_real_mnist_and_fashion_refuses_it():
    ds = load_dataset("mnist", str(SHARED_MNIST))
    assert len(ds.train_y) == 60000 and len(ds.test_y) == 10000
    assert ds.mean[0] == pytest.approx(0.1307, abs=1e-3) and ds.std[0] == pytest.approx(0.3081, abs=1e-3)
    with pytest.raises(DataError, match="holds MNIST, not Fashion-MNIST"):
        load_dataset("fashion-mnist", str(SHARED_MNIST))
    # the shared folder is read-only: the cache went to the user cache folder
    assert not any(p.suffix == ".pt" for p in SHARED_MNIST.iterdir())


# ---------------------------------------------------------------- CIFAR-10


def write_cifar(folder: Path, n: int = 20) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for name in (*D.CIFAR_TRAIN, D.CIFAR_TEST):
        batch = {"batch_label": name, "labels": [int(v) for v in rng.integers(0, 10, n)],
                 "data": rng.integers(0, 256, (n, 3072), dtype=np.uint8), "filenames": [f"{i}.png" for i in range(n)]}
        with (folder / name).open("wb") as f:
            pickle.dump(batch, f, protocol=2)


def test_cifar_batches_load(tmp_path):
    write_cifar(tmp_path / "c" / "cifar-10-batches-py")
    ds = load_dataset("cifar10", str(tmp_path / "c"))
    assert ds.shape == (3, 32, 32) and len(ds.train_y) == 100 and len(ds.test_y) == 20
    assert ds.classes[0] == "airplane" and len(ds.mean) == 3
    with (tmp_path / "c" / "cifar-10-batches-py" / "data_batch_1").open("rb") as f:
        raw = pickle.load(f)
    assert torch.equal(ds.train_x[:20], torch.from_numpy(raw["data"].reshape(-1, 3, 32, 32)))
    assert load_dataset("cifar10", str(tmp_path / "c")).from_cache


def test_cifar_tarball_is_extracted(tmp_path):
    write_cifar(tmp_path / "src" / "cifar-10-batches-py")
    root = tmp_path / "dl"
    root.mkdir()
    with tarfile.open(root / D.CIFAR_TAR, "w:gz") as tf:
        tf.add(tmp_path / "src" / "cifar-10-batches-py", arcname="cifar-10-batches-py")
    ds = load_dataset("cifar10", str(root))
    assert len(ds.train_y) == 100 and (root / "cifar-10-batches-py" / "test_batch").is_file()


class _Evil:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_cifar_malicious_pickle_is_refused(tmp_path):
    folder = tmp_path / "c" / "cifar-10-batches-py"
    write_cifar(folder)
    marker = tmp_path / "pwned"
    with (folder / "data_batch_3").open("wb") as f:
        pickle.dump({"data": _Evil(marker), "labels": [1]}, f, protocol=2)
    with pytest.raises(DataError, match=r"refused to load (posix|os)\.system") as e:
        load_dataset("cifar10", str(tmp_path / "c"))
    assert "data_batch_3" in str(e.value)
    assert not marker.exists()


def test_cifar_incomplete(tmp_path):
    folder = tmp_path / "c" / "cifar-10-batches-py"
    write_cifar(folder)
    (folder / "data_batch_5").unlink()
    with pytest.raises(DataError, match="missing data_batch_5"):
        load_dataset("cifar10", str(tmp_path / "c"))


# ---------------------------------------------------------------- downloads (local mirror only)


@need_mnist
def test_download_from_mirror_with_progress(tmp_path, monkeypatch):
    import torchvision.datasets as tvd

    monkeypatch.setattr(tvd.MNIST, "mirrors", [SHARED_MNIST.as_uri() + "/"])
    # the shared copies were re-compressed, so their md5s differ from torchvision's list: use theirs
    monkeypatch.setattr(tvd.MNIST, "resources",
                        [(f"{s}.gz", download._md5(SHARED_MNIST / f"{s}.gz")) for s in D.IDX_FILES])
    calls: list[tuple[int, int, str]] = []
    ds = load_dataset("mnist", str(tmp_path / "dl"), download=True, progress=lambda d, t, n: calls.append((d, t, n)))
    assert len(ds.train_y) == 60000
    raw = tmp_path / "dl" / "MNIST" / "raw"
    assert sorted(p.name for p in raw.iterdir()) == sorted(f"{s}.gz" for s in D.IDX_FILES)
    names = {n for _, _, n in calls}
    assert names == {f"{s}.gz" for s in D.IDX_FILES}
    done = max(d for d, _, n in calls if n == "train-images-idx3-ubyte.gz")
    assert done == (SHARED_MNIST / "train-images-idx3-ubyte.gz").stat().st_size
    # a second call finds the files and downloads nothing
    calls.clear()
    load_dataset("mnist", str(tmp_path / "dl"), download=True, progress=lambda d, t, n: calls.append((d, t, n)))
    assert calls == []


@need_mnist
def test_download_checksum_mismatch_is_an_error(tmp_path, monkeypatch):
    import torchvision.datasets as tvd

    monkeypatch.setattr(tvd.MNIST, "mirrors", [SHARED_MNIST.as_uri() + "/"])
    monkeypatch.setattr(tvd.MNIST, "resources", [("t10k-labels-idx1-ubyte.gz", "0" * 32)])
    with pytest.raises(DataError, match="checksum mismatch") as e:
        D.download_dataset("mnist", str(tmp_path / "dl"))
    assert "t10k-labels-idx1-ubyte.gz" in str(e.value)
    assert not list((tmp_path / "dl" / "MNIST" / "raw").iterdir())  # no partial file left behind


def test_download_disabled_offline(tmp_path, monkeypatch):
    monkeypatch.setenv("NETBUILDER_NO_DOWNLOAD", "1")
    with pytest.raises(DataError, match="downloads are disabled") as e:
        D.download_dataset("fashion-mnist", str(tmp_path / "dl"))
    assert "--data-dir" in str(e.value)


# ---------------------------------------------------------------- fitting images to the model


def test_check_compat_names_both_shapes_and_fixes():
    ds = load_dataset("sample")
    msg = check_compat((1, 32, 32), ds, "none")
    assert msg and "1×32×32" in msg and "1×28×28" in msg and "pad" in msg
    assert check_compat((1, 32, 32), ds, "pad") is None
    assert check_compat((1, 32, 32), ds, "resize") is None
    assert check_compat((1, 28, 28), ds) is None
    assert "resize" in (check_compat((1, 24, 24), ds, "pad") or "")
    assert check_compat((1, 24, 24), ds, "resize") is None
    assert "3 channel" in (check_compat((3, 28, 28), ds, "resize") or "")
    assert check_compat((784,), ds) is None
    assert "784" in (check_compat((100,), ds) or "")


def test_prepare_images_pads_resizes_and_normalises():
    ds = load_dataset("sample")
    x = prepare_images(ds.train_x[:2000], ds, (1, 28, 28), "none")
    assert x.dtype == torch.float32 and x.shape == (2000, 1, 28, 28)
    assert float(x.mean()) == pytest.approx(0.0, abs=0.03) and float(x.std()) == pytest.approx(1.0, abs=0.03)
    padded = prepare_images(ds.train_x[:4], ds, (1, 32, 32), "pad")
    assert padded.shape == (4, 1, 32, 32)
    background = (0 - ds.mean[0]) / ds.std[0]
    assert torch.allclose(padded[:, :, :2, :], torch.full_like(padded[:, :, :2, :], background))
    assert torch.allclose(padded[:, :, 2:30, 2:30], x[:4])
    resized = prepare_images(ds.train_x[:4], ds, (1, 32, 32), "resize")
    assert resized.shape == (4, 1, 32, 32)
    flat = prepare_images(ds.train_x[:4], ds, (784,), "none")
    assert flat.shape == (4, 784)


def test_fashion_mnist_torchvision_layout(tmp_path):
    copy_sample(tmp_path / "d" / "FashionMNIST" / "raw")
    copy_sample(tmp_path / "d" / "MNIST" / "raw")
    ds = load_dataset("fashion-mnist", str(tmp_path / "d"))
    assert ds.source == str(tmp_path / "d" / "FashionMNIST" / "raw")
    assert ds.classes[0] == "T-shirt/top" and ds.classes[9] == "Ankle boot" and ds.shape == (1, 28, 28)
    assert load_dataset("mnist", str(tmp_path / "d")).source == str(tmp_path / "d" / "MNIST" / "raw")


# ---------------------------------------------------------------- no leaks when a download or a cache write fails


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc to count open files")
def test_failed_mirror_leaks_no_file_descriptor(tmp_path, monkeypatch):
    import urllib.error
    import urllib.request

    def refuse(url, timeout=None):
        raise urllib.error.URLError("no route to host")

    monkeypatch.delenv("NETBUILDER_NO_DOWNLOAD", raising=False)
    monkeypatch.setattr(urllib.request, "urlopen", refuse)
    before = _open_fds()
    for _ in range(20):
        with pytest.raises(urllib.error.URLError):
            download._fetch("https://mirror.invalid/x.gz", tmp_path / "x.gz", "0" * 32, None)
    assert _open_fds() == before
    assert list(tmp_path.iterdir()) == []  # no .part file either


def test_cache_write_failure_leaves_no_temp_file(tmp_path, monkeypatch):
    def broken_save(obj, f):
        f.write(b"half")
        raise RuntimeError("serialisation failed")

    monkeypatch.setattr(cache.torch, "save", broken_save)
    path = tmp_path / "cache" / "mnist-abc.pt"
    with pytest.raises(RuntimeError):
        cache.save_cache(path, {"key": "k"})
    assert list(path.parent.iterdir()) == []
    # an OSError (full or read-only disk) is no error at all, and leaves nothing either
    def full_disk(obj, f):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(cache.torch, "save", full_disk)
    cache.save_cache(path, {"key": "k"})
    assert list(path.parent.iterdir()) == []
