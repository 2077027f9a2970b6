"""No code from a user's file: checkpoints load without pickle's code execution, and weights
entries are checked against the codec's allowed ranges before a model is built."""

import builtins
import hashlib
import json

import pytest
import torch

from conftest import run_limited
from omnicodec.cli import main
from omnicodec.codecs import create_codec
from omnicodec.errors import WeightsError
from omnicodec.train.checkpoint import init_from
from omnicodec.train.distill import load_teacher
from omnicodec.train.export import export_checkpoint
from omnicodec.train.lit import LitCodec
from omnicodec.zoo import load_file_entry, save_weights

TINY = {"N": 8, "M": 12}


class WritesAFile:
    """Unpickling this runs ``exec``: what a crafted checkpoint does to whoever loads it."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return builtins.exec, (f"open({self.marker!r}, 'w').write('ran')",)


def checkpoint(path, payload=None, codec_id="image/hyperprior", config=TINY):
    module = LitCodec(codec_id, config)
    state = {"state_dict": module.state_dict(), "hyper_parameters": {"codec_id": codec_id, "codec_config": config}}
    if payload is not None:
        state["callbacks"] = {"x": payload}
    torch.save(state, path)
    return path


@pytest.mark.parametrize("loader", ["export", "cli export", "train --init", "distillation teacher"])
def test_a_checkpoint_with_code_is_refused_and_its_code_never_runs(tmp_path, capsys, loader):
    marker = tmp_path / "pwned"
    ckpt = checkpoint(tmp_path / "evil.ckpt", WritesAFile(marker))
    if loader == "cli export":
        assert main(["export", str(ckpt), str(tmp_path / "zoo")]) == 2
        assert "not loaded" in capsys.readouterr().err
    else:
        with pytest.raises(WeightsError, match="not loaded"):
            if loader == "export":
                export_checkpoint(ckpt, tmp_path / "zoo")
            elif loader == "train --init":
                init_from(LitCodec("image/hyperprior", TINY), str(ckpt))
            else:
                load_teacher("image/hyperprior", TINY, str(ckpt))
    assert not marker.exists()
    assert not (tmp_path / "zoo").exists() or not any((tmp_path / "zoo").iterdir())


def test_plain_checkpoints_still_load(tmp_path):
    ckpt = checkpoint(tmp_path / "good.ckpt")
    entry = export_checkpoint(ckpt, tmp_path / "zoo")
    assert load_file_entry(entry).codec.config() == TINY
    module = LitCodec("image/hyperprior", TINY)
    init_from(module, str(ckpt))
    teacher = load_teacher("image/hyperprior", TINY, str(ckpt))
    saved = torch.load(ckpt, weights_only=True)["state_dict"]
    torch.testing.assert_close(teacher.state_dict()["g_a.0.weight"], saved["codec.g_a.0.weight"])


# --- weights entries: the config is checked before the model is built -----------------------------


@pytest.fixture(scope="module")
def entry_path(tmp_path_factory):
    return save_weights(create_codec("image/hyperprior", TINY).eval().freeze(),
                        tmp_path_factory.mktemp("zoo"), "tiny", quality=1)


def re_signed(entry_path, tmp_path, **config):
    """A copy of the entry with another config; the sha256 still matches its tensors."""
    entry = json.loads(entry_path.read_text())
    entry["config"] = {**entry["config"], **config}
    tensors = entry_path.with_suffix(".safetensors")
    (tmp_path / tensors.name).write_bytes(tensors.read_bytes())
    assert entry["sha256"] == hashlib.sha256(tensors.read_bytes()).hexdigest()
    out = tmp_path / "entry.json"
    out.write_text(json.dumps(entry))
    return out


def test_a_re_signed_entry_declaring_a_huge_model_is_refused_before_allocation(entry_path, tmp_path):
    """N = M = 200000 would ask for about 160 GB; under a 1 GiB memory limit only a check
    made before building the model gives a WeightsError."""
    path = re_signed(entry_path, tmp_path, N=200000, M=200000)
    assert run_limited(lambda: load_file_entry(path), extra_bytes=1 << 30) == "omnicodec: WeightsError"
    with pytest.raises(WeightsError, match="N = 200000"):
        load_file_entry(path)


@pytest.mark.parametrize(
    "config, message",
    [({"N": 0}, "N = 0"), ({"M": True}, "M = True"), ({"N": 8.5}, "N = 8.5"), ({"M": "12"}, "M = '12'"),
     ({"N": float("nan")}, "finite"), ({"depth": 3}, "unknown entry 'depth'"), ({"N": [8] * 40}, "40 elements")],
)
def test_configs_outside_the_allowed_ranges_are_refused(entry_path, tmp_path, config, message):
    with pytest.raises(WeightsError, match=message):
        load_file_entry(re_signed(entry_path, tmp_path, **config))


def test_every_codec_accepts_its_own_default_config():
    from omnicodec.codecs import available_codecs, get_codec_class

    for codec_id in available_codecs():
        cls = get_codec_class(codec_id)
        assert cls.config_ranges(), f"{codec_id} declares no allowed ranges"
        import inspect

        defaults = {k: p.default for k, p in inspect.signature(cls.__init__).parameters.items()
                    if k != "self" and p.default is not p.empty}
        defaults = {k: list(v) if isinstance(v, tuple) else v for k, v in defaults.items()}
        assert cls.validate_config(defaults) == defaults
