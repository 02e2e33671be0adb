"""Deterministic synthetic street scenes: the embedded demo and test data (numpy + OpenCV only).

A scene is a small 3-D world (metres) seen by a pinhole camera at road level: sky, a road in
perspective with lane markings, sidewalks, building facades with windows, trees, bushes and
hedges, vehicles and people. The seed fixes the world; `t` (seconds) only moves vehicles and
people, so consecutive times give a video. Image and mask are drawn with the same polygons
(no anti-aliasing), so they are exactly aligned.

    python -m edgeseg.data.synthetic images OUT_DIR --count 100 --size 480x360 --seed 0
    python -m edgeseg.data.synthetic video OUT.mp4 --frames 60 --size 640x360 --fps 10
"""
import argparse
import math
import os
from typing import Callable, List, Optional, Sequence, Tuple, Union

import cv2
import numpy as np

from ..artifacts import atomic_path
from ..errors import ConfigError
from ..preprocess import parse_size
from . import scene_layout as world
from .scene_layout import BUILDING, CLASSES, LANE_MARKING, PALETTE, PERSON, ROAD, SIDEWALK, SKY, VEGETATION, VEHICLE  # noqa: F401

# ---------------------------------------------------------------------------------- drawing


class _Camera:
    """Pinhole camera at (0, height, 0) looking along +z; y is height above the ground."""

    def __init__(self, layout: world.Layout, width: int, height: int) -> None:
        horizon, vp_x, focal, self.height = layout.camera
        self.f, self.cx, self.cy = focal * height, vp_x * width, horizon * height

    def project(self, pts: object) -> np.ndarray:
        """World points (..., 3) in metres to pixel coordinates (..., 2)."""
        p = np.asarray(pts, dtype=np.float64)
        z = p[..., 2]
        return np.stack([self.cx + self.f * p[..., 0] / z,
                         self.cy + self.f * (self.height - p[..., 1]) / z], axis=-1)


class _Canvas:
    """RGB image, class mask and shadow map, all filled with the same polygons."""

    def __init__(self, width: int, height: int) -> None:
        self.image = np.zeros((height, width, 3), np.uint8)
        self.mask = np.full((height, width), SKY, np.uint8)
        self.shade = np.ones((height, width), np.float32)

    def fill(self, polys: object, colour: world.Colour, cls: Optional[int] = None) -> None:
        """Fill one (N, 2) polygon or a stack (K, N, 2) in pixels; `cls` None = image only."""
        pts = np.round(np.asarray(polys, dtype=np.float64) * (1 << world.SHIFT)).astype(np.int32)
        pts = list(pts[None] if pts.ndim == 2 else pts)
        cv2.fillPoly(self.image, pts, colour, cv2.LINE_8, world.SHIFT)
        if cls is not None:
            cv2.fillPoly(self.mask, pts, cls, cv2.LINE_8, world.SHIFT)

    def darken(self, poly: np.ndarray, factor: float) -> None:
        pts = [np.round(poly * (1 << world.SHIFT)).astype(np.int32)]
        cv2.fillPoly(self.shade, pts, factor, cv2.LINE_8, world.SHIFT)


def _quad_z(x0: float, x1: float, y0: float, y1: float, z: float) -> List[Tuple[float, float, float]]:
    """Rectangle facing the camera at depth z."""
    return [(x0, y0, z), (x1, y0, z), (x1, y1, z), (x0, y1, z)]


def _quad_x(x: float, y0: float, y1: float, z0: float, z1: float) -> List[Tuple[float, float, float]]:
    """Rectangle in the plane x = const (a facade or a vehicle side)."""
    return [(x, y0, z0), (x, y1, z0), (x, y1, z1), (x, y0, z1)]


def _quad_y(x0: float, x1: float, y: float, z0: float, z1: float) -> List[Tuple[float, float, float]]:
    """Rectangle in the plane y = const (ground, roofs)."""
    return [(x0, y, z0), (x1, y, z0), (x1, y, z1), (x0, y, z1)]


