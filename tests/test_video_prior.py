"""Training the temporal prior alone on cached latents of frozen frame transforms."""

from __future__ import annotations

import json

import numpy as np
import torch
from PIL import Image

from conftest import smooth_images
from omnicodec.codecs.video.stem import STEMVideoCodec
from omnicodec.train import video_prior
from omnicodec.train.video_prior import cache_latents, p_frame_rate, train_prior
from omnicodec.zoo import load_file_entry, save_weights


def moving_frames(n: int, seed: int) -> list[np.ndarray]:
    """A smooth picture panning by two pixels a frame: [96, 96, 3] uint8 frames."""
    base = (smooth_images(1, 96 + 2 * n, seed=seed)[0].permute(1, 2, 0).numpy() * 255).astype(np.uint8)
    return [np.ascontiguousarray(base[2 * t : 2 * t + 96, t : t + 96]) for t in range(n)]


def test_training_lowers_the_p_frame_rate_and_changes_only_inter(variable_image_codec):
    codec = STEMVideoCodec.from_image(variable_image_codec, intra_period=4)
    latents = cache_latents(codec, [moving_frames(6, seed=1), moving_frames(6, seed=2)])
    assert [tuple(y.shape) for y in latents] == [(6, 24, 8, 8)] * 2  # 96 pixels padded to 128, stride 16
    before = {k: v.clone() for k, v in codec.state_dict().items()}
    losses = train_prior(codec, latents, steps=60, batch=4, frames=3, size=4, lr=3e-3)
    assert np.mean(losses[-10:]) < 0.8 * np.mean(losses[:10]), (losses[:10], losses[-10:])
    after = codec.state_dict()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed and all(k.startswith("inter.") for k in changed), sorted(changed)[:5]
    assert any(k.startswith("inter.temporal_prior.") for k in changed)


def test_the_intra_reference_is_what_compress_frame_decodes(variable_image_codec):
    codec = STEMVideoCodec.from_image(variable_image_codec, intra_period=4).eval().freeze()
    frames = moving_frames(2, seed=3)
    y = torch.stack(cache_latents(codec, [frames]))  # [1, 2, M, h, w]
    quality = torch.tensor([2.5])
    seen = []
    codec.inter.forward = lambda target, reference: seen.append(reference) or (None, {}, target)
    p_frame_rate(codec, y, quality)
    x = torch.from_numpy(frames[0]).permute(2, 0, 1)[None].float() / 255
    _, y_hat = codec.compress_frame(x, 0, None, 2.5)
    assert torch.allclose(seen[0], y_hat, atol=1e-5)


def test_the_command_trains_from_image_weights_and_goes_on(tmp_path, variable_image_codec, capsys):
    image = save_weights(variable_image_codec, tmp_path / "w", "image-tiny", quality=2)
    data = tmp_path / "clips" / "one"
    data.mkdir(parents=True)
    for t, frame in enumerate(moving_frames(4, seed=4)):
        Image.fromarray(frame).save(data / f"frame_{t:03d}.png")
    args = ["--data", str(tmp_path / "clips"), "--out", str(tmp_path / "out"), "--crop", "64", "--batch", "2",
            "--export-every", "2", "--intra-period", "16"]
    assert video_prior.main(["--init", str(image), "--steps", "3", *args]) == 0
    out = tmp_path / "out" / "video-stem-prior.json"
    entry = json.loads(out.read_text())
    assert entry["training"]["prior_steps"] == 3 and entry["config"]["intra_period"] == 16
    assert entry["converted_from"] == json.loads(image.read_text())["sha256"]
    capsys.readouterr()
    assert video_prior.main(["--init", str(out), "--steps", "5", *args[:-1], "4"]) == 0  # 2 more steps
    assert [line.split(":")[0] for line in capsys.readouterr().out.splitlines() if "wrote" in line] == ["step 5"]
    entry = json.loads(out.read_text())
    assert entry["training"]["prior_steps"] == 5 and entry["converted_from"] == json.loads(image.read_text())["sha256"]
    codec = load_file_entry(out).codec
    assert isinstance(codec, STEMVideoCodec) and codec.intra_period == 4
    assert video_prior.main(["--init", str(out), "--steps", "6", *args[:-2]]) == 0  # no --intra-period: its own
    assert load_file_entry(out).codec.intra_period == 4


def test_the_warm_start_codes_p_frames_exactly_as_intra_frames(variable_image_codec):
    codec = STEMVideoCodec.from_image(variable_image_codec, intra_period=4).eval()
    video_prior.start_inter_as_intra(codec, shift=1000.0)  # above every parameter's magnitude: exact
    y = 4 * torch.randn(2, 24, 8, 8, generator=torch.Generator().manual_seed(5))  # latents as trained models give
    for q in (1.0, 4.0):
        scaled = codec.gains.scale(y, q)
        with torch.no_grad():
            reference, intra, means = codec.intra(scaled[:1])
            _, inter, inter_means = codec.inter(scaled[1:], reference)
            _, intra_next, intra_next_means = codec.intra(scaled[1:])
        assert torch.equal(inter_means, intra_next_means)
        assert torch.allclose(inter["y"], intra_next["y"]) and torch.allclose(inter["z"], intra_next["z"])


