"""ECC's STFT and MDCT transforms: the fixed pairs reconstruct a signal, chunks with context equal one
pass over the whole signal (no clicks at chunk boundaries), and a model with either round-trips exactly
through a file and its weights."""

import numpy as np
import pytest
import soundfile as sf
import torch
from torch import nn

from conftest import fit
from omnicodec import compress_file, decompress_file
from omnicodec.codecs import create_codec
from omnicodec.errors import WeightsError
from omnicodec.layers.mdct import HopMDCT
from omnicodec.layers.stft import HopSTFT
from omnicodec.train.losses import speech_rd_loss
from test_speech import voices

STFT = {"channels": [8, 8, 16, 16], "M": 16, "N": 8, "slices": [4, 4, 8], "chunk_frames": 16, "context_frames": 8,
        "transform": "stft"}
MDCT = {**STFT, "M": 160, "slices": [32, 32, 96], "transform": "mdct"}
CONFIGS = {"waveform": {**STFT, "transform": "waveform"}, "stft": STFT, "mdct": MDCT}


def test_the_stft_pair_reconstructs_a_signal():
    x = voices(2, 0.64, seed=1)
    stft = HopSTFT(160)
    coefficients = stft.analyse(x)
    assert coefficients.shape == (2, 322, x.shape[-1] // 160)
    back = stft.synthesise(coefficients)
    assert back.shape == x.shape
    # every hop but the last, which needs the next frame (a chunk's right context supplies it)
    assert (back - x)[..., :-160].abs().max() < 1e-5  # measured: 1.8e-7
    # the last hop is faded, not divided by the tail of the window: arbitrary coefficients (a
    # synthesis network's output in training) stay bounded there (measured 5.2; 71 without)
    noise = torch.randn(1, 322, 10, generator=torch.Generator().manual_seed(0))
    assert stft.synthesise(noise).abs().max() < 10


def test_the_mdct_pair_reconstructs_a_signal_and_keeps_its_energy():
    x = voices(2, 0.64, seed=1)
    mdct = HopMDCT(160)
    coefficients = mdct.analyse(x)
    assert coefficients.shape == (2, 160, x.shape[-1] // 160)  # critically sampled: one coefficient per sample
    back = mdct.synthesise(coefficients)
    assert back.shape == x.shape
    assert (back - x)[..., :-160].abs().max() < 1e-5  # measured: 1.7e-6 on white noise
    # an orthonormal lapped transform: the coefficients hold the signal's energy (the first hop, seen with
    # the zeros before it, and the last, whose next frame is missing, excepted)
    inner = coefficients[..., 1:-1].pow(2).sum() / x[..., 160:-320].pow(2).sum()
    assert 0.9 < float(inner) < 1.1


def test_the_mdct_model_starts_as_a_scaled_transform_and_needs_its_width():
    """Unquantized, the MDCT model's untrained analysis and synthesis give the signal back (up to GDN and
    IGDN being inverse to first order): training starts from a working transform coder (rounding the
    latent is a uniform quantizer of step 1/32)."""
    model = create_codec("speech/ecc", MDCT).eval()
    x = voices(1, 0.64, seed=4)

    def snr(error: torch.Tensor) -> float:
        return float(10 * torch.log10(x[..., :-160].pow(2).sum() / error[..., :-160].pow(2).sum()))

    with torch.no_grad():
        y = model.g_a(x)
        assert snr(model.g_s(y) - x) > 32  # measured: 37.2 dB
        assert snr(model.g_s(torch.round(y)) - x) > 20  # measured: 25.2 dB on these voices
    # latent residual prediction starts at zero (random corrections would add noise of their own), so the
    # whole untrained codec decodes the rounded latent (around its predicted mean)
    for net in model.latent.y_codec.lrp:
        inputs = net[0].in_channels
        assert not net(torch.randn(2, inputs, 12)).any()
    model = create_codec("speech/ecc", {**MDCT, "skip_threshold": 0.0}).eval().freeze()
    decoded = model.decompress(model.compress(x)).reshape(x.shape)
    assert snr(decoded - x) > 22  # measured: 23.4 dB
    with pytest.raises(ValueError, match="M must be 160"):
        create_codec("speech/ecc", {**MDCT, "M": 16, "slices": [4, 4, 8]})


@pytest.mark.parametrize("transform", ["stft", "mdct"])
def test_chunks_through_the_bare_transform_reconstruct_the_whole_signal(transform):
    """The codec's chunked analysis and synthesis with the learned networks taken out: the
    inverse transform of every chunk with its context rebuilds the signal across chunk boundaries."""
    model = create_codec("speech/ecc", CONFIGS[transform]).eval()
    model.g_a, model.g_s = nn.Sequential(model.g_a[0]), nn.Sequential(model.g_s[-1])
    x = voices(1, 1.0, seed=2)  # 16,000 samples: 6.25 chunks, so the end lies inside the last chunk
    latents = [model.analyse_chunk(x, s) for s in range(0, x.shape[-1], model.chunk_samples)]
    out = torch.cat([
        model.synthesise_chunk(latents[k - 1] if k else None, latents[k], latents[k + 1] if k + 1 < len(latents) else None)
        for k in range(len(latents))
    ], dim=-1)[..., : x.shape[-1]]
    assert (out - x).abs().max() < 1e-5  # measured: 2.4e-7


@pytest.mark.parametrize("transform", ["waveform", "stft", "mdct"])
def test_chunks_with_context_equal_one_pass_over_the_whole_signal(transform):
    torch.manual_seed(0)
    model = create_codec("speech/ecc", CONFIGS[transform]).eval()
    if transform == "mdct":  # its correction branches start at zero: give them something to compute
        with torch.no_grad():
            for net in (model.g_a[-1], model.g_s[0]):
                net.body[-1].weight.normal_(0, 0.05)
    x = voices(1, 2.56, seed=3)  # 16 chunks of 16 frames
    n, edge = model.chunk_frames, model.chunk_frames  # the signal's ends see zeros where one pass sees padding
    with torch.no_grad():
        whole = model.g_a(x)
        chunked = torch.cat([model.analyse_chunk(x, s) for s in range(0, x.shape[-1], model.chunk_samples)], -1)
        # float rounding relative to the latent's scale (the MDCT model's is ~32 per unit of signal; the
        # kernels a CPU picks for different lengths round differently); missing context errs by the signal
        assert (whole - chunked)[..., edge:-edge].abs().max() < 1e-5 * max(1.0, float(whole.abs().max()))
        parts = list(whole.split(n, dim=-1))
        synthesised = torch.cat([
            model.synthesise_chunk(parts[k - 1] if k else None, parts[k], parts[k + 1] if k + 1 < len(parts) else None)
            for k in range(len(parts))
        ], dim=-1)
        assert (model.g_s(whole) - synthesised)[..., edge * 160 : -edge * 160].abs().max() < 1e-5


def _trained(transform: str, folder):
    from omnicodec.zoo import save_weights

    torch.manual_seed(0)
    model = create_codec("speech/ecc", CONFIGS[transform])
    data = voices(8)
    model = fit(model, lambda step: data[(step * 4) % 8 : (step * 4) % 8 + 4],
                lambda out, x: speech_rd_loss(out, x, 30.0)["loss"], steps=40 if transform == "stft" else 10)
    return save_weights(model, folder, f"ecc-{transform}-tiny", quality=1)


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    return _trained("stft", tmp_path_factory.mktemp("stft-weights"))


@pytest.fixture(scope="module")
def mdct_weights(tmp_path_factory):
    return _trained("mdct", tmp_path_factory.mktemp("mdct-weights"))


@pytest.mark.parametrize("transform", ["stft", "mdct"])
def test_the_model_round_trips_through_its_weights_and_a_file(tmp_path, transform, request):
    from omnicodec.zoo import load_file_entry

    weights = request.getfixturevalue("weights" if transform == "stft" else "mdct_weights")
    model = load_file_entry(weights).codec
    assert model.transform == transform and model.latent.exact_parameters
    x = voices(1, 1.3, seed=5)
    bitstream = model.compress(x)
    assert bitstream.side_info.get("entropy_params") is not None
    sf.write(tmp_path / "in.wav", x.view(-1).numpy(), 16000, subtype="FLOAT")
    result = compress_file(tmp_path / "in.wav", tmp_path / "a.omc", weights=weights)
    assert result.num_bytes > bitstream.num_bytes  # the same units plus the container
    decompress_file(tmp_path / "a.omc", tmp_path / "a.wav", weights=weights)
    decoded, _ = sf.read(tmp_path / "a.wav", dtype="float32")
    expected = model.decompress(bitstream).view(-1).numpy()
    assert decoded.size == x.shape[-1]
    assert np.abs(decoded - expected).max() <= 2 / 32768  # 16-bit output


def test_an_unknown_transform_is_refused(weights, tmp_path):
    import json

    from omnicodec.zoo import load_file_entry

    entry = json.loads(weights.read_text())
    entry["config"]["transform"] = "wavelet"
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(entry))
    (tmp_path / entry["weights_file"]).write_bytes((weights.parent / entry["weights_file"]).read_bytes())
    with pytest.raises(WeightsError, match="transform"):
        load_file_entry(bad)