def _ellipse(x: float, y: float, z: float, rx: float, ry: float, half: bool = False) -> np.ndarray:
    """Ellipse facing the camera at depth z (upper half only if `half`)."""
    a = world.HALF_CIRCLE if half else world.CIRCLE
    return np.stack([x + rx * np.cos(a), y + ry * np.sin(a), np.full_like(a, z)], axis=-1)


def _draw_background(canvas: _Canvas, cam: _Camera, layout: world.Layout) -> None:
    h, w = canvas.mask.shape
    top, bottom = (np.asarray(c, np.float32) for c in layout.sky)
    k = np.clip(np.arange(h, dtype=np.float32) / max(cam.cy, 1.0), 0, 1)[:, None]
    canvas.image[:] = (top * (1 - k) + bottom * k).astype(np.uint8)[:, None, :]
    for u, v, rx, ry, colour in layout.clouds:
        canvas.fill(np.stack([(u + rx * np.cos(world.CIRCLE)) * w,
                              (v + ry * np.sin(world.CIRCLE)) * h], axis=-1), colour)
    for u0, u1, top_frac, cls, colour in layout.skyline:
        y0 = cam.cy - top_frac * h
        canvas.fill([(u0 * w, cam.cy), (u1 * w, cam.cy), (u1 * w, y0), (u0 * w, y0)], colour, cls)
    canvas.fill([(0, cam.cy), (w, cam.cy), (w, h + 1), (0, h + 1)], layout.ground[1], SIDEWALK)


def _draw_road(canvas: _Canvas, cam: _Camera, layout: world.Layout) -> None:
    road_l, road_r = layout.road
    road, sidewalk, curb = layout.ground
    joints = []
    z = world.Z_NEAR
    while cam.f * cam.height * (1 / z - 1 / (z + 1.5)) >= 4:  # paving joints while >= 4 px apart
        joints += [_quad_y(layout.facade_x[0], road_l, 0, z, z + 0.05),
                   _quad_y(road_r, layout.facade_x[1], 0, z, z + 0.05)]
        z += 1.5
    if joints:
        canvas.fill(cam.project(joints), world.scale(sidewalk, 0.8))
    canvas.fill(cam.project([_quad_y(road_l - 0.2, road_l, 0, world.Z_NEAR, world.Z_FAR),
                             _quad_y(road_r, road_r + 0.2, 0, world.Z_NEAR, world.Z_FAR)]), curb)
    canvas.fill(cam.project(_quad_y(road_l, road_r, 0, world.Z_NEAR, world.Z_FAR)), road, ROAD)
    length, period, start = layout.dash
    starts = np.arange(start, world.Z_DASHES, period)
    for x, dashed, colour in layout.marks:
        if dashed:
            quads = [_quad_y(x - 0.075, x + 0.075, 0, z, z + length) for z in starts]
        else:
            quads = [_quad_y(x - 0.075, x + 0.075, 0, world.Z_NEAR, world.Z_DASHES)]
        canvas.fill(cam.project(quads), colour, LANE_MARKING)
    if layout.crossing is not None:
        z = layout.crossing
        stripes = [_quad_y(x, x + 0.5, 0, z, z + 3.0)
                   for x in np.arange(road_l + 0.5, road_r - 0.9, 1.0)]
        canvas.fill(cam.project(stripes), layout.marks[0][2], LANE_MARKING)


