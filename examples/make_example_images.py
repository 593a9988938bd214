"""Build examples/images/: a few real photos, planted edited copies of them, and unrelated images.

    python examples/make_example_images.py            # from the repository root

Reads ../shared/data/images (the development corpus, see its ATTRIBUTION.md) and needs Pillow.
Output is deterministic for a given Pillow version. `fingerprint dedup examples/images` must
find exactly one group per original (the original plus its five edits) and nothing else.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path
from typing import Callable, Dict, List, Tuple

from PIL import Image, ImageDraw, ImageFont, ImageOps

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data"

# Originals: (name in the example, file in the corpus). Each gets the five edits below.
ORIGINALS: List[Tuple[str, str]] = [
    ("crab", "originals/o_gc_crab.jpg"),
    ("kingfisher", "originals/o_gc_kingfisher.jpg"),
    ("red_panda", "originals/o_gc_red_panda.jpg"),
    ("koala", "originals/o_gc_koala.jpg"),
    ("grace_hopper", "originals/o_mpl_grace_hopper.jpg"),
]
# Unrelated images, copied once each (re-encoded at the same long-side cap).
UNRELATED: List[Tuple[str, str]] = [
    ("machu_picchu", "originals/o_gc_machu_picchu.jpg"),
    ("mont_st_michel", "originals/o_gc_mont_st_michel.jpg"),
    ("scarlet_macaw", "originals/o_gc_scarlet_macaw.jpg"),
    ("earth", "originals/o_xplanet_earth.jpg"),
    ("igloo", "originals/o_gc_igloo.jpg"),
    ("baseball", "originals/o_gc_baseball.jpg"),
    ("kiwi", "distractors/d_tux_kiwi.png"),
]
LONG_SIDE = 800  # keeps the folder well under 5 MB


def fit(img: Image.Image, long_side: int) -> Image.Image:
    """Scale `img` down so its long side is at most `long_side` (never up)."""
    scale = long_side / max(img.size)
    if scale >= 1:
        return img.copy()
    size = (round(img.width * scale), round(img.height * scale))
    return img.resize(size, Image.Resampling.LANCZOS)


def resized(img: Image.Image) -> Image.Image:
    """Half size, as a thumbnail or a web copy."""
    return img.resize((img.width // 2, img.height // 2), Image.Resampling.LANCZOS)


def cropped(img: Image.Image) -> Image.Image:
    """Trim 2% from every side: PDQ moves fast with crops (6% a side is ~100 of 256 bits)."""
    dx, dy = round(img.width * 0.02), round(img.height * 0.02)
    return img.crop((dx, dy, img.width - dx, img.height - dy))


def flipped(img: Image.Image) -> Image.Image:
    """Mirror left-right, scaled to 90% as a re-shared copy would be."""
    out = ImageOps.mirror(img)
    return out.resize((round(img.width * 0.9), round(img.height * 0.9)), Image.Resampling.LANCZOS)


def with_text(img: Image.Image) -> Image.Image:
    """A caption in a banner across the bottom, scaled to 90%."""
    out = img.resize((round(img.width * 0.9), round(img.height * 0.9)), Image.Resampling.LANCZOS)
    draw = ImageDraw.Draw(out)
    size = max(14, out.height // 14)
    font = ImageFont.load_default(size=size)
    text = "SHARED WITH FRIENDS"
    box = draw.textbbox((0, 0), text, font=font)
    x = (out.width - (box[2] - box[0])) // 2
    y = out.height - (box[3] - box[1]) - size
    draw.rectangle((0, y - size // 3, out.width, y + (box[3] - box[1]) + size // 2), fill=(0, 0, 0))
    draw.text((x, y), text, fill=(255, 255, 0), font=font)
    return out


# Edit name -> (transform, JPEG quality of the saved copy).
EDITS: Dict[str, Tuple[Callable[[Image.Image], Image.Image], int]] = {
    "small": (resized, 85),
    "q25": (lambda im: im.copy(), 25),
    "crop": (cropped, 88),
    "flip": (flipped, 88),
    "text": (with_text, 88),
}


def attribution_rows(files: List[str]) -> List[str]:
    """The rows of the corpus's ATTRIBUTION.md that describe `files`."""
    text = (DATA / "ATTRIBUTION.md").read_text(encoding="utf-8")
    rows = []
    for f in files:
        row = next((ln for ln in text.splitlines() if ln.startswith(f"| {f} |")), None)
        if row is None:
            raise SystemExit(f"no attribution row for {f} in {DATA / 'ATTRIBUTION.md'}")
        rows.append(row)
    return rows


def main() -> None:
    """Write the example folder and its ATTRIBUTION.md."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "examples" / "images")
    args = parser.parse_args()
    out: Path = args.out
    if out.exists():
        shutil.rmtree(out)
    for sub in ("originals", "copies", "unrelated"):
        (out / sub).mkdir(parents=True)

    made: List[str] = []
    for name, src in ORIGINALS:
        img = fit(Image.open(DATA / "images" / src).convert("RGB"), LONG_SIDE)
        img.save(out / "originals" / f"{name}.jpg", quality=92)
        made.append(f"originals/{name}.jpg")
        for edit, (transform, quality) in EDITS.items():
            transform(img).save(out / "copies" / f"{name}_{edit}.jpg", quality=quality)
            made.append(f"copies/{name}_{edit}.jpg")
    for name, src in UNRELATED:
        img = fit(Image.open(DATA / "images" / src).convert("RGB"), LONG_SIDE)
        ext = Path(src).suffix
        img.save(out / "unrelated" / f"{name}{ext}", **({"quality": 90} if ext == ".jpg" else {}))
        made.append(f"unrelated/{name}{ext}")

    sources = [src for _, src in ORIGINALS + UNRELATED]
    header = (
        "# Attribution\n\n"
        "Made by `examples/make_example_images.py` from the development corpus "
        "(`../shared/data/images`, rows below copied from its ATTRIBUTION.md; licence texts are "
        "linked there). **Changes made**: scaled to at most 800 px on the long side and "
        "re-encoded as JPEG; the files in `copies/` are further resized, re-encoded at low "
        "quality, cropped, mirrored or captioned. Each file keeps its source's licence.\n\n"
        "| example file | corpus file |\n|---|---|\n"
    )
    mapping = [
        f"| originals/{n}.jpg and copies/{n}_*.jpg | {s} |" for n, s in ORIGINALS
    ] + [f"| unrelated/{n}{Path(s).suffix} | {s} |" for n, s in UNRELATED]
    table = (
        "\n\n## Source rows\n\n| file | package | source file | author | licence | notes |\n"
        "|---|---|---|---|---|---|\n"
    )
    (out / "ATTRIBUTION.md").write_text(
        header + "\n".join(mapping) + table + "\n".join(attribution_rows(sources)) + "\n",
        encoding="utf-8",
    )
    total = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    print(f"wrote {len(made)} images to {out} ({total / 1e6:.2f} MB)")
    if total > 5_000_000:
        raise SystemExit("example folder exceeds 5 MB")


if __name__ == "__main__":
    main()
