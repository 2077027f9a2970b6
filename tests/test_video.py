"""The STEM video codec: exact round trips, cheaper P-frames on static content, per-frame
chunks with named errors, and video files in and out."""

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import fit, smooth_images
from omnicodec import compress_file, decompress_file
from omnicodec.codecs import create_codec
from omnicodec.datasets.video_io import VideoWriter, read_sequence
from omnicodec.errors import CorruptFileError, InputError
from omnicodec.train.losses import video_rd_loss

TINY = {"N": 16, "M": 24, "intra_period": 8}


def clips(n, frames=3, size=64, seed=0, static=True):
    base = smooth_images(n, size + 8, seed)
    if static:
        return base[:, None, :, :size, :size].repeat(1, frames, 1, 1, 1)
    return torch.stack([base[:, :, 2 * t : 2 * t + size, :size] for t in range(frames)], dim=1)  # a slow pan


@pytest.fixture(scope="module")
def codec():
    torch.manual_seed(0)
    model = create_codec("video/stem", TINY)
    data = torch.cat([clips(8, seed=1), clips(8, seed=2, static=False)])
    return fit(model, lambda step: data[(step * 4) % 16 : (step * 4) % 16 + 4],
               lambda out, x: video_rd_loss(out, x, 0.05)["loss"], steps=120)


@pytest.fixture(scope="module")
def weights(codec, tmp_path_factory):
    from omnicodec.zoo import save_weights

    return save_weights(codec, tmp_path_factory.mktemp("video-weights"), "video-tiny", quality=1)


def test_three_frames_round_trip_exactly(codec):
    x = clips(1, 3, 64, seed=5, static=False)[0]
    with torch.no_grad():
        expected = codec(x[None]).x_hat[0].clamp(0, 1)
    bitstream = codec.compress(x)
    torch.testing.assert_close(codec.decompress(bitstream), expected, rtol=0, atol=1e-5)


def test_static_sequence_p_frames_are_cheaper(codec):
    x = clips(1, 4, 64, seed=9)[0]
    sizes, reference = [], None
    for t in range(4):
        bitstream, reference = codec.compress_frame(x[t : t + 1], t, reference)
        sizes.append(bitstream.num_bytes)
    assert max(sizes[1:]) < sizes[0], sizes


def test_intra_period_and_residual_variant():
    torch.manual_seed(0)
    model = create_codec("video/stem", {**TINY, "intra_period": 2, "residual": True}).eval().freeze()
    assert [model.is_intra(t) for t in range(5)] == [True, False, True, False, True]
    x = clips(1, 5, 64, seed=3, static=False)[0]
    with torch.no_grad():
        expected = model(x[None]).x_hat[0].clamp(0, 1)
    torch.testing.assert_close(model.decompress(model.compress(x)), expected, rtol=0, atol=1e-5)


def write_clip(path, frames):
    writer = VideoWriter(path, frames[0].shape[1], frames[0].shape[0], (30, 1))
    for f in frames:
        writer.write(f)
    writer.commit()


def frames_of(x):
    return [(f.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8) for f in x]


@pytest.mark.parametrize("size", [(48, 64), (37, 50)])
def test_files_round_trip_frame_by_frame(tmp_path, weights, size):
    h, w = size
    frames = frames_of(clips(1, 4, 72, seed=4, static=False)[0, :, :, :h, :w])
    src = tmp_path / "clip"
    write_clip(src, frames)  # a folder of PNG frames (odd sizes are fine)
    result = compress_file(src, tmp_path / "c.omc", weights=weights)
    assert result.frames == 4 and result.pixels == 4 * h * w
    out = decompress_file(tmp_path / "c.omc", tmp_path / "back", weights=weights)
    assert out.frames == 4
    decoded, info = read_sequence(tmp_path / "back")
    assert len(decoded) == 4 and decoded[0].shape == (h, w, 3)
    # the file decodes to what the codec's evaluation pass reconstructs from the same frames
    from omnicodec.zoo import load_file_entry

    model = load_file_entry(weights).codec
    x = torch.from_numpy(np.stack(frames)).permute(0, 3, 1, 2).float()[None] / 255
    with torch.no_grad():
        expected = (model(x).x_hat[0].clamp(0, 1) * 255).round().byte().permute(0, 2, 3, 1).numpy()
    assert np.abs(np.stack(decoded).astype(int) - expected.astype(int)).max() <= 1