def _draw_facade(canvas: _Canvas, cam: _Camera, f: world.Facade, light: float) -> None:
    colour = world.scale(f.colour, light)
    end = [(f.x, 0, f.z0), (f.x + f.out * 12, 0, f.z0), (f.x + f.out * 12, f.height, f.z0),
           (f.x, f.height, f.z0)]
    canvas.fill(cam.project(end), world.scale(colour, 0.8), BUILDING)
    canvas.fill(cam.project(_quad_x(f.x, 0, f.height, f.z0, f.z1)), colour, BUILDING)
    canvas.fill(cam.project(_quad_x(f.x, f.height - 0.6, f.height, f.z0, f.z1)),
                world.scale(colour, 0.7))
    win_w, win_h, spacing = f.window
    zs = np.arange(f.z0 + 0.5 * spacing, f.z1 - win_w - 0.3, spacing)
    zs = zs[cam.f * abs(f.x) * (1 / zs - 1 / (zs + win_w)) >= 1.5]  # skip sub-pixel windows
    ys = 1.0 + f.floor_h * np.arange(int((f.height - win_h - 1.0) / f.floor_h))
    if not len(zs) or not len(ys):
        return
    z, y = (a.ravel() for a in np.meshgrid(zs, ys))
    corners = np.stack([np.stack([np.full_like(z, f.x), y + dy, z + dz], axis=-1)
                        for dy, dz in ((0, 0), (win_h, 0), (win_h, win_w), (0, win_w))], axis=1)
    lit = (np.arange(len(z)) * 7 + f.pattern) % 5 == 0
    pixels = cam.project(corners)
    canvas.fill(pixels[~lit], world.scale(f.glass, light))
    if lit.any():
        canvas.fill(pixels[lit], world.scale(world.mix(f.glass, (220, 210, 170), 0.6), light))


def _draw_plant(canvas: _Canvas, cam: _Camera, p: world.Plant) -> None:
    (trunk_h, trunk_w), (rx, ry) = p.trunk, p.crown
    if trunk_h > 0:
        canvas.fill(cam.project(_quad_z(p.x - trunk_w / 2, p.x + trunk_w / 2, 0,
                                        trunk_h + 0.3 * ry, p.z)), (95, 70, 50), VEGETATION)
    cy = trunk_h + 0.9 * ry if trunk_h > 0 else 0.0
    half = trunk_h == 0
    canvas.fill(cam.project(_ellipse(p.x, cy, p.z, rx, ry, half)), p.colour, VEGETATION)
    for dx, dy, r, shade in p.blobs:
        canvas.fill(cam.project(_ellipse(p.x + dx * rx, cy + dy * ry, p.z, r * rx, r * ry, half)),
                    world.scale(p.colour, shade))


def _draw_box(canvas: _Canvas, cam: _Camera, x: Tuple[float, float], y: Tuple[float, float],
              z: Tuple[float, float], colour: world.Colour) -> None:
    """The faces of an axis-aligned vehicle box that the camera sees, cut at world.Z_NEAR."""
    (x0, x1), (y0, y1), (z0, z1) = x, y, (max(z[0], world.Z_NEAR), z[1])
    if z1 <= z0:
        return
    if x0 > 0 or x1 < 0:
        canvas.fill(cam.project(_quad_x(x0 if x0 > 0 else x1, y0, y1, z0, z1)),
                    world.scale(colour, 0.8), VEHICLE)
    if y1 < cam.height:
        canvas.fill(cam.project(_quad_y(x0, x1, y1, z0, z1)), world.scale(colour, 1.1), VEHICLE)
    canvas.fill(cam.project(_quad_z(x0, x1, y0, y1, z0)), colour, VEHICLE)


def _wheel(x: float, y: float, z: float, radius: float) -> np.ndarray:
    """Circle in the plane x = const (a wheel seen from the side)."""
    return np.stack([np.full_like(world.CIRCLE, x), y + radius * np.sin(world.CIRCLE),
                     z + radius * np.cos(world.CIRCLE)], axis=-1)


