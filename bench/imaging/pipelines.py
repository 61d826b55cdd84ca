"""Reference pipelines for the Telederm imaging benchmark (Pillow and pyvips).

Same steps as telederm_imaging::intake, per photo:
  decode, EXIF orientation -> upright, quality metrics on a 1024-px grey copy
  (4x4 tile variance of Laplacian + histogram), original without metadata
  (lossless marker strip when already upright, else q92 re-encode of the
  upright image), preview (2048 px long side, Lanczos3, q85), thumbnail
  (256 px from the preview, Lanczos3, q80).
(The attachment is the original when it fits in 5 MiB, as in Telederm, so it
costs nothing extra for these files.)
Prints JSON: median ms per file for each library and its bare decode.
"""
import io, json, statistics, sys, time

import numpy as np
import pyvips
from PIL import Image, ImageOps


def fit(w, h, n):
    if max(w, h) <= n:
        return (w, h)
    return (n, round(h * n / w)) if w >= h else (round(w * n / h), n)


def tile_lapvar(g):
    g = g.astype(np.int32)
    lap = g[1:-1, :-2] + g[1:-1, 2:] + g[:-2, 1:-1] + g[2:, 1:-1] - 4 * g[1:-1, 1:-1]
    h, w = lap.shape
    best = 0.0
    for ty in range(4):
        for tx in range(4):
            t = lap[ty * h // 4:(ty + 1) * h // 4, tx * w // 4:(tx + 1) * w // 4]
            best = max(best, float(t.var()))
    return best


def strip_jpeg(data):
    """Drop APP1-APP15 (except ICC APP2, Adobe APP14) and COM, and anything after EOI."""
    out = bytearray(data[:2])
    i = 2
    n = len(data)
    while i < n:
        while data[i] == 0xFF and data[i + 1] == 0xFF:
            i += 1
        m = data[i + 1]
        if m == 0xD9:
            out += data[i:i + 2]
            break
        seglen = int.from_bytes(data[i + 2:i + 4], "big")
        end = i + 2 + seglen
        if m == 0xDA:  # scan: copy entropy data to the next real marker
            j = end
            while True:
                j = data.index(b"\xff", j)
                nb = data[j + 1]
                if nb == 0 or 0xD0 <= nb <= 0xD7 or nb == 0xFF:
                    j += 1 if nb == 0xFF else 2
                    continue
                break
            end = j
        p = data[i + 4:i + 4 + 14]
        keep = not ((0xE1 <= m <= 0xEF or m == 0xFE)
                    and not (m == 0xE2 and p.startswith(b"ICC_PROFILE\0"))
                    and not (m == 0xEE and p.startswith(b"Adobe")))
        if keep:
            out += data[i:end]
        i = end
    return bytes(out)


def pillow(data):
    im = Image.open(io.BytesIO(data))
    o = im.getexif().get(0x0112, 1)
    im.load()
    if o != 1:
        im = ImageOps.exif_transpose(im)
    g = np.asarray(im.resize(fit(*im.size, 1024), Image.BILINEAR).convert("L"))
    tile_lapvar(g); np.bincount(g.ravel(), minlength=256)
    if o == 1:
        original = strip_jpeg(data)
    else:
        b = io.BytesIO(); im.save(b, "JPEG", quality=92); original = b.getvalue()
    p = im.resize(fit(*im.size, 2048), Image.LANCZOS)
    b = io.BytesIO(); p.save(b, "JPEG", quality=85)
    t = p.resize(fit(*p.size, 256), Image.LANCZOS)
    b2 = io.BytesIO(); t.save(b2, "JPEG", quality=80)
    return len(original), len(b.getvalue()), len(b2.getvalue())


LAP = pyvips.Image.new_from_list([[0, 1, 0], [1, -4, 1], [0, 1, 0]])


def vips(data):
    im = pyvips.Image.new_from_buffer(data, "")
    o = im.get("orientation") if im.get_typeof("orientation") else 1
    im = im.autorot().copy_memory()
    w, h = im.width, im.height
    q = im.resize(fit(w, h, 1024)[0] / w, kernel="linear").colourspace("b-w")
    g = np.ndarray(buffer=q.extract_band(0).write_to_memory(), dtype=np.uint8, shape=(q.height, q.width))
    tile_lapvar(g); q.hist_find().write_to_memory()
    if o == 1:
        original = strip_jpeg(data)
    else:
        original = im.jpegsave_buffer(Q=92, keep="none")
    pw, ph = fit(w, h, 2048)
    p = im.resize(pw / w, vscale=ph / h, kernel="lanczos3").copy_memory()
    prev = p.jpegsave_buffer(Q=85, keep="none")
    tw, th = fit(pw, ph, 256)
    thumb = p.resize(tw / pw, vscale=th / ph, kernel="lanczos3").jpegsave_buffer(Q=80, keep="none")
    return len(original), len(prev), len(thumb)


def pil_decode(data):
    im = Image.open(io.BytesIO(data)); im.load()


def vips_decode(data):
    pyvips.Image.new_from_buffer(data, "").copy_memory()


def bench(fn, data, n):
    for _ in range(2):
        fn(data)
    ts = []
    c = time.process_time()
    for _ in range(n):
        t = time.perf_counter(); fn(data); ts.append(time.perf_counter() - t)
    cpu = (time.process_time() - c) / n * 1000
    return statistics.median(ts) * 1000, cpu


def main():
    args = sys.argv[1:]
    n = 9
    if args and args[0] == "--iters":
        n = int(args[1]); args = args[2:]
    out = []
    for f in args:
        data = open(f, "rb").read()
        r = {"file": f}
        for name, fn in [("pillow", pillow), ("pyvips", vips), ("pillow_decode", pil_decode), ("pyvips_decode", vips_decode)]:
            r[name + "_ms"], r[name + "_cpu_ms"] = bench(fn, data, n)
        out.append(r)
    meta = {"pillow": Image.__version__, "pyvips": pyvips.__version__,
            "libvips": f"{pyvips.version(0)}.{pyvips.version(1)}.{pyvips.version(2)}",
            "vips_concurrency": pyvips.concurrency_get() if hasattr(pyvips, "concurrency_get") else None}
    print(json.dumps({"meta": meta, "results": out}, indent=1))


if __name__ == "__main__":
    main()
