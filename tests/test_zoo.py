import json
import shutil

import pytest
import torch

from conftest import smooth_images
from omnicodec import zoo
from omnicodec.errors import StaleTablesError, UnknownCodecError, WeightsError


def test_shipped_default_loads_and_is_small():
    entry = zoo.default_entry("image")
    assert entry["codec_id"] == "image/hyperprior"
    tensor_file = zoo.WEIGHTS_DIR / entry["weights_file"]
    assert tensor_file.stat().st_size <= 16 * 1024 * 1024  # the default model stays one float16 file of 16 MiB at most
    loaded = zoo.load(entry["codec_id"], entry["quality"])
    assert loaded.weights_sha256 == entry["sha256"] and loaded.codec_id == entry["codec_id"]
    assert loaded.quality == entry["quality"] and list(loaded.quality_range or []) == entry.get("quality_range", [])
    assert not hasattr(loaded.codec, "weights_sha256") and not hasattr(loaded.codec, "quality")  # nothing patched on
    codec = loaded.codec
    assert not codec.training
    bitstream = codec.compress(smooth_images(1, 64))
    assert set(bitstream.streams) == {"image"}


def test_exported_weights_reload_exactly(tiny_codec, tiny_weights):
    loaded = zoo.load_file_entry(tiny_weights).codec
    x = smooth_images(1, 64, seed=3)
    # the export rounded parameters to float16 and re-froze the tables: the loaded model
    # decodes its own streams exactly and stays close to the float32 original
    bitstream = loaded.compress(x)
    torch.testing.assert_close(loaded.decompress(bitstream), loaded(x).x_hat.clamp(0, 1), rtol=0, atol=1e-5)
    torch.testing.assert_close(loaded(x).x_hat, tiny_codec(x).x_hat, rtol=0, atol=0.02)


def test_exporting_a_model_again_gives_the_same_file(tiny_codec, tmp_path):
    """One model, one sha256: files coded with one export decode with another export of the same model."""
    entries = [json.loads(zoo.save_weights(tiny_codec, tmp_path / str(i), "tiny", 1).read_text()) for i in range(8)]
    assert len({e["sha256"] for e in entries}) == 1
    again = zoo.load_file_entry(tmp_path / "0" / "tiny.json").codec  # and the canonical file loads
    torch.testing.assert_close(again(smooth_images(1, 64)).x_hat, zoo.load_file_entry(tmp_path / "7" / "tiny.json")
                               .codec(smooth_images(1, 64)).x_hat, rtol=0, atol=0)


def test_tampered_weights_fail_the_hash(tmp_path, tiny_weights):
    for suffix in (".json", ".safetensors"):
        shutil.copy(tiny_weights.with_suffix(suffix), tmp_path)
    tensors = tmp_path / tiny_weights.with_suffix(".safetensors").name
    data = bytearray(tensors.read_bytes())
    data[-1] ^= 0xFF
    tensors.write_bytes(bytes(data))
    with pytest.raises(WeightsError, match="sha256"):
        zoo.load_file_entry(tmp_path / tiny_weights.name)


def test_missing_or_foreign_entries(tmp_path, tiny_weights):
    with pytest.raises(WeightsError, match="does not exist"):
        zoo.load_file_entry(tmp_path / "none.json")
    (tmp_path / "x.json").write_text(json.dumps({"hello": 1}))
    with pytest.raises(WeightsError, match="not an omnicodec weights entry"):
        zoo.load_file_entry(tmp_path / "x.json")
    with pytest.raises(UnknownCodecError):
        zoo.load("image/unknown")
    with pytest.raises(WeightsError, match="no shipped quality"):
        zoo.load("image/hyperprior", 99)


def test_modified_parameters_make_tables_stale(tiny_weights):
    codec = zoo.load_file_entry(tiny_weights).codec
    with torch.no_grad():
        codec.latent.entropy_bottleneck.quantiles.add_(0.5)
    with pytest.raises(StaleTablesError):
        codec.compress(smooth_images(1, 64))
    codec.freeze()
    codec.compress(smooth_images(1, 64))


def test_a_failed_export_leaves_the_previous_pair_and_no_folder_it_made(tiny_codec, tmp_path):
    from pathlib import Path

    first = zoo.save_weights(tiny_codec, tmp_path, "m", 1)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    with pytest.raises(WeightsError, match="not plain JSON data"):
        zoo.save_weights(tiny_codec, tmp_path, "m", 2, extra={"note": Path("x")}, overwrite=True)
    with pytest.raises(WeightsError, match="finite number"):
        zoo.save_weights(tiny_codec, tmp_path, "m", float("nan"), overwrite=True)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before  # no temporary left either
    zoo.load_file_entry(first)  # the old pair still loads: its sha256 matches
    with pytest.raises(WeightsError, match="not plain JSON data"):
        zoo.save_weights(tiny_codec, tmp_path / "new" / "deeper", "m", 1, extra={"note": Path("x")})
    assert not (tmp_path / "new").exists()


def test_a_write_that_fails_midway_removes_its_temporaries_and_the_folders_it_made(tiny_codec, tmp_path, monkeypatch):
    from omnicodec import fileio

    real, calls = fileio.make_temp_file, []

    def second_fails(path, suffix=""):
        calls.append(path)
        if len(calls) == 2:
            raise OSError(28, "No space left on device", str(path))
        return real(path, suffix)

    monkeypatch.setattr(fileio, "make_temp_file", second_fails)
    with pytest.raises(OSError, match="No space left"):
        zoo.save_weights(tiny_codec, tmp_path / "new" / "deeper", "m", 1)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name", ["../escaped", "/tmp/absolute", "sub/x", ".", "..", "", ".hidden", "a\\b"])
def test_a_weights_name_must_be_a_plain_file_name(tiny_codec, tmp_path, name):
    with pytest.raises(WeightsError, match="plain file name"):
        zoo.save_weights(tiny_codec, tmp_path / "out", name, 1)
    assert list(tmp_path.iterdir()) == []


def test_an_entry_that_is_not_a_small_regular_file_is_refused(tmp_path):
    (tmp_path / "dir.json").mkdir()
    with pytest.raises(WeightsError, match="is not a file"):
        zoo.read_entry(tmp_path / "dir.json")
    (tmp_path / "big.json").write_bytes(b" " * ((1 << 20) + 1))
    with pytest.raises(WeightsError, match="small JSON file"):
        zoo.read_entry(tmp_path / "big.json")
