"""S2LIC and FEDS on tiny configurations: exact round trips at any size, sizes that match
the estimate, and the three-phase distillation."""

from pathlib import Path

import pytest
import torch

from conftest import smooth_images
from omnicodec.codecs import create_codec
from omnicodec.train.losses import image_rd_loss

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
TINY = {
    "image/s2lic": {"N": 16, "M": 32, "hyper_channels": 16, "slice_channels": 16, "depths": [1, 1, 1, 1, 1],
                    "heads": [2, 2, 2, 2, 2], "window": 4, "context_dim": 16, "couplings": 1},
    "image/s2lic-small": {"N": 16, "M": 32, "hyper_channels": 16, "slice_channels": 16, "depths": [1, 1, 1, 1, 1],
                          "heads": [2, 2, 2, 2, 2], "window": 4, "context_dim": 16, "couplings": 1},
    "image/feds-teacher": {"N": 16, "M": 64, "hyper_channels": 16, "depth": 1, "heads": 2, "window": 4,
                           "context_hidden": 16},
    "image/feds-student": {"N": 8, "M": 32, "hyper_channels": 8, "context_hidden": 8},
}


def quick_train(codec, steps=60, seed=0, lmbda=0.2):
    torch.manual_seed(seed)
    opt = torch.optim.Adam(codec.main_parameters(), lr=2e-3)
    aux = torch.optim.Adam(codec.aux_parameters(), lr=0.3)
    data = smooth_images(8, 64, seed)
    codec.train()
    for step in range(steps):
        x = data[(step * 4) % 8 : (step * 4) % 8 + 4]
        loss = image_rd_loss(codec(x), x, lmbda)["loss"]
        opt.zero_grad()
        loss.backward()
        opt.step()
        a = codec.aux_loss()
        aux.zero_grad()
        a.backward()
        aux.step()
    return codec.eval().freeze()


@pytest.fixture(scope="module")
def tiny():
    cache = {}

    def get(codec_id):
        if codec_id not in cache:
            torch.manual_seed(1)
            cache[codec_id] = quick_train(create_codec(codec_id, TINY[codec_id]))
        return cache[codec_id]

    return get


@pytest.mark.parametrize("codec_id", list(TINY))
@pytest.mark.parametrize("size", [(64, 64), (1, 1), (45, 70)])
def test_round_trip_any_size(tiny, codec_id, size):
    codec = tiny(codec_id)
    x = smooth_images(1, 96, seed=4)[..., : size[0], : size[1]]
    with torch.no_grad():
        expected = codec(x).x_hat.clamp(0, 1)
    bitstream = codec.compress(x)
    decoded = codec.decompress(bitstream)
    assert decoded.shape == x.shape
    torch.testing.assert_close(decoded, expected, rtol=0, atol=1e-4)


@pytest.mark.parametrize("codec_id", list(TINY))
def test_sizes_match_the_estimate(tiny, codec_id):
    codec = tiny(codec_id)
    x = smooth_images(1, 128, seed=5)
    with torch.no_grad():
        estimate = sum(float((-torch.log2(v)).sum()) for v in codec(x).likelihoods.values())
    bitstream = codec.compress(x)
    assert estimate > 1000 and list(bitstream.streams) == ["image"]
    coded = 8 * (bitstream.num_bytes - 4)  # the unit's z and y streams, less the length field of z
    assert abs(coded - estimate) <= 0.01 * estimate + 64 * 2  # up to 64 bits of flush and check values per stream


def test_config_round_trips_and_registered_ids():
    from omnicodec.codecs import available_codecs

    for codec_id in ("image/s2lic", "image/s2lic-small", "image/feds-teacher", "image/feds-student"):
        assert codec_id in available_codecs()
    codec = create_codec("image/s2lic", TINY["image/s2lic"])
    clone = create_codec("image/s2lic", codec.config())
    assert clone.config() == codec.config()
    assert sum(p.numel() for p in clone.parameters()) == sum(p.numel() for p in codec.parameters())


def test_enhancement_module_is_inverted_by_the_synthesis():
    from omnicodec.layers import EnhancementModule

    m = EnhancementModule(3, couplings=2)
    for p in m.parameters():
        torch.nn.init.normal_(p, std=0.1)
    x = torch.rand(2, 3, 16, 24)
    assert not torch.allclose(m(x), x)
    torch.testing.assert_close(m.inverse(m(x)), x, rtol=0, atol=1e-5)


def test_paper_sizes():
    small = create_codec("image/s2lic-small")
    assert sum(p.numel() for p in small.parameters()) * 2 < 8 * 2**20 - 200_000  # float16 + tables < 8 MB
    s2lic = create_codec("image/s2lic")
    assert (s2lic.N, s2lic.M, s2lic.latent.y_codec.slices) == (192, 320, [32] * 10)
    teacher, student = create_codec("image/feds-teacher"), create_codec("image/feds-student")
    ratio = sum(p.numel() for p in student.parameters()) / sum(p.numel() for p in teacher.parameters())
    assert ratio <= 0.4  # at least 60 % fewer parameters


