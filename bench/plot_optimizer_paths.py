"""Regenerate docs/img/optimizer_paths_rosenbrock.png: every optimizer's path on Rosenbrock.

Each optimizer runs 200 steps from (-1.5, 2) with its setting in
``trainwise.optim.landscapes.DEFAULT_SETTINGS``; the left panel shows the
paths over log-spaced contours, the right one f along each path. Prints each
optimizer's final loss. Usage: ``python bench/plot_optimizer_paths.py [out.png]``.
"""
import pathlib
import sys

from trainwise.optim import landscapes as L

out = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else
                   pathlib.Path(__file__).resolve().parent.parent / "docs" / "img" / "optimizer_paths_rosenbrock.png")
out.parent.mkdir(parents=True, exist_ok=True)
paths, losses = L.run_paths(L.rosenbrock, L.default_optimizers(), start=(-1.5, 2.0), steps=200)
for name, curve in losses.items():
    x, y = paths[name][-1]
    print(f"{name:16s} f: {curve[0]:8.3f} -> {curve[-1]:.4g}   end at ({x:+.3f}, {y:+.3f})")
L.plot_paths(L.rosenbrock, paths, out, losses=losses, dpi=80)
try:  # a 256-colour palette keeps the committed picture small (about 40 kB instead of 150)
    from PIL import Image
    Image.open(out).convert("RGB").quantize(colors=256, method=Image.Quantize.FASTOCTREE).save(out, optimize=True)
except ImportError:
    pass
print(f"wrote {out}")
