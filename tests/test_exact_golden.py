"""Files written by an earlier version decode to the same latents here, bit for bit.

The golden files (``tests/fixtures/exact``, written by ``make.py`` there) hold the latents
and the image their writer decoded. Decoding them on the machine that runs this test (another CPU,
another thread count, another torch) must give exactly those latents: the entropy
parameters are integer arithmetic, so any difference is a broken promise to old files. A video
model with motion also synthesises its frames exactly: its golden clip must come back pixel for pixel.
"""

from pathlib import Path

import numpy as np
import pytest
import torch

from omnicodec import decompress_file, zoo
from omnicodec.coding import Bitstream, container
from omnicodec.entropy_models.exact import SCHEME

GOLDEN = Path(__file__).parent / "fixtures" / "exact"


def load(name: str):
    parsed = container.unpack((GOLDEN / f"{name}.omc").read_bytes())
    header = parsed.header
    if name == "s2lic-tiny":
        model = zoo.load_file_entry(GOLDEN / "s2lic-tiny.json").codec
    else:
        entry = zoo.find_by_sha(header["weights"])
        if entry is None:
            pytest.skip("the shipped weights that wrote this file are no longer shipped")
        model = zoo.load_entry(entry).codec
    return model, Bitstream(dict(parsed.chunks), side_info=header["side_info"])


@pytest.mark.parametrize("name", ["s2lic-tiny", "hyperprior-default"])
@pytest.mark.parametrize("threads", [1, 2])
def test_golden_files_decode_to_the_latents_their_writer_decoded(name, threads):
    model, bitstream = load(name)
    assert bitstream.side_info["entropy_params"] == SCHEME
    expected = np.load(GOLDEN / f"{name}.y_hat.npy")
    previous = torch.get_num_threads()
    try:
        torch.set_num_threads(threads)
        y_hat = model.decode_latent(bitstream).numpy()
    finally:
        torch.set_num_threads(previous)
    assert y_hat.shape == expected.shape
    differing = int((y_hat != expected).sum())
    assert differing == 0, f"{differing} of {expected.size} latents differ from the writer's"


@pytest.mark.parametrize("name", ["s2lic-tiny", "hyperprior-default"])
def test_golden_files_decode_through_the_file_api(name, tmp_path):
    """The whole decoder (latents, dequantisation, synthesis, 8-bit output) gives the image its
    writer decoded; the floating-point synthesis may round a rare pixel the other way."""
    from PIL import Image

    load(name)  # skips when the shipped weights that wrote the file are gone
    weights = GOLDEN / "s2lic-tiny.json" if name == "s2lic-tiny" else None
    decompress_file(GOLDEN / f"{name}.omc", tmp_path / "out.png", weights=weights)
    decoded = np.asarray(Image.open(tmp_path / "out.png").convert("RGB")).astype(int)
    expected = np.asarray(Image.open(GOLDEN / f"{name}.decoded.png").convert("RGB")).astype(int)
    assert decoded.shape == expected.shape
    difference = np.abs(decoded - expected)
    assert difference.max() <= 1 and (difference > 0).mean() < 0.01, (difference.max(), (difference > 0).mean())


@pytest.mark.parametrize("threads", [1, 2])
def test_a_video_with_motion_decodes_to_the_frames_its_writer_decoded(threads, tmp_path):
    """Its P-frames' reference (the previous frame synthesised, moved and analysed) is exact, and so
    are the frames: every pixel, on any machine and thread count."""
    from omnicodec.datasets.video_io import read_sequence

    previous = torch.get_num_threads()
    try:
        torch.set_num_threads(threads)
        decompress_file(GOLDEN / "stem-motion-tiny.omc", tmp_path / "out", weights=GOLDEN / "stem-motion-tiny.json")
    finally:
        torch.set_num_threads(previous)
    decoded = np.stack(read_sequence(tmp_path / "out")[0])
    expected = np.load(GOLDEN / "stem-motion-tiny.decoded.npy")
    assert decoded.shape == expected.shape == (3, 48, 64, 3)
    differing = int((decoded != expected).sum())
    assert differing == 0, f"{differing} of {expected.size} pixels differ from the writer's"