def gradient_frames(n: int, h: int, w: int) -> list[np.ndarray]:
    """Strong colour gradients, red across and blue down (green moves with the frame), constant on
    2×2 blocks so that 4:2:0 chroma keeps them: a swapped or shifted plane shows at once."""
    rows, cols = np.arange(h) // 2 * 2 / (h - 2), np.arange(w) // 2 * 2 / (w - 2)
    frames = []
    for t in range(n):
        r = np.broadcast_to(cols[None, :], (h, w))
        b = np.broadcast_to(rows[:, None], (h, w))
        g = 0.5 + 0.4 * np.sin(3 * r + 2 * b + t)
        frames.append((np.stack([r * 0.9 + 0.05, g, 1 - b * 0.9 - 0.05], -1) * 255).round().astype(np.uint8))
    return frames


def test_y4m_in_and_out(tmp_path, weights):
    from omnicodec.datasets.video_io import rgb_to_yuv420, yuv420_to_rgb
    from omnicodec.zoo import load_file_entry

    frames = gradient_frames(3, 48, 64)
    write_clip(tmp_path / "in.y4m", frames)
    read, _ = read_sequence(tmp_path / "in.y4m")
    assert max(np.abs(a.astype(int) - b.astype(int)).max() for a, b in zip(read, frames)) <= 3
    compress_file(tmp_path / "in.y4m", tmp_path / "c.omc", weights=weights)
    decompress_file(tmp_path / "c.omc", tmp_path / "out.y4m", weights=weights)
    decoded, info = read_sequence(tmp_path / "out.y4m")
    assert len(decoded) == 3 and info["fps"] == (30, 1)
    # what the codec reconstructs from the frames read, through 4:2:0 once more
    x = torch.from_numpy(np.stack(read)).permute(0, 3, 1, 2).float()[None] / 255
    with torch.no_grad():
        rec = (load_file_entry(weights).codec(x).x_hat[0].clamp(0, 1) * 255).round().byte().permute(0, 2, 3, 1).numpy()
    for got, frame in zip(decoded, rec):
        assert np.abs(got.astype(int) - yuv420_to_rgb(*rgb_to_yuv420(frame)).astype(int)).max() <= 2


# a 4×4 frame of four 2×2 colour blocks and its exact Y4M bytes (BT.601, limited range, 4:2:0)
GOLDEN_RGB = np.array([[(255, 0, 0)] * 2 + [(0, 255, 0)] * 2] * 2 + [[(0, 0, 255)] * 2 + [(255, 255, 255)] * 2] * 2,
                      dtype=np.uint8)
GOLDEN_Y4M = (b"YUV4MPEG2 W4 H4 F30:1 Ip A1:1 C420jpeg\nFRAME\n"
              + bytes([81, 81, 145, 145] * 2 + [41, 41, 235, 235] * 2)  # Y: red, green / blue, white
              + bytes([90, 54, 240, 128])  # U (Cb) per block
              + bytes([240, 34, 110, 128]))  # V (Cr) per block


def test_y4m_golden_bytes_both_ways(tmp_path):
    write_clip(tmp_path / "g.y4m", [GOLDEN_RGB])
    data = (tmp_path / "g.y4m").read_bytes()
    assert data == GOLDEN_Y4M
    frame = data.index(b"FRAME\n") + 6
    assert data[frame + 2] == 145 and data[frame + 8] == 41  # Y: row 0 column 2, row 2 column 0
    assert data[frame + 16 + 1] == 54 and data[frame + 20 + 2] == 110  # U and V of the top-right, bottom-left blocks
    decoded, _ = read_sequence(tmp_path / "g.y4m")
    assert np.abs(decoded[0].astype(int) - GOLDEN_RGB.astype(int)).max() <= 2


