"""Speech input (:mod:`omnicodec.datasets.audio`): the mean of all channels, resampled with
soxr VHQ, the same whether read whole or block by block."""

import numpy as np
import soundfile as sf
import soxr

from conftest import FIXTURES
from omnicodec.constants import SPEECH_RATE
from omnicodec.datasets.audio import load_mono, mono_blocks


def test_channels_are_averaged_without_resampling_at_the_speech_rate(tmp_path):
    rng = np.random.default_rng(0)
    stereo = rng.uniform(-0.5, 0.5, (4000, 3)).astype(np.float32)
    sf.write(tmp_path / "three.wav", stereo, SPEECH_RATE, subtype="FLOAT")
    mono = load_mono(tmp_path / "three.wav")
    assert mono.dtype == np.float32
    np.testing.assert_array_equal(mono, stereo.mean(axis=1))


def test_other_rates_are_resampled_with_soxr_vhq_in_blocks_of_any_size():
    samples, rate = sf.read(FIXTURES / "voice-22k-stereo.wav", dtype="float32", always_2d=True)
    expected = soxr.resample(samples.mean(axis=1), rate, SPEECH_RATE, quality="VHQ")
    whole = load_mono(FIXTURES / "voice-22k-stereo.wav")
    with sf.SoundFile(FIXTURES / "voice-22k-stereo.wav") as f:
        blocks = np.concatenate(list(mono_blocks(f, block=1000)))
    np.testing.assert_allclose(whole, expected, atol=1e-6)
    np.testing.assert_allclose(blocks, expected, atol=1e-6)


def test_an_empty_recording_is_an_empty_signal(tmp_path):
    sf.write(tmp_path / "empty.wav", np.zeros((0, 2), np.float32), 44100)
    mono = load_mono(tmp_path / "empty.wav")
    assert mono.shape == (0,) and mono.dtype == np.float32
