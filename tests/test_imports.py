"""Import boundaries: the coder works without torch, codecs work without Lightning."""

import subprocess
import sys


def imported_after(statement: str) -> set[str]:
    code = f"import sys; {statement}; print(' '.join(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return set(out.stdout.split())


def test_coding_does_not_import_torch():
    modules = imported_after("import omnicodec.coding, omnicodec.coding.container")
    assert "omnicodec.coding" in modules
    assert "torch" not in modules


def test_codecs_do_not_import_lightning():
    modules = imported_after("import omnicodec.codecs; omnicodec.codecs.available_codecs()")
    assert "omnicodec.codecs.image.hyperprior" in modules
    assert not {"lightning", "pytorch_lightning"} & modules


def test_compressing_does_not_import_compressai():
    modules = imported_after("import omnicodec.api, omnicodec.cli, omnicodec.codecs; omnicodec.codecs.available_codecs()")
    assert "omnicodec.layers.gdn" in modules
    assert not any(m == "compressai" or m.startswith("compressai.") for m in modules)
