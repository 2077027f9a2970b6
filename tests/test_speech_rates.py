"""Variable-rate speech: ECC with gain units serves a continuous quality range from one weights file; the
quality travels in the file, the levels survive export, and training draws a quality and a λ per sample."""

import json

import numpy as np
import pytest
import soundfile as sf
import torch

from omnicodec import compress_file, decompress_file
from omnicodec.codecs import create_codec
from omnicodec.errors import CorruptFileError
from omnicodec.train.lit import LitCodec
from omnicodec.train.losses import mel_loss, multi_resolution_stft_loss, speech_rd_loss
from test_speech import voices

# the MDCT transform starts as a working transform coder, so even an untrained model codes speech
VR = {"channels": [8, 8, 16, 16], "M": 160, "N": 8, "slices": [32, 32, 96], "chunk_frames": 16, "context_frames": 8,
      "transform": "mdct", "skip_threshold": 0.0, "levels": 3, "default_quality": 2}
LAMBDAS = [10.0, 30.0, 90.0]


@pytest.fixture(scope="module")
def codec():
    torch.manual_seed(0)
    return create_codec("speech/ecc", VR).eval().freeze()


@pytest.fixture(scope="module")
def weights(codec, tmp_path_factory):
    from omnicodec.zoo import save_weights

    return save_weights(codec, tmp_path_factory.mktemp("ecc-vr"), "ecc-vr-tiny", quality=2, extra={"lambda_levels": LAMBDAS})


def _snr(x: torch.Tensor, x_hat: torch.Tensor) -> float:
    x, x_hat = x.reshape(-1), x_hat.reshape(-1)[: x.numel()]
    return float(10 * torch.log10(x.pow(2).sum() / (x - x_hat).pow(2).sum()))


def test_rate_and_fidelity_rise_with_quality_and_fractions_land_between(codec):
    x = voices(1, 1.3, seed=3)
    sizes, snrs = {}, {}
    for q in (1, 1.5, 2, 3):
        bitstream = codec.compress(x, quality=q)
        assert bitstream.side_info["quality"] == q
        sizes[q], snrs[q] = bitstream.num_bytes, _snr(x, codec.decompress(bitstream))
    assert sizes[1] < sizes[1.5] < sizes[2] < sizes[3]
    assert snrs[1] < snrs[2] < snrs[3]
    assert codec.compress(x).side_info["quality"] == 2.0  # the default


def test_the_forward_pass_scales_each_sample_by_its_own_quality(codec):
    x = voices(2, 0.64, seed=4)
    torch.manual_seed(1)
    together = codec(x, torch.tensor([1.0, 3.0]))
    bits = [sum((-torch.log2(v[i])).sum() for v in together.likelihoods.values()) for i in range(2)]
    assert bits[0] < bits[1]
    alone = codec(x[1:], 3.0)
    assert torch.allclose(together.x_hat[1:], alone.x_hat, atol=1e-5)


def test_qualities_outside_the_range_are_refused_before_any_work(codec):
    x = voices(1, 0.2)
    for bad in (0.5, 3.5, float("nan"), "2"):
        with pytest.raises(ValueError, match="quality must be a number from 1 to 3"):
            codec.compress(x, quality=bad)
    fixed = create_codec("speech/ecc", {**VR, "levels": 0})
    with pytest.raises(ValueError, match="one fixed rate"):
        fixed.compress(x, quality=2)


def test_a_file_records_its_quality_and_decodes_with_it(tmp_path, weights):
    from omnicodec.zoo import load_file_entry

    codec = load_file_entry(weights).codec  # the weights as stored (float16)
    x = voices(1, 1.3, seed=5)
    sf.write(tmp_path / "in.wav", x.view(-1).numpy(), 16000, subtype="FLOAT")
    sizes = []
    for q in (1.25, 2.75):
        out = tmp_path / f"q{q}.omc"
        result = compress_file(tmp_path / "in.wav", out, weights=weights, quality=q)
        sizes.append(result.num_bytes)
        decompress_file(out, tmp_path / f"q{q}.wav", weights=weights)
        decoded, _ = sf.read(tmp_path / f"q{q}.wav", dtype="float32")
        expected = codec.decompress(codec.compress(x, quality=q)).view(-1).numpy()
        assert decoded.size == x.shape[-1]
        assert np.abs(decoded - expected).max() <= 2 / 32768  # the in-memory decode at that quality, 16-bit
    assert sizes[0] < sizes[1]


