"""Files written by an earlier release still decode, to exactly what that release decoded.

The fixtures in ``fixtures/release-0.1`` were written by omnicodec 0.1 (``make.py`` there says how):
its images held the ``z`` and ``y`` streams as two chunks with their shapes in the header, before
codecs coded items as units.
"""

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from PIL import Image

from omnicodec import decompress_file
from omnicodec.coding import container

RELEASE = Path(__file__).parent / "fixtures" / "release-0.1"


def test_an_image_file_of_release_0_1_decodes_as_it_did(tmp_path):
    assert set(container.unpack((RELEASE / "image.omc").read_bytes()).chunks) == {"z", "y"}  # the old layout
    decompress_file(RELEASE / "image.omc", tmp_path / "out.png", weights=RELEASE / "image.json")
    now, then = (np.array(Image.open(p)) for p in (tmp_path / "out.png", RELEASE / "image.decoded.png"))
    assert np.array_equal(now, then)


def test_a_video_file_of_release_0_1_decodes_as_it_did(tmp_path):
    """The same frames, byte for byte; the header now also names the file it decodes (an X parameter)."""
    from omnicodec.media.driver import SOURCE_TAG, source_id

    decompress_file(RELEASE / "video.omc", tmp_path / "out.y4m", weights=RELEASE / "video.json")
    (head, frames), (then_head, then_frames) = ((tmp_path / "out.y4m").read_bytes().split(b"\n", 1),
                                                (RELEASE / "video.decoded.y4m").read_bytes().split(b"\n", 1))
    assert frames == then_frames
    assert head.split() == then_head.split() + [f"X{SOURCE_TAG}={source_id(RELEASE / 'video.omc')}".encode()]


def test_a_speech_file_of_release_0_1_decodes_as_it_did(tmp_path):
    decompress_file(RELEASE / "speech.omc", tmp_path / "out.wav", weights=RELEASE / "speech.json")
    now, rate = sf.read(tmp_path / "out.wav", dtype="int16")
    then, _ = sf.read(RELEASE / "speech.decoded.wav", dtype="int16")
    # the latents decode exactly (exact entropy parameters); the float synthesis may round a sample to the
    # neighbouring 16-bit value on another CPU (measured: 1 of 4,000 samples, by 1, on an AVX2-only CPU)
    difference = np.abs(now.astype(np.int32) - then)
    assert rate == 16000 and now.shape == then.shape
    assert difference.max() <= 1 and np.count_nonzero(difference) <= now.size // 100


@pytest.mark.parametrize("name, out", [("image", "out.png"), ("video", "out.y4m"), ("speech", "out.wav")])
def test_a_damaged_old_file_is_refused(tmp_path, name, out):
    from omnicodec.errors import CorruptFileError

    data = bytearray((RELEASE / f"{name}.omc").read_bytes())
    data[-10] ^= 0x40  # inside the last chunk
    (tmp_path / "bad.omc").write_bytes(bytes(data))
    with pytest.raises(CorruptFileError):
        decompress_file(tmp_path / "bad.omc", tmp_path / out, weights=RELEASE / f"{name}.json")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.omc"]