def _draw_vehicle(canvas: _Canvas, cam: _Camera, v: world.Vehicle, z: float) -> None:
    (width, height, length), (body, cab0, cab1, r) = v.size, v.shape
    x0, x1, z1 = v.x - width / 2, v.x + width / 2, z + length
    if z1 <= world.Z_NEAR:
        return
    canvas.darken(cam.project(_quad_y(x0 - 0.2, x1 + 0.2, 0, max(z - 0.3, world.Z_NEAR), z1 + 0.3)), 0.5)
    tyre = (28.0, 28.0, 30.0)
    axles = (z + max(2 * r, 0.18 * length), z1 - max(2 * r, 0.2 * length))
    for a in axles:
        for wx in ((x0 + 0.02, x0 + 0.27), (x1 - 0.27, x1 - 0.02)):
            _draw_box(canvas, cam, wx, (0.0, 2 * r), (a - r, a + r), tyre)
    top = body * height
    _draw_box(canvas, cam, (x0, x1), (0.8 * r, top), (z, z1), v.colour)
    cz0, cz1 = z + cab0 * length, z + cab1 * length
    _draw_box(canvas, cam, (x0 + 0.1, x1 - 0.1), (top, height), (cz0, cz1), v.colour)
    side = x0 if x0 > 0 else x1 if x1 < 0 else None
    if side is not None and cz1 - 0.15 > max(cz0 + 0.15, world.Z_NEAR):
        sx = side + (0.1 if side == x0 else -0.1)
        canvas.fill(cam.project(_quad_x(sx, top + 0.08, height - 0.08,
                                        max(cz0 + 0.15, world.Z_NEAR), cz1 - 0.15)),
                    world.scale(v.glass, 0.85))
    if side is not None:
        for a in (a for a in axles if a - r >= world.Z_NEAR):
            canvas.fill(cam.project(_wheel(side, r, a, r)), tyre, VEHICLE)
            canvas.fill(cam.project(_wheel(side, r, a, 0.5 * r)), (150, 150, 150))
    if cz0 >= world.Z_NEAR:
        canvas.fill(cam.project(_quad_z(x0 + 0.22, x1 - 0.22, top + 0.08, height - 0.08, cz0)),
                    v.glass)
    if z >= world.Z_NEAR:
        lamp = (200.0, 30.0, 30.0) if v.speed >= 0 else (250.0, 245.0, 220.0)
        lamps = [_quad_z(x0 + 0.08, x0 + 0.35, top - 0.25, top - 0.08, z),
                 _quad_z(x1 - 0.35, x1 - 0.08, top - 0.25, top - 0.08, z)]
        canvas.fill(cam.project(lamps), lamp)
        canvas.fill(cam.project(_quad_z(v.x - 0.26, v.x + 0.26, 0.8 * r + 0.1, 0.8 * r + 0.22, z)),
                    (235, 235, 235))


def _draw_person(canvas: _Canvas, cam: _Camera, p: world.Person, z: float, t: float) -> None:
    if z < world.Z_NEAR:
        return
    shirt, pants, skin, hair = p.colours
    h, x = p.height, p.x
    swing = math.sin(p.phase + t * 2 * math.pi * abs(p.speed) / 1.4)
    ground = np.stack([x + 0.3 * np.cos(world.CIRCLE), np.zeros_like(world.CIRCLE),
                       z + 0.3 * np.sin(world.CIRCLE)], axis=-1)
    if z >= world.Z_NEAR + 0.3:
        canvas.darken(cam.project(ground), 0.6)
    for s in (-1, 1):
        lift = max(0.0, s * swing) * 0.04 * h
        lx = x + s * 0.05 * h
        canvas.fill(cam.project(_quad_z(lx - 0.035 * h, lx + 0.035 * h, lift, 0.5 * h, z)),
                    pants, PERSON)
        ax = x + s * 0.165 * h
        hand = (0.5 + 0.02 * s * swing) * h
        canvas.fill(cam.project(_quad_z(ax - 0.03 * h, ax + 0.03 * h, hand, 0.79 * h, z)),
                    world.scale(shirt, 0.9), PERSON)
        canvas.fill(cam.project(_quad_z(ax - 0.028 * h, ax + 0.028 * h, hand, hand + 0.06 * h, z)),
                    skin)
    torso = [(x - 0.12 * h, 0.48 * h, z), (x + 0.12 * h, 0.48 * h, z),
             (x + 0.14 * h, 0.8 * h, z), (x - 0.14 * h, 0.8 * h, z)]
    canvas.fill(cam.project(torso), shirt, PERSON)
    canvas.fill(cam.project(_quad_z(x - 0.025 * h, x + 0.025 * h, 0.79 * h, 0.84 * h, z)), skin, PERSON)
    canvas.fill(cam.project(_ellipse(x, 0.9 * h, z, 0.055 * h, 0.068 * h)), skin, PERSON)
    canvas.fill(cam.project(_ellipse(x, 0.91 * h, z, 0.055 * h, 0.058 * h, half=True)), hair)


