import pytest
import torch

from conftest import smooth_images
from omnicodec.codecs import available_codecs, create_codec, register_codec
from omnicodec.codecs.base import Codec
from omnicodec.coding import information_meter
from omnicodec.errors import DuplicateCodecError, UnknownCodecError


@pytest.mark.parametrize("size", [(64, 64), (1, 1), (37, 70), (130, 65)])
def test_compress_decompress_matches_eval_forward(tiny_codec, size):
    x = smooth_images(1, max(size), seed=5)[..., : size[0], : size[1]]
    with torch.no_grad():
        expected = tiny_codec(x).x_hat.clamp(0, 1)
    bitstream = tiny_codec.compress(x)
    x_hat = tiny_codec.decompress(bitstream)
    assert x_hat.shape == x.shape
    torch.testing.assert_close(x_hat, expected, rtol=0, atol=1e-5)


def test_stream_sizes_match_estimated_bits(tiny_codec):
    x = smooth_images(1, 192, seed=6)
    with torch.no_grad():
        out = tiny_codec(x)
    float_estimate = sum((-torch.log2(lik)).sum().item() for lik in out.likelihoods.values())
    with information_meter() as meter:  # information content of the coded symbols, escapes included
        bitstream = tiny_codec.compress(x)
    bits = 8 * bitstream.num_bytes
    assert meter.bits > 2000  # a meaningful amount of data
    assert abs(bits - meter.bits) <= 0.01 * meter.bits + 64 * len(bitstream.streams)
    # the float likelihoods charge escaped outliers differently: close, not exact
    assert abs(bits - float_estimate) <= 0.1 * float_estimate + 64 * len(bitstream.streams)


def test_encoder_reconstruction_is_the_decoders(tiny_codec):
    """The encoder conditions y on the decoded z_hat, so its y_hat is what the decoder gets."""
    x = smooth_images(1, 64, seed=7)
    with torch.no_grad():
        bitstream, y_hat_encoder = tiny_codec.latent.compress(tiny_codec.g_a(x))
    y_hat_decoder = tiny_codec.latent.decompress(bitstream)
    assert torch.equal(y_hat_encoder, y_hat_decoder)


def test_config_rebuilds_the_codec(tiny_codec):
    clone = create_codec(tiny_codec.codec_id, tiny_codec.config())
    clone.load_state_dict(tiny_codec.state_dict())
    x = smooth_images(1, 64, seed=8)
    assert clone.eval().compress(x).streams == tiny_codec.compress(x).streams


def test_registry():
    assert "image/hyperprior" in available_codecs()
    with pytest.raises(DuplicateCodecError):

        @register_codec("image/hyperprior")
        class Again(Codec):
            pass

    with pytest.raises(UnknownCodecError):
        create_codec("image/nope")