def test_corrupt_frame_chunk_names_its_frame(tmp_path, weights):
    frames = frames_of(clips(1, 4, 64, seed=7, static=False)[0])
    write_clip(tmp_path / "clip", frames)
    compress_file(tmp_path / "clip", tmp_path / "c.omc", weights=weights)
    data = bytearray((tmp_path / "c.omc").read_bytes())
    at = data.index(b"frame-2") + len(b"frame-2") + 4 + 6  # inside frame 2's payload
    data[at] ^= 0x10
    (tmp_path / "bad.omc").write_bytes(bytes(data))
    with pytest.raises(CorruptFileError, match="frame 2") as info:
        decompress_file(tmp_path / "bad.omc", tmp_path / "out.y4m", weights=weights)
    assert info.value.unit_index == 2
    assert not (tmp_path / "out.y4m").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temporary left


def test_cli_video_round_trip(tmp_path, weights):
    from test_cli import run

    frames = frames_of(clips(1, 3, 64, seed=8)[0])
    write_clip(tmp_path / "in.y4m", frames)
    r = run("compress", tmp_path / "in.y4m", tmp_path / "v.omc", "--weights", weights)
    assert r.returncode == 0, r.stderr
    assert "3 frames" in r.stdout and "bpp" in r.stdout
    r = run("decompress", tmp_path / "v.omc", tmp_path / "frames", "--weights", weights)
    assert r.returncode == 0, r.stderr
    assert len(list((tmp_path / "frames").glob("*.png"))) == 3
    r = run("decompress", tmp_path / "v.omc", tmp_path / "frames", "--weights", weights)
    assert r.returncode == 2 and "exists" in r.stderr


@pytest.mark.skipif(__import__("shutil").which("ffmpeg") is None, reason="ffmpeg is not installed")
def test_mp4_in_and_out(tmp_path, weights):
    frames = frames_of(clips(1, 3, 64, seed=10)[0])
    write_clip(tmp_path / "in.mp4", frames)
    compress_file(tmp_path / "in.mp4", tmp_path / "c.omc", weights=weights)
    decompress_file(tmp_path / "c.omc", tmp_path / "out.mp4", weights=weights)
    decoded, _ = read_sequence(tmp_path / "out.mp4")
    assert len(decoded) == 3


def write_y4m(path, header: bytes, frames: list[bytes]):
    path.write_bytes(header + b"\n" + b"".join(b"FRAME\n" + f for f in frames))
    return path


@pytest.mark.parametrize(
    "header, frames, message",
    [
        (b"YUV4MPEG2 W4 H4 F25:1 C420p10", [bytes(48)], "8-bit"),
        (b"YUV4MPEG2 W4 H4 F25:1 C444", [bytes(48)], "8-bit"),
        (b"YUV4MPEG2 Wfour H4", [bytes(24)], "malformed"),
        (b"YUV4MPEG2 W4 H4 F25:0", [bytes(24)], "frame rate"),
        (b"YUV4MPEG2 H4 F25:1", [bytes(24)], "frame size"),
        (b"YUV4MPEG2 W0 H4", [bytes(24)], "frame size"),
        (b"YUV4MPEG2 W100000 H100000", [], "frame size"),
        (b"YUV4MPEG2 W4 H4 F25:1", [], "no frames"),
        (b"YUV4MPEG2 W4 H4 F25:1", [bytes(24), bytes(10)], "truncated"),
        (b"just text, named .y4m", [], "not a Y4M"),
    ],
)
def test_bad_y4m_inputs_are_refused_with_a_clear_message(tmp_path, weights, header, frames, message):
    src = write_y4m(tmp_path / "in.y4m", header, frames)
    before = src.read_bytes()
    with pytest.raises(InputError, match=message):
        compress_file(src, tmp_path / "c.omc", weights=weights)
    assert not (tmp_path / "c.omc").exists() and src.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.y4m"]  # no temporary left behind


def test_bad_frame_folders_are_refused(tmp_path, weights):
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no PNG frames"):
        compress_file(tmp_path / "empty", tmp_path / "c.omc", weights=weights)
    frames = frames_of(clips(1, 2, 64, seed=9)[0])
    write_clip(tmp_path / "mixed", frames)
    Image.fromarray(frames[1][:40]).save(tmp_path / "mixed" / "frame_00001.png")
    with pytest.raises(InputError, match="differs"):
        compress_file(tmp_path / "mixed", tmp_path / "c.omc", weights=weights)
    assert not (tmp_path / "c.omc").exists()


