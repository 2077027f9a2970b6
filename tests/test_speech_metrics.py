"""ViSQOL (speech mode) against known cases, the speech RD report from `omnicodec eval`, and
BD-rate on speech metrics from `omnicodec bdrate`."""

import importlib.util
import json

import numpy as np
import pytest
import soundfile as sf

from test_eval import run_cli
from test_speech import voices

no_visqol = pytest.mark.skipif(
    importlib.util.find_spec("visqol") is None or importlib.util.find_spec("ai_edge_litert") is None,
    reason="ViSQOL needs visqol-python with its lattice mapping: pip install 'visqol-python[lattice]' (in [eval])",
)
no_speech_metrics = pytest.mark.skipif(
    importlib.util.find_spec("pesq") is None or importlib.util.find_spec("pystoi") is None,
    reason="PESQ-WB and STOI need pesq and pystoi: pip install -e '.[eval]'",
)


def voice(seconds=3.0):
    return voices(1, seconds, seed=7).view(-1).numpy().astype(np.float64)


@no_visqol
def test_visqol_rates_identical_speech_top_and_degraded_speech_lower():
    from omnicodec.eval.metrics import visqol

    clean = voice()
    top = visqol(clean, clean)
    assert top > 4.2  # the lattice mapping's top depends on the signal: 4.33 here, 4.55 for VCTK p225_003
    noisy = clean + np.random.default_rng(0).normal(0, 0.02, clean.size)
    spectrum = np.fft.rfft(clean)
    spectrum[np.fft.rfftfreq(clean.size, 1 / 16000) > 2000] = 0  # band-limited to 2 kHz
    muffled = np.fft.irfft(spectrum, clean.size)
    # measured 1.10 and 2.55; the polynomial fallback says 5.00, 2.77 and 2.98
    assert visqol(clean, noisy) < 1.5
    assert visqol(clean, muffled) < 2.75


@no_visqol
def test_visqol_refuses_signals_of_different_lengths():
    from omnicodec.errors import EvaluationError
    from omnicodec.eval.metrics import visqol

    with pytest.raises(EvaluationError, match="equally long"):
        visqol(voice(1.0), voice(1.1))


@no_visqol
@no_speech_metrics
def test_eval_of_a_speech_model_reports_kbps_pesq_stoi_and_visqol(tmp_path):
    import torch

    from omnicodec.codecs import create_codec
    from omnicodec.eval.results import RDResults
    from omnicodec.zoo import save_weights
    from test_speech import TINY

    torch.manual_seed(0)
    weights = save_weights(create_codec("speech/ecc", TINY).eval().freeze(), tmp_path, "ecc-untrained", quality=1)
    (tmp_path / "set").mkdir()
    sf.write(tmp_path / "set" / "a.wav", voice(2.0), 16000)
    code, out, err = run_cli("eval", "speech/ecc", tmp_path / "set", "--weights", weights, "-o", tmp_path / "res", "--quiet")
    assert code == 0, err
    assert all(k in out.splitlines()[0] for k in ("kbps", "pesq-wb", "stoi", "visqol"))
    results = RDResults.load(tmp_path / "res" / "ecc-untrained.json").results
    assert results["kbps"][0] > 0 and 1.0 <= results["visqol"][0] <= 5.0 and 1.0 <= results["pesq-wb"][0] <= 4.7


def test_a_recording_without_samples_is_named_not_measured(tmp_path):
    """No metric package is needed to refuse it: the error comes before any is loaded."""
    from omnicodec.errors import EvaluationError
    from omnicodec.eval.metrics import load_recording

    sf.write(tmp_path / "empty.wav", np.zeros(0, np.float32), 16000)
    with pytest.raises(EvaluationError, match="empty.wav holds no samples"):
        load_recording(tmp_path / "empty.wav")
    sf.write(tmp_path / "one.wav", np.zeros(1, np.float32), 16000)
    assert load_recording(tmp_path / "one.wav").size == 1


@pytest.mark.parametrize("metric, expected", [("pesq-wb", "-50.000"), ("visqol", "-75.000")])
def test_bdrate_on_speech_metrics(tmp_path, metric, expected):
    """Qualities linear in log-rate, so the curves are exact: the test reaches the anchor's PESQ-WB
    at half its rate and its ViSQOL at a quarter."""
    anchor = {"kbps": [4.0, 8.0, 16.0, 32.0], "pesq-wb": [1.5, 2.5, 3.5, 4.5], "visqol": [1.5, 2.0, 2.5, 3.0]}
    test = {"kbps": [2.0, 4.0, 8.0, 16.0], "pesq-wb": [1.5, 2.5, 3.5, 4.5], "visqol": [2.0, 2.5, 3.0, 3.5]}
    for name, results in (("anchor", anchor), ("test", test)):
        (tmp_path / f"{name}.json").write_text(json.dumps({"name": name, "results": results}))
    code, out, err = run_cli("bdrate", tmp_path / "test.json", tmp_path / "anchor.json", "--metric", metric)
    assert code == 0, err
    assert f"BD-rate {expected} % at equal {metric}" in out
    assert out.strip().splitlines()[-1] == f"bdrate: {metric.removesuffix('-wb')}_pct={expected}0"  # named after its metric