def test_a_file_that_declares_a_quality_outside_the_range_is_refused(codec):
    bitstream = codec.compress(voices(1, 0.3), quality=2)
    header = {**bitstream.side_info, "chunk_samples": codec.chunk_samples}
    codec.unit_decoder(header)  # the file's own header is accepted
    for bad in (9, 0, "x", None):
        with pytest.raises(CorruptFileError, match="invalid quality"):
            codec.unit_decoder({**header, "quality": bad})


def test_a_file_that_declares_a_malformed_skip_threshold_is_refused(codec):
    header = {**codec.compress(voices(1, 0.3), quality=2).side_info, "chunk_samples": codec.chunk_samples}
    for good in (0, 0.2):
        codec.unit_decoder({**header, "skip_tau": good})
    for bad in ("0.2", "nan", float("nan"), float("inf"), -0.1, True, None, [0.2]):
        with pytest.raises(CorruptFileError, match="skip threshold"):
            codec.unit_decoder({**header, "skip_tau": bad})


def test_levels_survive_export_and_reload(codec, weights):
    from omnicodec.zoo import load_file_entry

    entry = json.loads(weights.read_text())
    assert entry["quality_range"] == [1, 3] and entry["lambda_levels"] == LAMBDAS
    loaded = load_file_entry(weights).codec
    assert torch.equal(loaded.gains.log_gain, codec.gains.log_gain.half().float())
    q = torch.tensor([2.5])
    assert torch.allclose(loaded.gains.gain(q), codec.gains.gain(q), rtol=1e-3)
    x = voices(1, 0.64, seed=6)
    sizes = [loaded.compress(x, quality=q).num_bytes for q in (2, 2.5, 3)]
    assert sizes == sorted(sizes) and sizes[0] < sizes[2]


def test_per_sample_lambda_equals_one_lambda_when_all_are_equal(codec):
    x = voices(3, 0.64, seed=7)
    torch.manual_seed(2)
    out = codec(x, 2.0)
    one = speech_rd_loss(out, x, 30.0)
    per_sample = speech_rd_loss(out, x, torch.full((3,), 30.0))
    assert torch.allclose(one["loss"], per_sample["loss"], rtol=1e-5)
    assert torch.allclose(one["distortion"], per_sample["distortion"], rtol=1e-5)
    # raising the third sample's λ adds exactly that sample's own distortion, weighted
    a, b = out.x_hat.flatten(0, -2), x.flatten(0, -2)
    third = (multi_resolution_stft_loss(a, b, per_sample=True) + mel_loss(a, b, per_sample=True))[2]
    weighted = speech_rd_loss(out, x, torch.tensor([30.0, 30.0, 300.0]))
    assert torch.allclose(weighted["loss"] - one["loss"], 270.0 * third / 3, rtol=1e-4)


def test_training_with_frozen_transforms_and_gains_moves_only_the_entropy_model():
    torch.manual_seed(0)
    lit = LitCodec("speech/ecc", VR, lmbda_levels=LAMBDAS, freeze=["g_a", "g_s", "gains"])
    before = {n: p.detach().clone() for n, p in lit.codec.named_parameters()}
    main, aux = lit.trained_parameters()
    opt = torch.optim.Adam(main, lr=1e-2)
    x = voices(4, 0.64, seed=8)
    loss = lit.losses(x)["loss"]
    opt.zero_grad()
    loss.backward()
    opt.step()
    moved = {n for n, p in lit.codec.named_parameters() if not torch.equal(p, before[n])}
    assert moved and all(n.startswith("latent.") for n in moved)


