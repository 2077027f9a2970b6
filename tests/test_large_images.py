"""Large images in bounded memory: tiled transforms equal whole-image ones; declared sizes are
checked against a memory estimate before anything that large is allocated (decompression bombs)."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from torch import nn

import omnicodec.entropy_models.hyperprior as hyperprior_module
from omnicodec.codecs import create_codec
from omnicodec.errors import InputError, MemoryLimitError
from omnicodec.layers import GDN, ResidualBlock
from omnicodec.layers.tiling import NotTileable, input_radius, tiled
from omnicodec.memory import check_memory, parse_size, resident_memory

SRC = Path(__file__).resolve().parents[1] / "src"

TINY = {
    "image/hyperprior": {"N": 8, "M": 12},
    "image/feds-student": {"N": 8, "M": 32, "hyper_channels": 8, "context_hidden": 8},
}


def smooth(h, w, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.nn.functional.interpolate(torch.rand(1, 3, h // 16 + 1, w // 16 + 1, generator=g), size=(h, w),
                                        mode="bilinear", align_corners=False)
    return (x + 0.05 * torch.rand(1, 3, h, w, generator=g)).clamp(0, 1)


# --- receptive fields -------------------------------------------------------------------------


def test_input_radius_of_known_layers():
    five = nn.Sequential(*[nn.Conv2d(4, 4, 5, stride=2, padding=2) for _ in range(4)])
    assert input_radius(five) == 2 + 2 * 2 + 2 * 4 + 2 * 8  # 30 pixels for g_a of the hyperprior
    assert input_radius(nn.Conv2d(4, 4, 3, padding=1), 3) == 4
    assert input_radius(nn.Sequential(GDN(4), nn.LeakyReLU())) == 0
    assert input_radius(ResidualBlock(4)) == 2
    up = nn.ConvTranspose2d(4, 4, 5, stride=2, padding=2, output_padding=1)
    assert input_radius(up) == 1 and input_radius(up, 1) == 2
    with pytest.raises(NotTileable):
        input_radius(nn.MultiheadAttention(4, 1))


def test_a_window_attention_codec_is_not_tiled_and_its_estimate_says_so():
    s2lic = create_codec("image/s2lic-small", {"N": 16, "M": 32, "hyper_channels": 16, "context_dim": 16})
    assert not s2lic.tileable
    hyper = create_codec("image/hyperprior", {"N": 96, "M": 128})
    assert hyper.tileable
    # untiled transforms pay for the whole image: the estimate grows with the area ...
    big, small = s2lic.memory_estimate(4096, 4096), s2lic.memory_estimate(1024, 1024)
    assert big > 12 * small
    # ... while a tiled codec's estimate grows only with its latents and images, not its transforms
    assert hyper.memory_estimate(4096, 4096) < 4 * hyper.memory_estimate(1024, 1024) + (1 << 30)


# --- tiled == whole ---------------------------------------------------------------------------


@pytest.mark.parametrize("codec_id", sorted(TINY))
def test_tiled_transforms_equal_whole_ones(codec_id):
    torch.manual_seed(0)
    codec = create_codec(codec_id, TINY[codec_id]).eval()
    assert codec.tileable
    x = smooth(192, 320)
    with torch.no_grad():
        codec.tile_size = 1 << 20
        y_whole = codec.analysis(x)
        x_whole = codec.synthesis(y_whole)
        codec.tile_size = 64  # 3 x 5 tiles of the image, 4 x 4 elements of y each
        y_tiled = codec.analysis(x)
        x_tiled = codec.synthesis(y_whole)
    assert y_tiled.shape == y_whole.shape and x_tiled.shape == x_whole.shape
    assert torch.allclose(y_tiled, y_whole, rtol=0, atol=1e-5 * y_whole.abs().max().item())
    assert torch.allclose(x_tiled, x_whole, rtol=0, atol=1e-5 * x_whole.abs().max().item())


def test_eight_bit_pixels_give_the_same_latents_as_floats():
    torch.manual_seed(1)
    codec = create_codec("image/hyperprior", TINY["image/hyperprior"]).eval()
    codec.tile_size = 64
    pixels = (smooth(128, 192) * 255).round().to(torch.uint8)
    with torch.no_grad():
        assert torch.equal(codec.analysis(pixels), codec.analysis(pixels.float() / 255))


def test_tiles_need_their_halo():
    """A halo one pixel short of the receptive field shows at the seams: the halo is not decoration."""
    torch.manual_seed(2)
    net = nn.Sequential(nn.Conv2d(3, 4, 5, stride=2, padding=2), nn.Conv2d(4, 4, 5, stride=2, padding=2))
    x = torch.rand(1, 3, 64, 64)
    halo = input_radius(net)
    with torch.no_grad():
        whole = net(x)
        good = tiled(net, x, None, 16, halo, align=4)
        short = tiled(net, x, None, 16, halo - 4, align=4)
    assert torch.allclose(good, whole, atol=1e-6)
    assert not torch.allclose(short, whole, atol=1e-3)


def test_exact_side_parameters_over_tiles_are_bit_identical(tiny_codec, monkeypatch):
    x = smooth(256, 384, seed=3)
    whole = tiny_codec.compress(x)
    monkeypatch.setattr(hyperprior_module, "SIDE_TILE", 1)  # every element of z its own tile
    tiled_stream = tiny_codec.compress(x)
    assert tiny_codec.latent.exact_parameters
    assert tiled_stream.streams == whole.streams
    assert torch.equal(tiny_codec.decompress(tiled_stream), tiny_codec.decompress(whole))


# --- memory limits ----------------------------------------------------------------------------


def test_parse_size():
    assert parse_size("2G") == 2 << 30
    assert parse_size("1500M") == 1500 << 20
    assert parse_size("1.5GiB") == 3 << 29
    assert parse_size("4096") == 4096
    for bad in ("", "2X", "-1G", "0", "lots", "9" * 400, "9" * 30 + "T"):
        with pytest.raises(InputError):
            parse_size(bad)


def test_check_memory_names_the_estimate_and_the_limit():
    check_memory("a small thing", 1 << 20, resident_memory() + (64 << 20))
    with pytest.raises(MemoryLimitError, match=r"a 8192x8192 image needs about .* more than the limit of 1\.0 GiB"):
        check_memory("a 8192x8192 image", 4 << 30, 1 << 30)


BOMBS = textwrap.dedent(
    r"""
    import json, resource, signal, sys
    resource.setrlimit(resource.RLIMIT_AS, (6 << 30, 6 << 30))  # a missed check fails, it cannot take the machine

    def too_slow(*_):
        raise TimeoutError("still running after 30 s: the size was not refused")

    signal.signal(signal.SIGALRM, too_slow)
    from pathlib import Path
    import torch
    from PIL import Image
    from omnicodec import api, cli, zoo
    from omnicodec.coding import coder_identity, container
    from omnicodec.errors import OmnicodecError

    tmp = Path(sys.argv[1])
    zoo.load(zoo.default_entry("image")["codec_id"])  # weights and torch in memory before measuring
    zoo.load(zoo.default_entry("video")["codec_id"])

    def status(key):
        for line in open("/proc/self/status"):
            if line.startswith(key):
                return int(line.split()[1]) << 10

    def crafted(media, h, w, extra, valid_z=True):
        # a header declaring h x w, with the stream shapes that size needs, and a valid z stream
        entry = zoo.default_entry(media)
        model = zoo.load(entry["codec_id"]).codec
        hyper = model.latent if media == "image" else model.intra  # the image prior codes z
        shapes = model.stream_shapes(h, w)
        side = {"size": [h, w]}
        if hyper.entropy_params:
            side["entropy_params"] = hyper.entropy_params
        z = hyper.entropy_bottleneck.compress(torch.zeros(shapes["z"]))[0].streams[""] if valid_z else bytes(4000)
        head = {"codec": entry["codec_id"], "quality": entry["quality"], "weights": entry["sha256"][:16],
                "coder": coder_identity(), "media": dict({"type": media, "height": h, "width": w}, **extra),
                "shapes": shapes, "side_info": side}
        return head, z

    def image_bomb(h, w, valid_z=True):
        path = tmp / f"bomb-{w}x{h}.omc"
        head, z = crafted("image", h, w, {"bit_depth": 8, "colour_space": "RGB"}, valid_z)
        path.write_bytes(container.pack(head, {"z": z, "y": bytes(12000)}))
        return path

    def video_bomb(h, w):
        path = tmp / f"clip-{w}x{h}.omc"
        head, z = crafted("video", h, w, {"fps": [25, 1], "frames": 1, "intra_period": 32, "bit_depth": 8,
                                          "colour_space": "RGB"})
        head.pop("shapes")
        path.write_bytes(container.pack(head, {"frame-0": len(z).to_bytes(4, "little") + z + bytes(16000)}))
        return path

    big_png = tmp / "big.png"
    Image.new("RGB", (9000, 9000), (90, 120, 150)).save(big_png)  # a few hundred KB on disk

    thin, square, clip = image_bomb(1, 1 << 28, valid_z=False), image_bomb(8192, 8192), video_bomb(8192, 8192)
    cases = {
        "image 1x2^28": lambda: api.decompress_file(thin, tmp / "a.png"),
        "image 8192^2": lambda: api.decompress_file(square, tmp / "b.png", max_memory="1G"),
        "video 8192^2": lambda: api.decompress_file(clip, tmp / "c.y4m", max_memory="1G"),
        "png 9000^2": lambda: api.compress_file(big_png, tmp / "d.omc", max_memory="1G"),
        "cli 8192^2": lambda: cli.main(["decompress", str(square), str(tmp / "e.png"), "--max-memory", "1G"]),
    }
    for name, run in cases.items():
        before = status("VmRSS:")
        open("/proc/self/clear_refs", "w").write("5")  # restart the peak (VmHWM) from here
        signal.alarm(30)
        try:
            outcome = {"result": repr(run())}
        except BaseException as exc:
            outcome = {"error": type(exc).__name__, "omnicodec": isinstance(exc, OmnicodecError), "message": str(exc)}
        signal.alarm(0)
        outcome["growth_mb"] = (status("VmHWM:") - before) / 2**20
        outcome["outputs"] = sorted(p.name for p in tmp.iterdir() if p.suffix != ".omc" and p.name != "big.png")
        print(json.dumps(dict(outcome, case=name)), flush=True)
    """
)


@pytest.fixture(scope="module")
def bombs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("bombs")
    proc = subprocess.run([sys.executable, "-c", BOMBS, str(tmp)], capture_output=True, text=True, timeout=600,
                          env=dict(os.environ, PYTHONPATH=str(SRC), OMP_NUM_THREADS="1"))
    results = {}
    for line in proc.stdout.splitlines():
        if line.startswith("{"):
            r = json.loads(line)
            results[r.pop("case")] = r
    assert results, proc.stderr[-3000:]
    return results, proc.stderr


@pytest.mark.parametrize("case", ["image 8192^2", "video 8192^2", "png 9000^2"])
def test_declared_sizes_over_the_limit_are_refused_before_allocating(bombs, case):
    results, _ = bombs
    r = results[case]
    assert r.get("error") == "MemoryLimitError", r
    size = "9000x9000" if case.startswith("png") else "8192x8192"
    assert size in r["message"] and "limit of 1.0 GiB" in r["message"]
    assert r["growth_mb"] < 150, r  # refused before the pixels, the latents or the network ran
    assert r["outputs"] == []


def test_the_padded_size_counts_against_the_pixel_cap(bombs):
    """1 x 2^28 pixels are 2^34 after padding to 64: refused as implausible, without allocating."""
    results, _ = bombs
    r = results["image 1x2^28"]
    assert r.get("omnicodec") and r["error"] == "CorruptFileError", r
    assert "implausible image size" in r["message"]
    assert r["growth_mb"] < 150, r


def test_cli_refuses_with_one_line_and_status_2(bombs):
    results, stderr = bombs
    r = results["cli 8192^2"]
    assert r.get("result") == "2", r
    lines = [line for line in stderr.splitlines() if "limit of 1.0 GiB" in line]
    assert len(lines) == 1 and lines[0].startswith("omnicodec: error:") and "8192x8192" in lines[0]
    assert r["growth_mb"] < 150, r
