"""The minimal Lightning training path: a few steps, a checkpoint, an export, a file."""

import numpy as np
import torch
from PIL import Image

from conftest import smooth_images
from omnicodec import compress_file, decompress_file, zoo
from omnicodec.train.export import export_checkpoint
from omnicodec.train.lit import warmup_cosine
from omnicodec.train.run import train_image_codec


def write_folder(folder, n=6, size=80):
    folder.mkdir()
    for i, img in enumerate(smooth_images(n, size, seed=1)):
        Image.fromarray((img.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)).save(folder / f"{i}.png")
    return folder


def test_train_checkpoint_export_and_use(tmp_path):
    data = write_folder(tmp_path / "images")
    last = train_image_codec(
        [str(data)], str(tmp_path / "run"), codec_config={"N": 8, "M": 12}, lmbda=0.01, steps=4,
        batch_size=2, crop=64, lr=1e-3, checkpoint_every=2, accelerator="cpu",
    )
    assert last.is_file()
    state = torch.load(last, map_location="cpu", weights_only=False)
    assert state["global_step"] == 4  # one step per batch, although two optimizers step
    entry = export_checkpoint(last, tmp_path / "zoo", quality=2)
    codec = zoo.load_file_entry(entry)
    assert codec.config() == {"N": 8, "M": 12} and codec.quality == 2
    src = data / "0.png"
    compress_file(src, tmp_path / "0.omc", weights=entry)
    decompress_file(tmp_path / "0.omc", tmp_path / "0.png", weights=entry)
    assert Image.open(tmp_path / "0.png").size == Image.open(src).size


def test_training_lowers_the_loss():
    from omnicodec.codecs import create_codec
    from omnicodec.train.losses import image_rd_loss

    torch.manual_seed(0)
    codec = create_codec("image/hyperprior", {"N": 8, "M": 12})
    opt = torch.optim.Adam(codec.main_parameters(), lr=3e-3)
    x = smooth_images(4, 64)
    losses = []
    for _ in range(30):
        loss = image_rd_loss(codec(x), x, 0.01)["loss"]
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert np.mean(losses[-5:]) < 0.5 * np.mean(losses[:5])


def test_warmup_cosine_schedule():
    assert warmup_cosine(0, 10, 100, 0.1) == 0.1
    assert warmup_cosine(9, 10, 100, 0.1) == 1.0
    assert abs(warmup_cosine(100, 10, 100, 0.1) - 0.1) < 1e-12
    assert warmup_cosine(55, 10, 100, 0.1) < 1.0
