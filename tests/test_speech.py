"""The ECC speech codec: exact symbols, bits that match the model, entropy skip, files of any
rate, channel count and length, and clean errors."""

import numpy as np
import pytest
import soundfile as sf
import torch

from conftest import FIXTURES, fit
from omnicodec import compress_file, decompress_file
from omnicodec.codecs import create_codec
from omnicodec.errors import InputError
from omnicodec.train.losses import speech_rd_loss

TINY = {"channels": [8, 8, 16, 16], "M": 16, "N": 8, "slices": [4, 4, 8], "skip_threshold": 0.1, "chunk_frames": 16,
        "context_frames": 4}
FIXTURE = FIXTURES / "voice-22k-stereo.wav"


def voices(n, seconds=0.64, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * 16000)) / 16000
    out = []
    for _ in range(n):
        f0 = rng.uniform(90, 220) + 20 * np.sin(2 * np.pi * rng.uniform(0.5, 2) * t)
        phase = 2 * np.pi * np.cumsum(f0) / 16000
        v = sum(np.sin(k * phase) / k for k in range(1, 8)) * (0.5 + 0.5 * np.sin(2 * np.pi * rng.uniform(2, 5) * t)) ** 2
        out.append(0.3 * v / np.abs(v).max() + 0.003 * rng.normal(size=t.size))
    return torch.tensor(np.stack(out), dtype=torch.float32).unsqueeze(1)


@pytest.fixture(scope="module")
def codec():
    torch.manual_seed(0)
    model = create_codec("speech/ecc", TINY)
    data = voices(8)
    return fit(model, lambda step: data[(step * 4) % 8 : (step * 4) % 8 + 4],
               lambda out, x: speech_rd_loss(out, x, 30.0)["loss"], steps=80)


@pytest.fixture(scope="module")
def weights(codec, tmp_path_factory):
    from omnicodec.zoo import save_weights

    return save_weights(codec, tmp_path_factory.mktemp("speech-weights"), "ecc-tiny", quality=1)