def test_exports_do_not_disturb_training(variable_image_codec):
    latents = cache_latents(STEMVideoCodec.from_image(variable_image_codec), [moving_frames(5, seed=6)])
    runs = []
    for every in (0, 2):
        torch.manual_seed(0)
        codec, exported = STEMVideoCodec.from_image(variable_image_codec), []
        runs.append(train_prior(codec, latents, steps=5, batch=2, size=4, lr=3e-3, export_every=every,
                                on_export=exported.append))
    assert runs[0] == runs[1] and exported == [2, 4, 5]


def test_a_residual_inter_codec_learns_what_the_reference_adds(variable_image_codec):
    from omnicodec.train.convert import add_context

    codec = STEMVideoCodec.from_image(add_context(variable_image_codec), intra_period=4)
    assert codec.inter_prior == "residual-checkerboard"
    latents = cache_latents(codec, [moving_frames(6, seed=1), moving_frames(6, seed=2)])
    y, quality = torch.stack([latents[0][:3], latents[1][:3]]), torch.tensor([1.5, 3.5])

    def rates() -> tuple[float, float]:  # P-frame rate, and the same frames coded intra
        with torch.no_grad():
            p = float(p_frame_rate(codec.eval(), y, quality))
            intra = sum(float(video_prior.bits_from_likelihoods(codec.intra(codec.gains.scale(y[:, t], quality))[1]))
                        for t in (1, 2))
        return p, intra / (2 * 2 * 8 * 8 * 16**2)

    p, intra = rates()
    assert abs(p - intra) < 1e-4 * intra  # it starts at the intra rate, context included
    train_prior(codec.train(), latents, steps=60, batch=4, frames=3, size=4, lr=3e-3)
    p, intra_after = rates()
    assert intra_after == intra and p < 0.9 * intra, (p, intra)


def test_motion_training_learns_from_moved_references_and_changes_only_inter(variable_image_codec):
    codec = video_prior.with_motion(STEMVideoCodec.from_image(variable_image_codec, intra_period=4), 16, 4)
    assert codec.motion_block == 16 and codec.motion_range == 4
    pairs = video_prior.motion_pairs(codec.eval(), [moving_frames(4, seed=5), moving_frames(3, seed=6)])
    levels = codec.gains.levels
    assert len(pairs) == 5 and all(tuple(m.shape) == (levels, *y.shape) for y, m in pairs)
    before = {k: v.clone() for k, v in codec.state_dict().items()}
    losses = video_prior.train_motion_prior(codec, pairs, steps=40, batch=4, size=4, lr=3e-3)
    assert np.mean(losses[-10:]) < 0.8 * np.mean(losses[:10]), (losses[:10], losses[-10:])
    changed = {k for k, v in codec.state_dict().items() if not torch.equal(before[k], v)}
    assert changed and all(k.startswith("inter.") for k in changed), sorted(changed)[:5]


def test_the_command_turns_motion_on(tmp_path, variable_image_codec):
    video = save_weights(STEMVideoCodec.from_image(variable_image_codec, intra_period=4), tmp_path / "w", "video-tiny",
                         quality=2)
    data = tmp_path / "clips" / "one"
    data.mkdir(parents=True)
    for t, frame in enumerate(moving_frames(3, seed=4)):
        Image.fromarray(frame).save(data / f"frame_{t:03d}.png")
    assert video_prior.main(["--init", str(video), "--steps", "2", "--data", str(tmp_path / "clips"), "--out",
                             str(tmp_path / "out"), "--crop", "64", "--batch", "2", "--motion-block", "16",
                             "--motion-range", "4"]) == 0
    entry = json.loads((tmp_path / "out" / "video-stem-prior.json").read_text())
    assert entry["config"]["motion_block"] == 16 and entry["config"]["motion_range"] == 4
    assert "moved" in entry["training"]["recipe"]


def test_the_command_counts_the_steps_a_shipped_entry_states(tmp_path, variable_image_codec, capsys):
    video = save_weights(STEMVideoCodec.from_image(variable_image_codec, intra_period=4), tmp_path / "w", "video-tiny",
                         quality=2, extra={"training": {"steps": 7}})  # as the shipped entries say it
    data = tmp_path / "clips" / "one"
    data.mkdir(parents=True)
    for t, frame in enumerate(moving_frames(3, seed=4)):
        Image.fromarray(frame).save(data / f"frame_{t:03d}.png")
    args = ["--init", str(video), "--out", str(tmp_path / "out"), "--crop", "64", "--batch", "2", "--export-every", "1"]
    capsys.readouterr()
    assert video_prior.main([*args, "--steps", "9", "--data", str(tmp_path / "clips")]) == 0  # 2 more steps
    assert [line.split(":")[0] for line in capsys.readouterr().out.splitlines() if "wrote" in line][0] == "step 8"
    assert json.loads((tmp_path / "out" / "video-stem-prior.json").read_text())["training"]["prior_steps"] == 9
    (tmp_path / "empty").mkdir()
    assert video_prior.main([*args, "--steps", "12", "--data", str(tmp_path / "empty")]) == 2
    err = capsys.readouterr().err
    assert "holds no video sequences" in err and len(err.strip().splitlines()) == 1
