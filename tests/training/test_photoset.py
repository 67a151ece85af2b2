"""The photo-set builder's filters, de-duplication and credits, on generated files (no package is fetched)."""

from collections import Counter

import numpy as np
import pytest
from PIL import Image

from neuralpatch.files import InputError
from neuralpatch.training.photoset import build, credit, credits_of, deduplicate, fingerprint, photo_verdict, pictures


def photo(seed: int, size=(800, 600)) -> Image.Image:
    """A photograph's statistics: smooth large-scale structure plus fine texture and sensor noise."""
    rng = np.random.default_rng(seed)
    coarse = np.asarray(Image.fromarray(rng.integers(0, 255, (6, 8, 3), dtype=np.uint8)).resize(size, Image.BICUBIC))
    return Image.fromarray(np.clip(coarse + rng.normal(0, 12, coarse.shape), 0, 255).astype(np.uint8))


def test_photographs_pass_and_drawings_gradients_and_icons_do_not():
    assert photo_verdict(photo(0)) is None
    logo = Image.new("RGB", (800, 600), (20, 40, 200))
    logo.paste((250, 250, 250), (300, 200, 500, 400))
    assert photo_verdict(logo).startswith("drawing")
    ramp = np.tile(np.linspace(0, 255, 800), (600, 1))[..., None].repeat(3, axis=2)
    ramp += np.random.default_rng(0).normal(0, 0.6, ramp.shape)  # dithered: few exactly flat pixels
    assert photo_verdict(Image.fromarray(np.clip(ramp, 0, 255).astype(np.uint8))).startswith("gradient")
    assert photo_verdict(photo(0, (300, 200))).startswith("smaller")


def test_the_largest_of_near_duplicates_is_kept_and_excluded_lookalikes_dropped(tmp_path):
    root = tmp_path / "usr/share/backgrounds"
    root.mkdir(parents=True)
    photo(1).save(root / "a.jpg", quality=90)
    photo(1).resize((1600, 1200)).save(root / "a_large.jpg", quality=90)  # the same picture, larger
    photo(2).save(root / "b.png")
    Image.new("RGB", (800, 600), (30, 30, 30)).save(root / "logo.png")
    report = Counter()
    found = pictures(tmp_path, "pkg", report)
    assert sorted(p.name.split("/")[-1] for p in found) == ["a.jpg", "a_large.jpg", "b.png"]
    assert report == {"drawing": 1}
    kept = deduplicate(found, [fingerprint(photo(2))], report)
    assert [p.name.split("/")[-1] for p in kept] == ["a_large.jpg"]
    assert report == {"drawing": 1, "duplicate": 1, "like an excluded photo": 1}


def test_credits_follow_the_packages_copyright_file(tmp_path):
    doc = tmp_path / "usr/share/doc/pkg"
    doc.mkdir(parents=True)
    (doc / "copyright").write_text(
        "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\n"
        "Files: *\nCopyright: 2020, Packager\nLicense: GPL-2+\n\n"
        "Files: nature/Aqua.jpg\n       nature/Dune.jpg\nCopyright: 2008, Charles Barbin\nLicense: CC-BY-SA-3.0\n")
    stanzas = credits_of(tmp_path, "pkg")
    assert credit(stanzas, "usr/share/backgrounds/mate/nature/Dune.jpg") == ("2008, Charles Barbin", "CC-BY-SA-3.0")
    assert credit(stanzas, "usr/share/backgrounds/mate/desktop/Other.jpg") == ("2020, Packager", "GPL-2+")
    (doc / "copyright").write_text("Image Authors:\n - Aqua.jpg: Copyright 2008 Someone, CC-BY-SA\n")  # free-form
    assert credit(credits_of(tmp_path, "pkg"), "x/Aqua.jpg")[0] == "see /usr/share/doc/pkg/copyright"


def test_reserved_evaluation_packages_are_refused(tmp_path):
    with pytest.raises(InputError, match="reserved for independent evaluation"):
        build(tmp_path, ["mate-backgrounds", "plasma-workspace-wallpapers"])