def test_symbols_round_trip_exactly_and_cost_what_the_model_says(codec):
    x = voices(1, 1.0, seed=3)
    reference, ideal, coded = None, 0.0, 0
    for start in range(0, x.shape[-1], codec.chunk_samples):
        y = codec.analyse_chunk(x, start)
        with torch.no_grad():
            _, likelihoods, _ = codec.latent(y, reference)
        bitstream, y_hat = codec.compress_chunk(y, reference)
        decoded = codec.decompress_chunk(bitstream, reference)
        assert torch.equal(decoded, y_hat)
        ideal += sum(float((-torch.log2(v)).sum()) for v in likelihoods.values())
        coded += 8 * bitstream.num_bytes
        reference = y_hat
    chunks = -(-x.shape[-1] // codec.chunk_samples)
    assert ideal > 500
    assert abs(coded - ideal) <= 0.01 * ideal + 64 * 2 * chunks


def test_entropy_skip_reduces_bits(codec):
    # Several chunks' latents side by side: a tiny model puts little in each chunk, and one
    # chunk's saving can hide inside the stream's last byte.
    x = voices(1, 5.12, seed=4)
    y = torch.cat([codec.analyse_chunk(x, s) for s in range(0, x.shape[-1], codec.chunk_samples)], -1)
    plain, _ = codec.latent.compress(y, None, tau=0.0)
    skipped, y_hat = codec.latent.compress(y, None, tau=0.3)
    assert skipped.stats["skip_rate"] > 0.05
    assert skipped.num_bytes < plain.num_bytes
    assert torch.equal(codec.latent.decompress(skipped), y_hat)


def test_file_round_trip_any_rate_and_channels(tmp_path, weights):
    result = compress_file(FIXTURE, tmp_path / "v.omc", weights=weights)
    info = sf.info(FIXTURE)
    assert result.media == "speech" and result.kbps > 0
    back = decompress_file(tmp_path / "v.omc", tmp_path / "v.wav", weights=weights)
    audio, rate = sf.read(tmp_path / "v.wav")
    assert rate == 16000 and audio.ndim == 1
    assert abs(audio.size - round(info.frames * 16000 / info.samplerate)) <= 2
    assert back.samples == audio.size
    decompress_file(tmp_path / "v.omc", tmp_path / "v44.flac", weights=weights, sample_rate=44100)
    audio44, rate44 = sf.read(tmp_path / "v44.flac")
    assert rate44 == 44100 and abs(audio44.size - audio.size * 44100 / 16000) <= 2


def test_file_matches_the_in_memory_codec(tmp_path, weights):
    from omnicodec.zoo import load_file_entry

    x = voices(1, 1.3, seed=5)
    sf.write(tmp_path / "in.wav", x.view(-1).numpy(), 16000, subtype="FLOAT")
    compress_file(tmp_path / "in.wav", tmp_path / "a.omc", weights=weights)
    decompress_file(tmp_path / "a.omc", tmp_path / "a.wav", weights=weights)
    model = load_file_entry(weights).codec
    expected = model.decompress(model.compress(x)).view(-1).numpy()
    decoded, _ = sf.read(tmp_path / "a.wav", dtype="float32")
    assert np.abs(decoded - expected).max() <= 2 / 32768  # 16-bit output


@pytest.mark.parametrize("samples", [0, 1, 4000])
def test_empty_one_sample_and_silent_inputs(tmp_path, weights, samples, capsys):
    sf.write(tmp_path / "in.wav", np.zeros(samples, np.float32), 16000)
    result = compress_file(tmp_path / "in.wav", tmp_path / "a.omc", weights=weights)
    # no samples, no bit rate (not bits / 1e-9 s)
    assert ("kbit/s" in result.summary()) == (samples > 0)
    assert np.isnan(result.kbps) if samples == 0 else result.kbps > 0
    from omnicodec.cli import main

    assert main(["info", str(tmp_path / "a.omc")]) == 0
    assert ("kbit/s (whole file)" in capsys.readouterr().out) == (samples > 0)
    decompress_file(tmp_path / "a.omc", tmp_path / "a.wav", weights=weights)
    audio, _ = sf.read(tmp_path / "a.wav")
    assert audio.size == samples and np.isfinite(audio).all()


def test_clean_errors_for_empty_and_non_audio_files(tmp_path, weights):
    (tmp_path / "empty.wav").write_bytes(b"")
    with pytest.raises(InputError, match="not an audio file"):
        compress_file(tmp_path / "empty.wav", tmp_path / "a.omc", weights=weights)
    (tmp_path / "text.flac").write_text("hello, not audio")
    with pytest.raises(InputError, match="not an audio file"):
        compress_file(tmp_path / "text.flac", tmp_path / "a.omc", weights=weights)
    assert not (tmp_path / "a.omc").exists()
    compress_file(FIXTURE, tmp_path / "ok.omc", weights=weights)
    with pytest.raises(InputError, match=".wav, .flac or .ogg"):
        decompress_file(tmp_path / "ok.omc", tmp_path / "out.mp3", weights=weights)
    with pytest.raises(InputError, match="unsupported output sample rate 0 Hz"):  # not "the default"
        decompress_file(tmp_path / "ok.omc", tmp_path / "out.wav", weights=weights, sample_rate=0)
    assert not (tmp_path / "out.wav").exists()


def test_cli_round_trip(tmp_path, weights):
    from test_cli import run

    r = run("compress", FIXTURE, tmp_path / "v.omc", "--weights", weights)
    assert r.returncode == 0, r.stderr
    assert "kbit/s" in r.stdout
    r = run("decompress", tmp_path / "v.omc", tmp_path / "v.wav", "--weights", weights)
    assert r.returncode == 0, r.stderr
    assert sf.info(tmp_path / "v.wav").samplerate == 16000
