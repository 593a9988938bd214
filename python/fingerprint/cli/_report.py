"""The self-contained HTML report of `fingerprint dedup`: one row of thumbnails per group.

Thumbnails are JPEG, downscaled with Pillow and embedded as base64 data URIs, so the file opens
with no network. Without Pillow the thumbnails are left out and the report says so.
"""

from __future__ import annotations

import base64
import html
import io
import os
from typing import List, Optional, Sequence, Tuple

from ._common import human_bytes
from ._groups import BankMatch, Group, Member

THUMB = 166  # long side of a thumbnail, pixels


def _pillow() -> Optional[object]:
    """Pillow's Image module, or None when it is not installed."""
    try:
        from PIL import Image, ImageOps  # noqa: F401

        return Image
    except ImportError:
        return None


def thumbnail(path: str) -> Optional[str]:
    """A base64 JPEG data URI of `path` at most THUMB pixels on the long side, or None."""
    try:
        from PIL import Image, ImageOps
    except ImportError:
        return None
    try:
        with Image.open(path) as f:
            f.draft("RGB", (THUMB, THUMB))  # JPEG: decode at reduced scale
            im: Image.Image = ImageOps.exif_transpose(f)
            if im.mode in ("RGBA", "LA", "P"):
                im = im.convert("RGBA")
                flat = Image.new("RGB", im.size, (255, 255, 255))
                flat.paste(im, mask=im.getchannel("A"))
                im = flat
            im = im.convert("RGB")
            im.thumbnail((THUMB, THUMB), Image.Resampling.LANCZOS)
            buf = io.BytesIO()
            im.save(buf, "JPEG", quality=80)
    except (OSError, ValueError, Image.DecompressionBombError):
        return None
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222;background:#fafafa}
h1{font-size:22px;margin:0 0 4px} .meta{color:#666;margin-bottom:16px}
.group{background:#fff;border:1px solid #ddd;border-radius:8px;padding:12px 16px;margin:14px 0}
.group h2{font-size:16px;margin:0 0 10px}
.row{display:flex;gap:14px;flex-wrap:wrap;align-items:flex-start}
figure{margin:0;width:172px} figure img{max-width:166px;max-height:166px;display:block;
border:1px solid #ccc;background:#eee}
figure.best img{border:3px solid #2a8f3a}
.noimg{width:166px;height:60px;display:flex;align-items:center;justify-content:center;
background:#eee;color:#777;border:1px dashed #bbb}
figcaption{font-size:12px;word-break:break-all} figcaption .name{font-weight:600}
.badge{background:#2a8f3a;color:#fff;border-radius:3px;padding:0 4px;font-size:11px}
table{border-collapse:collapse;margin-top:10px;font-size:12px}
td,th{border:1px solid #ddd;padding:2px 6px;text-align:left} caption{text-align:left;color:#666}
.note{background:#fff6d6;border:1px solid #e6cf7a;padding:6px 10px;border-radius:4px}
.failed li{font-family:monospace;font-size:12px}
"""


def _caption(m: Member, best: bool, kind: str) -> str:
    """The lines under a thumbnail."""
    e = html.escape
    parts = [f'<div class="name">{e(os.path.basename(m.path))}</div>']
    if best:
        parts.append('<span class="badge">best original</span>')
    if kind == "image":
        parts.append(f'<div class="res">{m.width}×{m.height}</div>')
    else:
        parts.append(f'<div class="dur">{(m.duration or 0):.1f} s</div>')
    parts.append(f'<div class="size">{human_bytes(m.bytes)}</div>')
    if m.quality is not None:
        parts.append(f"<div>quality {m.quality}</div>")
    if not best:
        if kind == "image":
            t = "" if m.transform == "none" else f" ({e(m.transform)})"
            parts.append(f'<div class="dist">distance {m.distance:g}{t}</div>')
        else:
            parts.append(
                f'<div class="dist">score {m.distance:.2f}, at {(m.offset or 0):.1f} s</div>'
            )
    parts.append(f'<div class="path" title="{e(m.path)}">{e(os.path.dirname(m.path))}</div>')
    return "".join(parts)


def _matrix(g: Group) -> str:
    """Pairwise distances (images) or scores and offsets (audio) as a small matrix."""
    e = html.escape
    names = [os.path.basename(m.path) for m in g.members]
    pos = {m.path: k for k, m in enumerate(g.members)}
    cells: dict = {}
    for p in g.pairs:
        if g.kind == "image":
            t = "" if p.transform == "none" else f" {p.transform}"
            val = f"{p.distance:g}{t}"
        else:
            val = f"{p.distance:.2f} @{(p.offset or 0):+.1f}s"
        a, b = pos.get(p.a), pos.get(p.b)
        if a is not None and b is not None:
            cells[(a, b)] = cells[(b, a)] = val
    shown = sorted({k for ab in cells for k in ab})
    what = "Hamming distance" if g.kind == "image" else "score @ offset"
    rows = [f'<table class="pairs"><caption>{what}</caption><tr><th></th>']
    rows += [f"<th>{e(names[k])}</th>" for k in shown]
    rows.append("</tr>")
    for a in shown:
        rows.append(f"<tr><th>{e(names[a])}</th>")
        rows += [f"<td>{e(cells.get((a, b), '–' if a == b else ''))}</td>" for b in shown]
        rows.append("</tr>")
    rows.append("</table>")
    return "".join(rows)


def render(
    groups: Sequence[Group],
    *,
    algorithm: str,
    threshold: int,
    files: int,
    failed: Sequence[Tuple[str, str]],
    bank_matches: Sequence[BankMatch] = (),
    bank: Optional[str] = None,
) -> str:
    """The whole report as one HTML string."""
    e = html.escape
    has_pillow = _pillow() is not None
    out: List[str] = [
        "<!DOCTYPE html><html lang=en><head><meta charset=utf-8>",
        "<title>fingerprint dedup report</title>",
        f"<style>{CSS}</style></head><body>",
        "<h1>Near-duplicates</h1>",
        f'<div class="meta" id="summary" data-groups="{len(groups)}" data-files="{files}">'
        f"{files} files scanned, {len(groups)} group(s) found with {e(algorithm)} at "
        f"distance ≤ {threshold}; {len(failed)} file(s) could not be read.</div>",
    ]
    if not has_pillow:
        out.append(
            '<p class="note" id="no-thumbnails">Thumbnails omitted: Pillow is not installed '
            "(pip install pillow).</p>"
        )
    for n, g in enumerate(groups, 1):
        out.append(
            f'<section class="group" data-group="{n}" data-kind="{g.kind}" '
            f'data-best="{e(g.best.path)}"><h2>Group {n}: {len(g.members)} {g.kind} files</h2>'
            '<div class="row">'
        )
        for k, m in enumerate(g.members):
            uri = thumbnail(m.path) if (has_pillow and g.kind == "image") else None
            img = (
                f'<img src="{uri}" alt="{e(os.path.basename(m.path))}">'
                if uri
                else f'<div class="noimg">{"audio" if g.kind == "audio" else "no thumbnail"}</div>'
            )
            cls = "member best" if k == 0 else "member"
            out.append(
                f'<figure class="{cls}" data-path="{e(m.path)}">{img}'
                f"<figcaption>{_caption(m, k == 0, g.kind)}</figcaption></figure>"
            )
        out.append("</div>")
        if g.pairs:
            out.append(_matrix(g))
        out.append("</section>")
    if bank is not None:
        out.append(
            f'<section class="bank" data-matches="{len(bank_matches)}"><h2>Matches in '
            f"{e(bank)}: {len(bank_matches)}</h2><table><tr><th>file</th><th>bank item</th>"
            "<th>distance</th></tr>"
        )
        for b in bank_matches:
            out.append(
                f"<tr><td>{e(b.path)}</td><td>{e(b.bank_path or str(b.bank_id))}</td>"
                f"<td>{b.distance}</td></tr>"
            )
        out.append("</table></section>")
    if failed:
        out.append(f'<section class="failed"><h2>Could not read {len(failed)} file(s)</h2><ul>')
        out.extend(f"<li>{e(p)}: {e(msg)}</li>" for p, msg in failed)
        out.append("</ul></section>")
    out.append("</body></html>\n")
    return "\n".join(out)