def test_a_checkerboard_in_time_codes_through_a_file_and_its_weights(tmp_path):
    """``spatial: checkerboard``: even latent frames first, odd ones from their decoded neighbours."""
    from omnicodec.zoo import load_file_entry, save_weights

    torch.manual_seed(0)
    codec = create_codec("speech/ecc", {**VR, "spatial": "checkerboard"}).eval().freeze()
    weights = save_weights(codec, tmp_path, "ecc-cb", quality=2, extra={"lambda_levels": LAMBDAS})
    loaded = load_file_entry(weights).codec
    assert loaded.config()["spatial"] == "checkerboard" and loaded.latent.exact_parameters
    x = voices(1, 1.3, seed=9)
    sf.write(tmp_path / "in.wav", x.view(-1).numpy(), 16000, subtype="FLOAT")
    compress_file(tmp_path / "in.wav", tmp_path / "a.omc", weights=weights, quality=2.5)
    decompress_file(tmp_path / "a.omc", tmp_path / "a.wav", weights=weights)
    decoded, _ = sf.read(tmp_path / "a.wav", dtype="float32")
    expected = loaded.decompress(loaded.compress(x, quality=2.5)).view(-1).numpy()
    assert np.abs(decoded - expected).max() <= 2 / 32768
    assert _snr(x, torch.from_numpy(decoded)) > 10
    with pytest.raises(ValueError, match="spatial 'diagonal'"):
        create_codec("speech/ecc", {**VR, "spatial": "diagonal"})


def test_the_shipped_speech_model_codes_a_recording_out_of_the_box(tmp_path):
    """``omnicodec compress voice.wav`` needs no weights option: the shipped variable-rate model codes it
    at its default quality, or at any quality in its range, and the decoded speech resembles the input."""
    from omnicodec import zoo
    from omnicodec.cli import main
    from omnicodec.datasets.audio import load_mono
    from test_speech import FIXTURE

    entry = zoo.find_entry("speech/ecc")
    assert entry.get("default") and entry["quality_range"] == [1, 8]
    reference = load_mono(FIXTURE)  # 22.05 kHz stereo in, 16 kHz mono coded
    sizes = []
    for q in ("1", "8"):
        assert main(["compress", str(FIXTURE), str(tmp_path / f"q{q}.omc"), "--quality", q]) == 0
        assert main(["decompress", str(tmp_path / f"q{q}.omc"), str(tmp_path / f"q{q}.wav")]) == 0
        decoded, rate = sf.read(tmp_path / f"q{q}.wav", dtype="float32")
        assert rate == 16000 and decoded.shape == reference.shape
        sizes.append((tmp_path / f"q{q}.omc").stat().st_size)
        snr = _snr(torch.from_numpy(reference), torch.from_numpy(decoded))
        assert snr > (12 if q == "1" else 28)  # measured: 15.5 and 31.6 dB
    assert sizes[0] < sizes[1]
    assert main(["compress", str(FIXTURE), str(tmp_path / "default.omc")]) == 0


def test_evaluate_weights_measures_each_quality_of_a_variable_rate_speech_model(tmp_path, weights):
    from omnicodec.eval.weights import evaluate_weights

    folder = tmp_path / "vctk"
    folder.mkdir()
    sf.write(folder / "a.wav", voices(1, 1.3, seed=11).view(-1).numpy(), 16000, subtype="FLOAT")
    results = evaluate_weights(weights, folder, speech_metrics=False).results
    assert results["quality"] == [1.0, 3.0]  # the ends of the range (the burst's before/after check)
    assert results["kbps"][0] < results["kbps"][1] and results["snr"][0] < results["snr"][1]
    assert evaluate_weights(weights, folder, speech_metrics=False, qualities=[2.5]).results["quality"] == [2.5]