def test_one_pixel_video_round_trips(tmp_path, weights):
    frames = [np.full((1, 1, 3), v, dtype=np.uint8) for v in (10, 200, 90)]
    write_clip(tmp_path / "dot.y4m", [np.repeat(np.repeat(f, 2, 0), 2, 1) for f in frames])  # Y4M needs even sizes
    write_clip(tmp_path / "dot", frames)
    for src in (tmp_path / "dot.y4m", tmp_path / "dot"):
        compress_file(src, tmp_path / f"{src.name}.omc", weights=weights)
        out = decompress_file(tmp_path / f"{src.name}.omc", tmp_path / f"{src.name}-back", weights=weights)
        decoded, _ = read_sequence(tmp_path / f"{src.name}-back")
        assert out.frames == 3 and len(decoded) == 3 and decoded[0].shape[2] == 3


def test_the_encoding_progress_bar_knows_the_frame_count(tmp_path):
    from omnicodec.datasets.video_io import VideoWriter, open_video
    from omnicodec.media.video import frame_count

    writer = VideoWriter(tmp_path / "v.y4m", 64, 48, (25, 1))
    for _ in range(7):
        writer.write(np.zeros((48, 64, 3), np.uint8))
    writer.commit()
    frames, info = open_video(tmp_path / "v.y4m")
    assert frame_count(tmp_path / "v.y4m", info) == 7
    writer = VideoWriter(tmp_path / "pngs", 64, 48, (25, 1))
    for _ in range(3):
        writer.write(np.zeros((48, 64, 3), np.uint8))
    writer.commit()
    assert frame_count(tmp_path / "pngs", open_video(tmp_path / "pngs")[1]) == 3


@pytest.mark.parametrize("period", [0, -1, "8", 8.0, True, 2**20 + 1])
def test_the_header_states_the_gop_structure_and_an_invalid_one_is_refused(tmp_path, weights, period):
    from omnicodec.coding import container

    frames = frames_of(clips(1, 3, 64, seed=9)[0])
    write_clip(tmp_path / "clip", frames)
    compress_file(tmp_path / "clip", tmp_path / "c.omc", weights=weights)
    parsed = container.unpack((tmp_path / "c.omc").read_bytes())
    assert parsed.header["side_info"]["intra_period"] == TINY["intra_period"]
    parsed.header["side_info"]["intra_period"] = period
    (tmp_path / "bad.omc").write_bytes(container.pack(parsed.header, parsed.chunks))
    with pytest.raises(CorruptFileError, match="invalid intra period"):
        decompress_file(tmp_path / "bad.omc", tmp_path / "out.y4m", weights=weights)
    assert not (tmp_path / "out.y4m").exists()


def test_a_file_decodes_with_the_intra_period_its_header_states(tmp_path, weights):
    """Frames coded with another intra period than the codec's config (an older release's, say) decode
    as coded: the decoder follows the file, not its own config."""
    import copy

    from omnicodec.coding import container
    from omnicodec.zoo import load_file_entry, save_weights

    frames = frames_of(clips(1, 5, 64, seed=3, static=False)[0])
    write_clip(tmp_path / "clip", frames)
    codec = load_file_entry(weights).codec
    short = copy.deepcopy(codec)
    short.intra_period = 2
    # the same weights (one sha256), configured for intra periods of 8 and 2
    own, other = (save_weights(c, tmp_path / n, "video-tiny", quality=1) for c, n in ((codec, "own"), (short, "other")))
    compress_file(tmp_path / "clip", tmp_path / "c.omc", weights=other)
    assert container.unpack((tmp_path / "c.omc").read_bytes()).header["side_info"]["intra_period"] == 2
    decompress_file(tmp_path / "c.omc", tmp_path / "back", weights=own)  # its own period is 8; PNG frames
    decoded = np.stack(read_sequence(tmp_path / "back")[0]).astype(int)
    x = torch.from_numpy(np.stack(frames)).permute(0, 3, 1, 2).float()[None] / 255

    def reconstruction(model):
        with torch.no_grad():
            return (model(x).x_hat[0].clamp(0, 1) * 255).round().byte().permute(0, 2, 3, 1).numpy().astype(int)

    as_coded, as_configured = reconstruction(short), reconstruction(codec)
    assert np.abs(as_coded - as_configured).max() > 8  # the two GOP structures give other frames
    assert np.abs(decoded - as_coded).max() <= 1