def _draw_objects(canvas: _Canvas, cam: _Camera, layout: world.Layout, t: float) -> None:
    """Plants, vehicles and people, far to near (painter's algorithm)."""
    items = [(p.z, 0, i) for i, p in enumerate(layout.plants)]
    items += [(world.wrap(v.z0, v.speed, t, -10.0, 160.0), 1, i) for i, v in enumerate(layout.vehicles)]
    items += [(world.wrap(p.z0, p.speed, t, -5.0, 80.0), 2, i) for i, p in enumerate(layout.people)]
    for z, kind, i in sorted(items, reverse=True):
        if kind == 0:
            _draw_plant(canvas, cam, layout.plants[i])
        elif kind == 1:
            _draw_vehicle(canvas, cam, layout.vehicles[i], z)
        else:
            _draw_person(canvas, cam, layout.people[i], z, t)


def _finish(canvas: _Canvas, layout: world.Layout, seed: int, t: float) -> np.ndarray:
    """Lighting, shadows, surface texture and sensor grain; returns the BGR uint8 image."""
    h, w = canvas.mask.shape
    gain, gx, gy, vignette = layout.light
    u = np.linspace(-0.5, 0.5, w, dtype=np.float32)
    v = np.linspace(-0.5, 0.5, h, dtype=np.float32)
    light = np.outer(1 + gy * v - vignette * v * v, 1 + gx * u - vignette * u * u)
    light *= canvas.shade
    blotches = np.random.default_rng([seed, 1]).standard_normal((h // 12 + 2, w // 12 + 2),
                                                               dtype=np.float32)
    coarse = cv2.resize(blotches, (w, h), interpolation=cv2.INTER_LINEAR)  # fixed per scene
    grain = np.random.default_rng([seed, 2, int(round(t * 1000)) & 0xFFFFFFFF])  # per frame
    noise = grain.standard_normal((h, w), dtype=np.float32)
    noise *= world.FINE[canvas.mask]
    coarse *= world.COARSE[canvas.mask]
    noise += coarse
    img = canvas.image.astype(np.float32)
    img *= light[..., None] * (gain * np.asarray(layout.tint, np.float32))
    img += noise[..., None]
    np.clip(img, 0, 255, out=img)
    return cv2.cvtColor(img.astype(np.uint8), cv2.COLOR_RGB2BGR)


def render_scene(seed: int, width: int = 480, height: int = 360, t: float = 0.0
                 ) -> Tuple[np.ndarray, np.ndarray]:
    """Render scene `seed` (>= 0) at time `t` (s): (HxWx3 uint8 BGR image, HxW uint8 class ids)."""
    if seed < 0:
        raise ValueError(f"seed must be >= 0, got {seed}")
    if width < 16 or height < 16:
        raise ValueError(f"size must be at least 16x16, got {width}x{height}")
    layout = world.make_layout(np.random.default_rng([seed, 0]))
    cam = _Camera(layout, width, height)
    canvas = _Canvas(width, height)
    _draw_background(canvas, cam, layout)
    _draw_road(canvas, cam, layout)
    walls: List[Union[world.Facade, world.Hedge]] = sorted([*layout.facades, *layout.hedges],
                                                           key=lambda s: -s.z0)  # far to near
    for wall in walls:
        if isinstance(wall, world.Hedge):
            canvas.fill(cam.project(_quad_x(wall.x, 0, wall.height, wall.z0, wall.z1)),
                        wall.colour, VEGETATION)
        else:
            _draw_facade(canvas, cam, wall, layout.side_light[int(wall.out > 0)])
    _draw_objects(canvas, cam, layout, t)
    return _finish(canvas, layout, seed, t), canvas.mask


# ---------------------------------------------------------------------------------- files


def write_dataset(out_dir: str, count: int, width: int = 480, height: int = 360,
                  seed: int = 0) -> str:
    """Write `count` scenes as out_dir/images/NNNNN.png, out_dir/labels/NNNNN.png, classes.txt."""
    for sub in ("images", "labels"):
        os.makedirs(os.path.join(out_dir, sub), exist_ok=True)
    for i in range(count):
        image, mask = render_scene(seed + i, width, height)
        name = f"{i:05d}.png"
        for sub, array in (("images", image), ("labels", mask)):
            path = os.path.join(out_dir, sub, name)
            if not cv2.imwrite(path, array):
                raise OSError(f"could not write {path}")
    with open(os.path.join(out_dir, "classes.txt"), "w") as f:
        f.write("\n".join(CLASSES) + "\n")
    return out_dir


def write_video(path: str, frames: int = 60, width: int = 640, height: int = 360,
                fps: float = 10.0, seed: int = 0) -> str:
    """Write an mp4v video of scene `seed` with moving vehicles and people, atomically."""
    if frames < 1:
        raise ValueError(f"frames must be >= 1, got {frames}")
    with atomic_path(path) as tmp:
        fourcc = cv2.VideoWriter_fourcc(*"mp4v")  # type: ignore[attr-defined]  # in OpenCV, not in its stubs
        writer = cv2.VideoWriter(tmp, fourcc, float(fps), (width, height))
        if not writer.isOpened():
            raise RuntimeError(f"could not open an mp4v video writer for {path}")
        try:
            for i in range(frames):
                writer.write(render_scene(seed, width, height, t=i / fps)[0])
        finally:
            writer.release()
    return path


# ---------------------------------------------------------------------------------- CLI


def _size(text: str) -> Tuple[int, int]:
    try:
        width, height = parse_size(text)
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(str(exc))
    if width < 16 or height < 16:
        raise argparse.ArgumentTypeError(f"size must be at least 16x16, got {text!r}")
    return width, height


def _int_at_least(minimum: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        value = int(text)
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be >= {minimum}, got {text}")
        return value
    return parse


def _fps(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
    return value


def main(argv: Optional[Sequence[str]] = None) -> None:
    """Command line: write a labelled image set or a video of synthetic street scenes."""
    parser = argparse.ArgumentParser(prog="python -m edgeseg.data.synthetic",
                                     description="Write synthetic street scenes.")
    sub = parser.add_subparsers(dest="command", required=True)
    images = sub.add_parser("images", help="images/ and labels/ PNGs plus classes.txt")
    images.add_argument("out_dir")
    images.add_argument("--count", type=_int_at_least(0), default=100)
    images.add_argument("--size", type=_size, default="480x360", help="WIDTHxHEIGHT")
    images.add_argument("--seed", type=_int_at_least(0), default=0)
    video = sub.add_parser("video", help="an mp4 with moving vehicles and people")
    video.add_argument("out")
    video.add_argument("--frames", type=_int_at_least(1), default=60)
    video.add_argument("--size", type=_size, default="640x360", help="WIDTHxHEIGHT")
    video.add_argument("--fps", type=_fps, default=10.0)
    video.add_argument("--seed", type=_int_at_least(0), default=0)
    args = parser.parse_args(argv)
    if args.command == "images":
        print(write_dataset(args.out_dir, args.count, args.size[0], args.size[1], seed=args.seed))
    else:
        print(write_video(args.out, args.frames, args.size[0], args.size[1], fps=args.fps, seed=args.seed))


if __name__ == "__main__":
    main()
