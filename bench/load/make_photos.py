"""Generates the load benchmark's phone photos of skin: 12 MP JPEGs (4000x3000), 3-5 MB each.

Usage: make_photos.py OUT_DIR [COUNT]   (default 6)

Each photo is a skin-coloured field with uneven lighting, skin texture at several scales, a lesion
with a soft irregular edge, a few hairs and sensor noise, saved as a phone saves it: JPEG quality
92, 4:2:0 chroma, EXIF with a camera make and model, the time taken and an orientation (every other
photo is stored landscape with orientation 6, as a phone held upright writes it). The seeds are
fixed, so every run sends the same bytes. The photos differ from each other, so their blobs do too.
"""

import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

W, H = 4000, 3000
# Skin tones (sRGB) from light to dark, one per photo in turn.
TONES = [(232, 190, 172), (214, 164, 138), (190, 140, 110), (160, 110, 80), (122, 82, 58), (92, 62, 46)]


def field(rng, scale, w=W, h=H):
    """Smooth noise: random values on a coarse grid, scaled up with bicubic interpolation."""
    small = rng.standard_normal((max(2, h // scale), max(2, w // scale))).astype(np.float32)
    img = Image.fromarray(small, mode="F").resize((w, h), Image.BICUBIC)
    return np.asarray(img, dtype=np.float32)


def photo(seed):
    rng = np.random.default_rng(seed)
    tone = np.array(TONES[seed % len(TONES)], dtype=np.float32)
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    # Lighting: brighter towards one corner, falling off by ~20%.
    cx, cy = rng.uniform(0.2, 0.8) * W, rng.uniform(0.2, 0.8) * H
    light = 1.12 - 0.2 * np.hypot((xx - cx) / W, (yy - cy) / H)
    # Skin texture: broad blotches, pores and fine grain.
    texture = 0.04 * field(rng, 400) + 0.07 * field(rng, 12) + 0.035 * field(rng, 3)
    img = tone[None, None, :] * (light * (1.0 + texture))[:, :, None]
    # A lesion: an irregular ellipse, redder and darker, with a soft edge.
    lx, ly = rng.uniform(0.35, 0.65) * W, rng.uniform(0.35, 0.65) * H
    rx, ry = rng.uniform(250, 450), rng.uniform(180, 350)
    r = np.hypot((xx - lx) / rx, (yy - ly) / ry) + 0.25 * field(rng, 150)
    inside = np.clip((1.1 - r) / 0.05, 0.0, 1.0)[:, :, None]
    lesion_colour = tone * np.array([0.85, 0.62, 0.6], dtype=np.float32)
    img = img * (1 - inside) + (lesion_colour[None, None, :] * (light * (1.0 + 1.5 * texture))[:, :, None]) * inside
    out = Image.fromarray(np.clip(img, 0, 255).astype(np.uint8), mode="RGB")
    # Hairs: thin dark curves.
    draw = ImageDraw.Draw(out)
    hair = tuple(int(c * 0.35) for c in tone)
    for _ in range(60):
        x, y = rng.uniform(0, W), rng.uniform(0, H)
        angle = rng.uniform(0, np.pi)
        points = []
        for _ in range(12):
            points.append((x, y))
            angle += rng.normal(0, 0.08)
            x += 25 * np.cos(angle)
            y += 25 * np.sin(angle)
        draw.line(points, fill=hair, width=int(rng.integers(5, 9)))
    out = out.filter(ImageFilter.GaussianBlur(0.6))
    # Sensor noise after the optics.
    noisy = np.asarray(out, dtype=np.float32) + rng.normal(0, 6.0, (H, W, 3)).astype(np.float32)
    return Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8), mode="RGB")


def main():
    out_dir = Path(sys.argv[1])
    count = int(sys.argv[2]) if len(sys.argv) > 2 else 6
    out_dir.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        img = photo(1000 + i)
        exif = Image.Exif()
        exif[0x010F] = "Telederm bench"  # Make
        exif[0x0110] = "Phone 12MP"  # Model
        exif[0x0132] = "2026:12:01 10:%02d:00" % i  # DateTime
        exif[0x0112] = 6 if i % 2 else 1  # Orientation
        path = out_dir / f"photo-{i}.jpg"
        img.save(path, "JPEG", quality=92, subsampling="4:2:0", exif=exif.tobytes())
        print(f"{path} {path.stat().st_size}")


if __name__ == "__main__":
    main()