def test_the_user_chooses_the_intra_period_when_compressing(tmp_path, weights):
    """``intra_period`` at compress time: the file states it, its frames are coded so (intra frames cost
    more on a static clip), and it decodes as a model configured with that period would code it."""
    import copy

    from omnicodec.coding import container
    from omnicodec.zoo import load_file_entry

    frames = frames_of(clips(1, 5, 64, seed=3, static=False)[0])
    write_clip(tmp_path / "clip", frames)
    sizes = {}
    for period in (None, 2):
        out = tmp_path / f"c{period}.omc"
        compress_file(tmp_path / "clip", out, weights=weights, intra_period=period)
        parsed = container.unpack(out.read_bytes())
        assert parsed.header["side_info"]["intra_period"] == (period or TINY["intra_period"])
        sizes[period] = [len(parsed.chunks[f"frame-{t}"]) for t in range(5)]
    assert sizes[2][2] > sizes[None][2] and sizes[2][4] > sizes[None][4], sizes  # intra frames again
    assert sizes[2][:2] == sizes[None][:2], sizes  # the first two frames are coded alike

    decompress_file(tmp_path / "c2.omc", tmp_path / "back", weights=weights)
    decoded = np.stack(read_sequence(tmp_path / "back")[0]).astype(int)
    short = copy.deepcopy(load_file_entry(weights).codec)
    short.intra_period = 2
    x = torch.from_numpy(np.stack(frames)).permute(0, 3, 1, 2).float()[None] / 255
    with torch.no_grad():
        expected = (short(x).x_hat[0].clamp(0, 1) * 255).round().byte().permute(0, 2, 3, 1).numpy().astype(int)
    assert np.abs(decoded - expected).max() <= 1


@pytest.mark.parametrize("period", [0, -3, 2**20 + 1, 2.5, "4", True])
def test_an_intra_period_out_of_range_is_refused_before_anything_is_written(tmp_path, weights, period):
    write_clip(tmp_path / "clip", frames_of(clips(1, 2, 64, seed=3)[0]))
    with pytest.raises(InputError, match="intra period must be a whole number from 1 to"):
        compress_file(tmp_path / "clip", tmp_path / "c.omc", weights=weights, intra_period=period)
    assert not (tmp_path / "c.omc").exists()


def test_an_intra_period_is_refused_for_an_image(tmp_path):
    Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(tmp_path / "a.png")
    with pytest.raises(InputError, match="takes no intra period"):
        compress_file(tmp_path / "a.png", tmp_path / "a.omc", intra_period=4)
    assert not (tmp_path / "a.omc").exists()


def test_cli_intra_period(tmp_path, weights):
    from omnicodec.coding import container
    from test_cli import assert_clean_error, run

    write_clip(tmp_path / "in.y4m", frames_of(clips(1, 3, 64, seed=8)[0]))
    r = run("compress", tmp_path / "in.y4m", tmp_path / "v.omc", "--weights", weights, "--intra-period", 1)
    assert r.returncode == 0, r.stderr
    assert container.unpack((tmp_path / "v.omc").read_bytes()).header["side_info"]["intra_period"] == 1
    r = run("compress", tmp_path / "in.y4m", tmp_path / "w.omc", "--weights", weights, "--intra-period", "x")
    assert_clean_error(r, "argument --intra-period: invalid int value: 'x'", "see omnicodec compress --help")
    assert not (tmp_path / "w.omc").exists()


