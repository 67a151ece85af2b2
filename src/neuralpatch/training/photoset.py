"""A training photo set anyone can rebuild offline from Debian's wallpaper packages.

    python -m neuralpatch.training.photoset data/photoset [--packages mate-backgrounds ...] [--exclude-like DIR]

Downloads each package with ``apt-get download``, unpacks it with ``dpkg-deb``, keeps the photographs (no
drawings, logos or flat gradients: see ``photo_verdict``), drops near-duplicates (the same picture at several
resolutions, or one already in ``--exclude-like``, e.g. the evaluation photos) keeping the largest, and writes
the photos with ``CREDITS.md`` (package, file, copyright holders, licence from the package's copyright file).
The reserved evaluation sources of the developers' guide are refused.
"""

from __future__ import annotations

import argparse
import fnmatch
import re
import shutil
import subprocess
import tempfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from neuralpatch.files import IMAGE_SUFFIXES, InputError, atomic_write, open_image

PACKAGES = ["mate-backgrounds", "gnome-backgrounds", "lomiri-wallpapers", "lomiri-wallpapers-16.04",
            "lomiri-wallpapers-20.04", "ukui-wallpapers", "sway-backgrounds"]
RESERVED = ("plasma-workspace-wallpapers", "opencv-doc", "libopencv-doc", "opencv-data")  # evaluation only
MIN_SIDE = 512  # px: smaller pictures are icons or thumbnails


@dataclass
class Picture:
    package: str
    path: Path  # the unpacked file
    name: str  # its path inside the package
    width: int
    height: int
    fingerprint: int  # 64-bit difference hash of the grey thumbnail


def photo_verdict(image: Image.Image) -> str | None:
    """None for a photograph, else why not: too small, flat regions (drawings, logos, renders) or no fine
    detail (gradients, blurs). Measured on a 256-px grey thumbnail: photographs have sensor noise and texture,
    so few neighbouring pixels are exactly equal and the mean gradient is well above a smooth ramp's."""
    if min(image.size) < MIN_SIDE:
        return f"smaller than {MIN_SIDE} px"
    grey = np.asarray(image.convert("L").resize((256, round(256 * image.height / image.width)), Image.BILINEAR),
                      dtype=np.float32)
    dx, dy = np.abs(np.diff(grey, axis=1)), np.abs(np.diff(grey, axis=0))
    flat = ((dx[:-1] == 0) & (dy[:, :-1] == 0)).mean()
    if flat > 0.3:
        return f"drawing ({100 * flat:.0f} % flat pixels)"
    detail = (dx.mean() + dy.mean()) / 2
    if detail < 1.5:
        return f"gradient (mean step {detail:.2f} grey levels)"
    return None


def fingerprint(image: Image.Image) -> int:
    """64-bit difference hash: is each pixel of a 9×8 grey thumbnail brighter than its right neighbour."""
    small = np.asarray(image.convert("L").resize((9, 8), Image.BILINEAR), dtype=np.int16)
    return int("".join("1" if bit else "0" for bit in (small[:, 1:] > small[:, :-1]).flatten()), 2)


def near_duplicate(a: int, b: int, bits: int = 6) -> bool:
    return bin(a ^ b).count("1") <= bits


def fetch(package: str, folder: Path) -> Path:
    """Downloads and unpacks ``package`` into ``folder/<package>``; returns that folder."""
    target = folder / package
    target.mkdir(parents=True)
    done = subprocess.run(["apt-get", "download", package], cwd=folder, capture_output=True, text=True)
    debs = list(folder.glob(f"{package}_*.deb"))
    if done.returncode != 0 or not debs:
        raise InputError(f"apt-get download {package} failed: {done.stderr.strip().splitlines()[-1:]} "
                         "(is the package name right and a Debian mirror reachable?)")
    subprocess.run(["dpkg-deb", "-x", str(debs[0]), str(target)], check=True)
    return target