@pytest.fixture(scope="module")
def teacher_weights(tiny, tmp_path_factory):
    from omnicodec.zoo import save_weights

    return save_weights(tiny("image/feds-teacher"), tmp_path_factory.mktemp("teacher"), "teacher", quality=1)


def test_three_phase_distillation_lowers_each_loss(teacher_weights):
    from omnicodec.train.distill import LitDistill

    torch.manual_seed(0)
    x = smooth_images(4, 64, seed=9)
    previous = None
    for phase in (1, 2, 3):
        module = LitDistill(
            "image/feds-teacher", TINY["image/feds-teacher"], "image/feds-student", TINY["image/feds-student"], phase,
            str(teacher_weights),
        )
        if previous is not None:  # each phase starts where the previous one ended
            module.load_state_dict(previous)
        module.train()
        params = [p for n, p in module.named_parameters() if not n.startswith("teacher.") and not n.endswith("quantiles")]
        opt = torch.optim.Adam(params, lr=3e-3)
        with torch.no_grad():
            before = module.losses(x)["loss"].item()
        for _ in range(25):
            loss = module.losses(x)["loss"]
            opt.zero_grad()
            loss.backward()
            opt.step()
        with torch.no_grad():
            after = module.losses(x)["loss"].item()
        assert after < 0.8 * before, (phase, before, after)
        previous = module.state_dict()


def test_distillation_checkpoints_carry_the_random_generators(teacher_weights):
    """A resumed distillation phase draws the same noise and crops as the uninterrupted one."""
    import random

    import numpy as np

    from omnicodec.train.distill import LitDistill

    module = LitDistill("image/feds-teacher", TINY["image/feds-teacher"], "image/feds-student",
                        TINY["image/feds-student"], 1, str(teacher_weights))
    checkpoint = {}
    module.on_save_checkpoint(checkpoint)
    expected = torch.rand(4), np.random.rand(4), random.random()
    torch.manual_seed(123), np.random.seed(4), random.seed(5)
    module.on_load_checkpoint(checkpoint)
    drawn = torch.rand(4), np.random.rand(4), random.random()
    torch.testing.assert_close(drawn[0], expected[0], rtol=0, atol=0)
    assert np.array_equal(drawn[1], expected[1]) and drawn[2] == expected[2]


def distill_args(phase: int, run, data, teacher, steps: int, *extra: str) -> list[str]:
    """``omnicodec train`` arguments for a distillation phase's config, tiny and redirected into ``run``."""
    import yaml

    config = yaml.safe_load((CONFIGS / "image" / f"feds-distill-phase{phase}.yaml").read_text())
    config["trainer"].update(max_steps=steps, accelerator="cpu", enable_progress_bar=False)
    config["trainer"]["logger"] = [{"class_path": "lightning.pytorch.loggers.CSVLogger",
                                    "init_args": {"save_dir": str(run)}}]
    config["trainer"]["callbacks"] = [{"class_path": "lightning.pytorch.callbacks.ModelCheckpoint", "init_args": {
        "dirpath": f"{run}/checkpoints", "every_n_train_steps": 1, "save_last": True, "save_top_k": -1}}]
    config["model"]["init_args"].update(teacher_weights=str(teacher), teacher_config=TINY["image/feds-teacher"],
                                        student_config=TINY["image/feds-student"])
    config["data"]["init_args"].update(train_dirs=[str(data)], crop=64, batch_size=2)
    path = run.parent / f"{run.name}.yaml"
    path.write_text(yaml.safe_dump(config))
    return ["--config", str(path), *extra]


def test_distillation_phases_chain_resume_and_export(tmp_path, teacher_weights):
    from PIL import Image

    from omnicodec import compress_file, decompress_file
    from omnicodec.train.cli import main
    from omnicodec.train.export import export_checkpoint

    data = tmp_path / "images"
    data.mkdir()
    for i, img in enumerate(smooth_images(4, 80, seed=2)):
        Image.fromarray((img.permute(1, 2, 0).numpy() * 255).round().astype("uint8")).save(data / f"{i}.png")
    last = None
    for phase in (1, 2, 3):  # each phase starts from the previous one's weights
        run = tmp_path / f"phase{phase}"
        main(distill_args(phase, run, data, teacher_weights, 2, *(["--init", str(last)] if last else [])))
        last = run / "checkpoints" / "last.ckpt"
        assert torch.load(last, weights_only=False)["global_step"] == 2
    # a phase continues exactly from its own checkpoint
    main(distill_args(3, tmp_path / "phase3", data, teacher_weights, 3, "--resume", str(last)))
    resumed = last
    assert torch.load(resumed, weights_only=False)["global_step"] == 3
    entry = export_checkpoint(resumed, tmp_path / "zoo", quality=1)
    src = data / "0.png"
    compress_file(src, tmp_path / "s.omc", weights=entry)
    decompress_file(tmp_path / "s.omc", tmp_path / "s.png", weights=entry)
    assert Image.open(tmp_path / "s.png").size == (80, 80)