def test_a_folder_codes_its_videos_with_the_intra_period_asked_for_and_reruns_check_it(tmp_path, weights):
    from omnicodec.coding import container
    from test_cli import assert_clean_error, run

    def period(path):
        return container.unpack(path.read_bytes()).header["side_info"]["intra_period"]

    folder, out = tmp_path / "folder", tmp_path / "out"
    folder.mkdir()
    write_clip(folder / "in.y4m", frames_of(clips(1, 2, 64, seed=8)[0]))
    for bad in (0, -3):
        r = run("compress", folder, out, "--weights", weights, "--intra-period", bad)
        assert_clean_error(r, "intra period must be a whole number from 1 to", f"got {bad}")
    assert not out.exists()  # refused before any work
    compress = ["compress", folder, out, "--weights", weights]
    r = run(*compress, "--intra-period", 1)
    assert r.returncode == 0 and "1 done" in r.stdout, r.stderr
    assert period(out / "in.omc") == 1
    assert "1 skipped" in run(*compress, "--intra-period", 1).stdout  # the same request: complete
    for again in (["--intra-period", "2"], []):  # another period, or the model's own (8): not this file
        r = run(*compress, *again)
        assert r.returncode == 2 and "--force replaces it" in r.stderr and period(out / "in.omc") == 1
    r = run(*compress, "--force")
    assert r.returncode == 0 and period(out / "in.omc") == TINY["intra_period"]
    assert "1 skipped" in run(*compress).stdout
    pictures = tmp_path / "pictures"
    pictures.mkdir()
    Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(pictures / "a.png")
    r = run("compress", pictures, tmp_path / "none", "--intra-period", 4)
    assert_clean_error(r, f"--intra-period applies to video files, and {pictures} holds none")
    assert not (tmp_path / "none").exists()


def test_entropy_skip_codes_fewer_bits_and_files_decode_as_coded(tmp_path, weights):
    """With ``skip_threshold`` the header states τ, the file is smaller, and it decodes (with the
    weights configured without skip: the decoder follows the file) to what the in-memory codec gives."""
    import copy

    from omnicodec.coding import container
    from omnicodec.zoo import load_file_entry, save_weights

    codec = load_file_entry(weights).codec
    skipping = copy.deepcopy(codec)
    for part in (skipping.intra, skipping.inter):
        part.gaussian_conditional.skip_threshold = 0.5
    skipping.skip_threshold = 0.5
    with_skip = save_weights(skipping, tmp_path / "skip", "video-tiny", quality=1)
    assert load_file_entry(with_skip).codec.config()["skip_threshold"] == 0.5  # survives export and reload
    x = clips(1, 4, 64, seed=4, static=False)[0]
    write_clip(tmp_path / "clip", frames_of(x))
    compress_file(tmp_path / "clip", tmp_path / "plain.omc", weights=weights)
    compress_file(tmp_path / "clip", tmp_path / "skip.omc", weights=with_skip)
    header = container.unpack((tmp_path / "skip.omc").read_bytes()).header["side_info"]
    assert header["skip_tau"] == 0.5
    assert "skip_tau" not in container.unpack((tmp_path / "plain.omc").read_bytes()).header["side_info"]
    assert (tmp_path / "skip.omc").stat().st_size < (tmp_path / "plain.omc").stat().st_size
    decompress_file(tmp_path / "skip.omc", tmp_path / "back", weights=weights)
    decoded = np.stack(read_sequence(tmp_path / "back")[0]).astype(int)
    memory = skipping.decompress(skipping.compress(x))
    expected = (memory.clamp(0, 1) * 255).round().byte().permute(0, 2, 3, 1).numpy().astype(int)
    assert np.abs(decoded - expected).max() <= 1
    plain = (codec.decompress(codec.compress(x)).clamp(0, 1) * 255).round().byte().permute(0, 2, 3, 1).numpy()
    assert np.abs(decoded - plain.astype(int)).max() > 0  # skipping changed what was coded


@pytest.mark.parametrize("tau", ["0.5", -0.5, True, None, [0.5]])
def test_a_malformed_skip_threshold_in_a_video_file_is_refused(tmp_path, weights, tau):
    from conftest import with_side_info

    write_clip(tmp_path / "clip", frames_of(clips(1, 2, 64, seed=9)[0]))
    compress_file(tmp_path / "clip", tmp_path / "c.omc", weights=weights)
    with_side_info(tmp_path / "c.omc", tmp_path / "bad.omc", "skip_tau", tau)
    with pytest.raises(CorruptFileError, match="skip threshold"):
        decompress_file(tmp_path / "bad.omc", tmp_path / "out.y4m", weights=weights)
    assert not (tmp_path / "out.y4m").exists()


def test_a_video_skip_threshold_out_of_range_is_refused():
    with pytest.raises(ValueError, match="skip_threshold"):
        create_codec("video/stem", {**TINY, "skip_threshold": 10.5})