def credits_of(root: Path, package: str) -> list[tuple[list[str], str, str]]:
    """(file patterns, copyright, licence) stanzas of the package's machine-readable (DEP-5) copyright file; a
    free-form file gives one stanza pointing to it."""
    path = root / "usr/share/doc" / package / "copyright"
    text = path.read_text(errors="replace") if path.exists() else ""
    stanzas = []
    for block in re.split(r"\n\s*\n", text):
        fields = dict(re.findall(r"^([A-Za-z-]+):[ \t]*((?:.*)(?:\n[ \t]+.*)*)", block, re.MULTILINE))
        if "Files" in fields:
            licence = fields.get("License", "").strip().splitlines()
            stanzas.append((fields["Files"].split(), " ".join(fields.get("Copyright", "").split()),
                            licence[0].strip() if licence else ""))
    return stanzas or [(["*"], f"see /usr/share/doc/{package}/copyright", "see the same file")]


def credit(stanzas: list[tuple[list[str], str, str]], name: str) -> tuple[str, str]:
    """(copyright, licence) of the installed file ``name``: the last stanza whose pattern matches its path's end
    (DEP-5: later stanzas override earlier ones)."""
    found = ("see the package's copyright file", "see the same file")
    for patterns, holders, licence in stanzas:
        if any(fnmatch.fnmatch(name, pattern) or fnmatch.fnmatch(name, "*/" + pattern) for pattern in patterns):
            found = (holders, licence)
    return found


def pictures(root: Path, package: str, report: Counter) -> list[Picture]:
    """The photographs unpacked in ``root``; ``report`` counts the rejected by reason."""
    found = []
    for path in sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()):
        image = open_image(path)
        verdict = photo_verdict(image)
        if verdict is None:
            found.append(Picture(package, path, str(path.relative_to(root)), *image.size, fingerprint(image)))
        else:
            report[verdict.split(" (")[0]] += 1
    return found


def deduplicate(found: list[Picture], excluded: list[int], report: Counter) -> list[Picture]:
    """The largest of each group of near-duplicates, none like an ``excluded`` fingerprint."""
    kept: list[Picture] = []
    for picture in sorted(found, key=lambda p: p.width * p.height, reverse=True):
        if any(near_duplicate(picture.fingerprint, other) for other in excluded):
            report["like an excluded photo"] += 1
        elif any(near_duplicate(picture.fingerprint, other.fingerprint) for other in kept):
            report["duplicate"] += 1
        else:
            kept.append(picture)
    return kept


def build(output: Path, packages: list[str], exclude_like: Path | None = None) -> tuple[list[Picture], Counter]:
    """Fetches ``packages`` and writes their photographs and CREDITS.md to ``output``; returns (photos, rejects)."""
    for package in packages:
        if package.startswith(RESERVED):
            raise InputError(f"{package} is reserved for independent evaluation (developers' guide): never train on it")
    excluded = []
    if exclude_like is not None:
        for path in sorted(p for p in exclude_like.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES):
            excluded.append(fingerprint(open_image(path)))
    output.mkdir(parents=True, exist_ok=True)
    report: Counter = Counter()
    with tempfile.TemporaryDirectory() as folder:
        found, stanzas = [], {}
        for package in packages:
            root = fetch(package, Path(folder))
            stanzas[package] = credits_of(root, package)
            found += pictures(root, package, report)
        kept = deduplicate(found, excluded, report)
        lines = ["# Credits", "", "| photo | package | file | copyright | licence |", "|---|---|---|---|---|"]
        for picture in sorted(kept, key=lambda p: (p.package, p.name)):
            stem = f"{picture.package}__{Path(picture.name).stem}"
            target = output / (stem + picture.path.suffix.lower())
            atomic_write(target, lambda temporary: shutil.copyfile(picture.path, temporary))
            holders, licence = credit(stanzas[picture.package], picture.name)
            lines.append(f"| {target.name} | {picture.package} | {picture.name} | {holders} | {licence} |")
        atomic_write(output / "CREDITS.md", lambda temporary: temporary.write_text("\n".join(lines) + "\n"))
    return kept, report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("output", type=Path)
    parser.add_argument("--packages", nargs="+", default=PACKAGES)
    parser.add_argument("--exclude-like", type=Path, help="drop photos that look like one in this folder")
    args = parser.parse_args()
    kept, report = build(args.output, args.packages, args.exclude_like)
    megapixels = sum(p.width * p.height for p in kept) / 1e6
    print(f"{len(kept)} photos, {megapixels:.1f} megapixels in {args.output}; rejected: "
          + ", ".join(f"{count} {reason}" for reason, count in sorted(report.items())))


if __name__ == "__main__":
    main()
