"""Joins the Rust and Python timings into one table with ratios."""
import json, os, sys

rust = {os.path.basename(r["file"]): r for r in json.load(open(sys.argv[1]))}
py = json.load(open(sys.argv[2]))
rss = json.load(open(sys.argv[3])) if len(sys.argv) > 3 else None
rss6 = json.load(open(sys.argv[4])) if len(sys.argv) > 4 else None
print(f"Pillow {py['meta']['pillow']}, pyvips {py['meta']['pyvips']} (libvips {py['meta']['libvips']}); "
      f"Telederm on {next(iter(rust.values()))['threads']} rayon threads")
hdr = f"{'file':<18}{'decode':>8}{'dec(reuse)':>11}{'telederm':>10}{'pyvips':>8}{'pillow':>8}{'PIL dec':>8}{'vips dec':>9}  {'t/vips':>7}{'t/PIL':>7}{'t/dec':>7}"
print(hdr); print("-" * len(hdr))
worst = {"vips": 0, "pil": 0, "dec": 0}
for p in py["results"]:
    name = os.path.basename(p["file"]); r = rust[name]
    a, b, c = r["prepare_ms"] / p["pyvips_ms"], r["prepare_ms"] / p["pillow_ms"], r["prepare_ms"] / r["decode_ms"]
    worst = {"vips": max(worst["vips"], a), "pil": max(worst["pil"], b), "dec": max(worst["dec"], c)}
    print(f"{name:<18}{r['decode_ms']:>8.1f}{r['decode_reused_ms']:>11.1f}{r['prepare_ms']:>10.1f}{p['pyvips_ms']:>8.1f}{p['pillow_ms']:>8.1f}"
          f"{p['pillow_decode_ms']:>8.1f}{p['pyvips_decode_ms']:>9.1f}  {a:>7.2f}{b:>7.2f}{c:>7.2f}")
print("(ms per image, medians; t/dec = Telederm prepare / bare zune-jpeg decode into a fresh buffer)")
print(f"targets (issue 16, on CPU time): t/vips <= 0.50, t/PIL <= 0.30, t/dec <= 1.00; wall-clock worst here: {worst['vips']:.2f}, {worst['pil']:.2f}, {worst['dec']:.2f}")
print()
print("CPU time per image (user+sys, all threads; robust to other load on the machine):")
h2 = f"{'file':<18}{'decode':>8}{'telederm':>10}{'pyvips':>8}{'pillow':>8}  {'t/vips':>7}{'t/PIL':>7}{'t/dec':>7}"
print(h2); print("-" * len(h2))
for p in py["results"]:
    name = os.path.basename(p["file"]); r = rust[name]
    print(f"{name:<18}{r['decode_cpu_ms']:>8.1f}{r['prepare_cpu_ms']:>10.1f}{p['pyvips_cpu_ms']:>8.1f}{p['pillow_cpu_ms']:>8.1f}  "
          f"{r['prepare_cpu_ms'] / p['pyvips_cpu_ms']:>7.2f}{r['prepare_cpu_ms'] / p['pillow_cpu_ms']:>7.2f}{r['prepare_cpu_ms'] / max(r['decode_cpu_ms'], 1e-9):>7.2f}")
if rss:
    print(f"peak RSS, one 12 MP intake in a fresh process: {rss['peak_rss_mb']:.0f} MB upright (target < 100 MB)"
          + (f", {rss6['peak_rss_mb']:.0f} MB EXIF-rotated" if rss6 else ""))
