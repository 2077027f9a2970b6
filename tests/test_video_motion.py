"""Motion-compensated P-frames: block search and copy, the vectors' stream, and a STEM codec whose
P-frames read the moved previous frame through an exact reference path."""

import numpy as np
import pytest
import torch

from conftest import smooth_images
from omnicodec import compress_file, decompress_file
from omnicodec.codecs import create_codec
from omnicodec.codecs.video.motion import compensate, decode_vectors, encode_vectors, motion_search, vector_tables
from omnicodec.codecs.video.reference import MotionReference, fixed_gains
from omnicodec.errors import CorruptFileError

TINY = {"N": 16, "M": 24, "intra_period": 8, "levels": 4, "motion_block": 16, "motion_range": 8}


def textured(h: int, w: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(1, 3, h, w, generator=g)


def pan(frames: int, size: int = 64, step: tuple[int, int] = (2, -3), seed: int = 0) -> torch.Tensor:
    """A clip [T, 3, size, size] of a smooth picture moving ``step`` pixels per frame."""
    base = smooth_images(1, size + 40, seed)[0]
    return torch.stack([base[:, 20 - step[0] * t : 20 - step[0] * t + size, 20 - step[1] * t : 20 - step[1] * t + size]
                        for t in range(frames)])


def test_the_search_finds_a_shift_and_the_copy_reproduces_it():
    ref = textured(72, 88)
    cur = torch.roll(ref, (3, -5), (2, 3))
    vectors = motion_search(cur, ref, 16, 8)
    assert vectors.shape == (2, 5, 6)
    assert (vectors[0, 1:-1, 1:-1] == -3).all() and (vectors[1, 1:-1, 1:-1] == 5).all()
    moved = compensate(ref, vectors, 16)
    assert moved.shape == ref.shape
    assert torch.equal(moved[..., 16:-16, 16:-16], cur[..., 16:-16, 16:-16])
    # a still frame keeps the zero vector everywhere (length costs)
    assert not motion_search(ref, ref, 16, 8).any()


def test_the_copy_replicates_edges_and_is_exact_in_float64():
    ref = textured(32, 32).double()
    vectors = torch.zeros(2, 2, 2, dtype=torch.long)
    vectors[:, 0, 0] = torch.tensor([-4, -4])  # the top-left block reads above and left of the frame
    moved = compensate(ref, vectors, 16)
    assert moved.dtype == torch.float64
    assert torch.equal(moved[..., 4:16, 4:16], ref[..., :12, :12])
    assert torch.equal(moved[..., 0, :4], ref[..., 0, :1].expand(-1, -1, 4))  # the corner pixel, replicated
    assert torch.equal(moved[..., 16:, :], ref[..., 16:, :])


def test_vectors_round_trip_and_still_frames_cost_one_word():
    g = torch.Generator().manual_seed(3)
    for reach in (1, 8, 16):
        v = torch.randint(-reach, reach + 1, (2, 5, 7), generator=g)
        assert torch.equal(decode_vectors(encode_vectors(v, reach), 5, 7, reach), v)
    still = torch.zeros(2, 18, 22, dtype=torch.long)
    assert len(encode_vectors(still, 16)) == 4
    smooth = torch.full((2, 18, 22), 3, dtype=torch.long)  # a pan: one difference, then zeros
    assert len(encode_vectors(smooth, 16)) <= 8
    with pytest.raises(ValueError, match="beyond"):
        encode_vectors(torch.full((2, 1, 1), 9), 8)


def test_damaged_vectors_are_a_named_error():
    data = bytearray(encode_vectors(torch.randint(-8, 9, (2, 4, 4)), 8))
    data[0] ^= 0xFF
    with pytest.raises(CorruptFileError, match="frame 3's vectors"):
        decode_vectors(bytes(data), 4, 4, 8, "frame 3's vectors")


def test_vector_tables_are_integer_and_complete():
    tables = vector_tables(8)
    tables.validate()
    assert tables.num_tables == 9
    for t in range(tables.num_tables):
        assert int(tables.row(t)[-1]) == 1 << tables.precision


def test_fixed_gains_interpolate_in_decimal():
    log = torch.tensor([[0.0, 0.5], [1.0, -0.5]])
    g = fixed_gains(log, 1.5) / 2**20
    assert torch.allclose(g, torch.exp(torch.tensor([0.5, 0.0], dtype=torch.float64)), atol=2**-20)
    assert torch.equal(fixed_gains(log, 2.0), torch.round(torch.exp(log[1].double()) * 2**20))


@pytest.fixture(scope="module")
def codec():
    torch.manual_seed(0)
    model = create_codec("video/stem", TINY)
    with torch.no_grad():  # gains far from 1, as a trained model's
        model.gains.log_gain.uniform_(-0.5, 1.5)
        model.gains.log_inverse_gain.copy_(-model.gains.log_gain + 0.1 * torch.randn_like(model.gains.log_gain))
        model.g_s[-1].weight.mul_(8.0)  # frames that span [0, 1]
        model.g_s[-1].bias.fill_(0.5)
    return model.eval().freeze()


def test_motion_config_is_checked():
    with pytest.raises(ValueError, match="motion_block"):
        create_codec("video/stem", {**TINY, "motion_block": 12})
    with pytest.raises(ValueError, match="residual"):
        create_codec("video/stem", {**TINY, "residual": True})
    assert create_codec("video/stem", TINY).config()["motion_block"] == 16


def test_motion_p_frames_round_trip_and_decode_to_the_encoders_frames(codec):
    x = pan(4)
    states, streams, reference = [], [], None
    for t in range(4):
        bitstream, reference = codec.compress_frame(x[t : t + 1], t, reference, 2.5)
        states.append(reference)
        streams.append(bitstream)
    assert all("v" in b.streams for b in streams[1:]) and "v" not in streams[0].streams
    reference = None
    for t, bitstream in enumerate(streams):
        frame, reference = codec.decompress_frame(bitstream, t, reference, 64, 64)
        assert torch.equal(reference, states[t])  # bit for bit what the encoder holds
        assert torch.equal(frame, states[t][..., :64, :64].float())
    # and close to the floating-point pass that training runs
    with torch.no_grad():
        expected = codec(x[None], 2.5).x_hat[0].clamp(0, 1)
    assert (frame - expected[-1:]).abs().max() < 2e-2


def test_the_exact_frame_is_the_float_synthesis_of_the_unscaled_latent(codec):
    with torch.no_grad():
        y_hat = codec.intra.compress(codec.gains.scale(codec.g_a(pan(1)), 2.5))[1]
        expected = codec.g_s(codec.gains.scale(y_hat, 2.5, inverse=True)).clamp(0, 1)
    frame = MotionReference(codec.g_a, codec.g_s, codec.gains, 2.5, 16).frame(y_hat)
    assert expected.std() > 0.1  # frames of every level
    assert (frame - expected).abs().max() < 1e-2, (frame - expected).abs().max()


def test_the_prediction_follows_the_motion(codec):
    """The moved previous frame's latent is far closer to a panning frame's latent than the previous
    latent is (here the previous frame itself stands in for its decoded version, which an untrained
    codec garbles)."""
    x = pan(2, step=(4, -6), seed=2)
    path = MotionReference(codec.g_a, codec.g_s, codec.gains, 4.0, 16)
    vectors = motion_search(x[1:2], x[:1], 16, 8)
    assert (vectors[0, 1:-1, 1:-1] == -4).all() and (vectors[1, 1:-1, 1:-1] == 6).all()
    with torch.no_grad():
        y = codec.gains.scale(codec.g_a(x[1:2]), 4.0)
        previous = codec.gains.scale(codec.g_a(x[:1]), 4.0)
    moved = path.latent(x[:1].double(), vectors).float()
    inner = (..., slice(1, -1), slice(1, -1))
    assert (y - moved)[inner].abs().mean() < 0.5 * (y - previous)[inner].abs().mean()


def test_decoding_with_one_or_two_threads_gives_the_same_frames(tmp_path, codec):
    from omnicodec.zoo import save_weights

    weights = save_weights(codec, tmp_path / "w", "video-motion-tiny", quality=1)
    frames = [(f.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8) for f in pan(3, step=(1, 2))]
    from omnicodec.datasets.video_io import VideoWriter, read_sequence

    writer = VideoWriter(tmp_path / "clip", 64, 64, (30, 1))
    for f in frames:
        writer.write(f)
    writer.commit()
    compress_file(tmp_path / "clip", tmp_path / "c.omc", weights=weights)
    threads = torch.get_num_threads()
    outs = []
    try:
        for n in (1, 2):
            torch.set_num_threads(n)
            decompress_file(tmp_path / "c.omc", tmp_path / f"back{n}", weights=weights)
            outs.append(np.stack(read_sequence(tmp_path / f"back{n}")[0]))
    finally:
        torch.set_num_threads(threads)
    assert np.array_equal(outs[0], outs[1]) and outs[0].shape == (3, 64, 64, 3)
    from omnicodec.coding import container

    parsed = container.unpack((tmp_path / "c.omc").read_bytes())
    assert parsed.header["side_info"]["motion"] == {"block": 16, "range": 8}
    parsed.header["side_info"].pop("motion")
    (tmp_path / "bad.omc").write_bytes(container.pack(parsed.header, parsed.chunks))
    with pytest.raises(CorruptFileError, match="motion"):
        decompress_file(tmp_path / "bad.omc", tmp_path / "out", weights=weights)


def test_training_through_the_forward_pass_reaches_the_p_frame_codec():
    torch.manual_seed(1)
    model = create_codec("video/stem", TINY).train()
    out = model(pan(3)[None].repeat(2, 1, 1, 1, 1), torch.tensor([1.5, 3.0]))
    assert out.x_hat.shape == (2, 3, 3, 64, 64) and {"y1", "y2"} <= set(out.likelihoods)
    sum(torch.log(v).sum() for v in out.likelihoods.values()).backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.inter.temporal_prior.parameters())
