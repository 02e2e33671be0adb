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
from typing import Callable, List, NamedTuple, Optional, Sequence, Tuple

import cv2
import numpy as np

from ..artifacts import atomic_path
from ..errors import ConfigError
from ..preprocess import parse_size

CLASSES: Tuple[str, ...] = (
    "sky", "road", "lane_marking", "sidewalk", "building", "vegetation", "vehicle", "person",
)
PALETTE: List[Tuple[int, int, int]] = [
    (70, 130, 180),   # sky
    (128, 64, 128),   # road
    (255, 255, 255),  # lane_marking
    (244, 35, 232),   # sidewalk
    (70, 70, 70),     # building
    (107, 142, 35),   # vegetation
    (0, 0, 142),      # vehicle
    (220, 20, 60),    # person
]
SKY, ROAD, LANE_MARKING, SIDEWALK, BUILDING, VEGETATION, VEHICLE, PERSON = range(len(CLASSES))

Colour = Tuple[float, float, float]  # RGB, 0-255

_Z_NEAR = 1.0       # nearest depth drawn (m); ground and boxes are cut here
_Z_FAR = 1000.0     # far end of the road (m), within a pixel of the vanishing point
_Z_STREET = 120.0   # street length with individual buildings (m)
_Z_DASHES = 100.0   # no lane dashes beyond (m)
_SHIFT = 4          # sub-pixel bits for cv2.fillPoly
_CIRCLE = np.linspace(0.0, 2.0 * math.pi, 24, endpoint=False)
_HALF_CIRCLE = np.linspace(0.0, math.pi, 13)

# Per-class texture amplitude (grey levels): per-pixel grain and coarse blotches.
_FINE = np.array([2.5, 7.0, 5.0, 6.0, 5.5, 10.0, 3.5, 4.5], np.float32)
_COARSE = np.array([4.0, 7.0, 4.0, 7.0, 9.0, 20.0, 3.0, 3.0], np.float32)

_BUILDING_COLOURS = ((190, 170, 140), (160, 90, 70), (140, 140, 145), (215, 210, 200),
                     (120, 100, 85), (165, 175, 185), (200, 160, 110))
_CAR_COLOURS = ((200, 30, 30), (30, 60, 160), (230, 230, 230), (150, 150, 155), (25, 25, 30),
                (220, 190, 40), (40, 110, 60), (110, 30, 40))
_SKIN = ((240, 200, 170), (210, 160, 120), (160, 110, 75), (110, 75, 50))
_HAIR = ((30, 25, 20), (80, 50, 30), (180, 150, 90), (120, 120, 120))
_SHIRTS = ((200, 40, 40), (40, 80, 170), (240, 240, 235), (30, 30, 35), (230, 170, 40),
           (60, 140, 90), (150, 60, 150), (120, 120, 125))
_PANTS = ((30, 40, 80), (25, 25, 30), (160, 140, 100), (90, 90, 95))
# Vehicle types: width, height, length (m), body top and cabin start/end (fractions), wheel radius.
_VEHICLE_TYPES = ((1.8, 1.5, 4.4, 0.55, 0.22, 0.78, 0.32),
                  (2.0, 2.0, 5.0, 0.50, 0.05, 0.85, 0.36),
                  (2.5, 3.2, 11.0, 0.33, 0.02, 0.98, 0.50))


class _Facade(NamedTuple):
    x: float                  # facade plane (m from camera, negative = left)
    z0: float
    z1: float
    height: float
    colour: Colour
    glass: Colour
    floor_h: float
    window: Tuple[float, float, float]  # width, height, spacing (m)
    pattern: int              # picks which windows look lit
    out: float                # -1 left side, +1 right side (direction away from the road)


class _Hedge(NamedTuple):
    x: float
    z0: float
    z1: float
    height: float
    colour: Colour


class _Plant(NamedTuple):
    x: float
    z: float
    trunk: Tuple[float, float]  # height, width (m); height 0 = bush
    crown: Tuple[float, float]  # radii (m)
    colour: Colour
    blobs: Tuple[Tuple[float, float, float, float], ...]  # dx, dy, radius (crown units), shade


class _Vehicle(NamedTuple):
    x: float
    z0: float
    speed: float              # m/s along the road, negative = oncoming
    size: Tuple[float, float, float]  # width, height, length
    shape: Tuple[float, float, float, float]  # body top, cabin start, cabin end, wheel radius
    colour: Colour
    glass: Colour


class _Person(NamedTuple):
    x: float
    z0: float
    speed: float
    height: float
    colours: Tuple[Colour, Colour, Colour, Colour]  # shirt, pants, skin, hair
    phase: float


class _Layout(NamedTuple):
    # horizon and vanishing-point x (image fractions), focal length / image height, height (m)
    camera: Tuple[float, float, float, float]
    sky: Tuple[Colour, Colour]
    clouds: List[Tuple[float, float, float, float, Colour]]   # u, v, rx, ry (fractions)
    skyline: List[Tuple[float, float, float, int, Colour]]    # u0, u1, height (fractions), class
    road: Tuple[float, float]
    facade_x: Tuple[float, float]
    ground: Tuple[Colour, Colour, Colour]   # road, sidewalk, curb
    marks: List[Tuple[float, bool, Colour]]  # x, dashed, colour
    dash: Tuple[float, float, float]        # length, period, first start (m)
    crossing: Optional[float]
    facades: List[_Facade]
    hedges: List[_Hedge]
    plants: List[_Plant]
    vehicles: List[_Vehicle]
    people: List[_Person]
    light: Tuple[float, float, float, float]  # gain, x slope, y slope, vignette
    tint: Colour
    side_light: Tuple[float, float]


def _jitter(rng: np.random.Generator, base: Sequence[float], amount: float) -> Colour:
    r, g, b = (min(255.0, max(0.0, c + rng.uniform(-amount, amount))) for c in base)
    return r, g, b


def _scale(colour: Colour, k: float) -> Colour:
    r, g, b = (min(255.0, c * k) for c in colour)
    return r, g, b


def _mix(a: Colour, b: Colour, k: float) -> Colour:
    r, g, bl = (x * (1.0 - k) + y * k for x, y in zip(a, b))
    return r, g, bl


def _pick(rng: np.random.Generator, options: Sequence[Sequence[float]], amount: float) -> Colour:
    return _jitter(rng, options[int(rng.integers(len(options)))], amount)


def _wrap(z0: float, speed: float, t: float, lo: float, hi: float) -> float:
    return lo + (z0 - lo + speed * t) % (hi - lo)


# ---------------------------------------------------------------------------------- layout


def _make_sky(rng: np.random.Generator) -> Tuple[Tuple[Colour, Colour],
                                                  List[Tuple[float, float, float, float, Colour]],
                                                  List[Tuple[float, float, float, int, Colour]]]:
    kind = rng.random()
    if kind < 0.6:
        sky = (_jitter(rng, (50, 110, 190), 20), _jitter(rng, (170, 200, 230), 15))
    elif kind < 0.85:
        sky = (_jitter(rng, (150, 155, 165), 15), _jitter(rng, (205, 208, 212), 10))
    else:
        sky = (_jitter(rng, (70, 90, 150), 15), _jitter(rng, (230, 170, 120), 15))
    clouds = []
    for _ in range(int(rng.integers(0, 5)) if kind < 0.6 else 0):  # a cloud: a few ellipses
        u, v = rng.uniform(0, 1), rng.uniform(0.03, 0.22)
        colour = _jitter(rng, _mix(sky[1], (250, 250, 250), 0.6), 8)
        clouds += [(u + rng.uniform(-0.06, 0.06), v + rng.uniform(-0.01, 0.01),
                    rng.uniform(0.03, 0.08), rng.uniform(0.01, 0.025), colour)
                   for _ in range(int(rng.integers(3, 6)))]
    skyline = []
    u = 0.0
    while u < 1.0:
        width = rng.uniform(0.03, 0.1)
        if rng.random() < 0.8:
            cls = BUILDING if rng.random() < 0.75 else VEGETATION
            base = (120, 120, 125) if cls == BUILDING else (70, 100, 60)
            skyline.append((u, u + width, rng.uniform(0.01, 0.08), cls,
                            _mix(_jitter(rng, base, 15), sky[1], 0.45)))
        u += width
    return sky, clouds, skyline


def _make_side(rng: np.random.Generator, x: float, out: float, low: bool
               ) -> Tuple[List[_Facade], List[_Hedge], List[_Plant]]:
    """One side of the street: facades and hedges along x, trees and bushes on the sidewalk."""
    heights = (4.0, 12.0) if low else (8.0, 28.0)
    facades, hedges = [], []
    z = _Z_NEAR
    while z < _Z_STREET:
        if rng.random() < (0.35 if low else 0.15):
            length = rng.uniform(4, 10)
            hedges.append(_Hedge(x, z, z + length, rng.uniform(1.8, 2.6),
                                 _jitter(rng, (60, 110, 45), 15)))
        else:
            length = rng.uniform(8, 25)
            facades.append(_make_facade(rng, x, z, z + length, out, heights))
        z += length
    facades.append(_make_facade(rng, x, z, 600.0, out, heights))
    plants = [_make_plant(rng, x - out * rng.uniform(0.6, 1.0), rng.uniform(4, 70), tree=True)
              for _ in range(int(rng.integers(1, 7) if low else rng.integers(0, 5)))]
    plants += [_make_plant(rng, x - out * rng.uniform(0.3, 0.6), rng.uniform(3, 60), tree=False)
               for _ in range(int(rng.integers(0, 4)))]
    return facades, hedges, plants


def _make_facade(rng: np.random.Generator, x: float, z0: float, z1: float, out: float,
                 heights: Tuple[float, float]) -> _Facade:
    window = (rng.uniform(0.9, 1.6), rng.uniform(1.2, 1.8), rng.uniform(2.4, 4.0))
    return _Facade(x, z0, z1, rng.uniform(*heights), _pick(rng, _BUILDING_COLOURS, 18),
                   _jitter(rng, (45, 55, 70), 15), rng.uniform(3.0, 3.6), window,
                   int(rng.integers(0, 1000)), out)


def _make_plant(rng: np.random.Generator, x: float, z: float, tree: bool) -> _Plant:
    if tree:
        r = rng.uniform(1.2, 2.5)
        trunk = (rng.uniform(1.8, 3.2), rng.uniform(0.2, 0.35))
        crown = (r, r * rng.uniform(0.9, 1.3))
    else:
        r = rng.uniform(0.4, 0.9)
        trunk, crown = (0.0, 0.0), (r, 0.8 * r)
    blobs = []
    for _ in range(int(rng.integers(3, 7))):
        size = rng.uniform(0.2, 0.45)
        angle, dist = rng.uniform(0, 2 * math.pi), rng.uniform(0, 1 - size)
        dy = dist * math.sin(angle)
        blobs.append((dist * math.cos(angle), dy if tree else abs(dy), size,
                      rng.uniform(0.75, 1.25)))
    return _Plant(x, z, trunk, crown, _jitter(rng, (70, 120, 50), 20), tuple(blobs))


def _make_vehicles(rng: np.random.Generator, road_l: float, lane_w: float, lanes: int
                   ) -> List[_Vehicle]:
    vehicles = []
    ego = lanes // 2
    for lane in range(lanes):
        centre = road_l + (lane + 0.5) * lane_w
        if lane == ego:  # the lane ahead: a stopped vehicle or none (it must not drive through us)
            starts = [rng.uniform(7, 30)] if rng.random() < 0.7 else []
            speed = 0.0
        else:
            count = int(rng.integers(1, 4))
            first = rng.uniform(-10, 160)
            starts = [first + k * 170.0 / count for k in range(count)]
            speed = rng.uniform(5, 12) * (-1 if lane < ego else 1)
        for z0 in starts:
            kind = _VEHICLE_TYPES[int(rng.choice(3, p=(0.7, 0.22, 0.08)))]
            k = rng.uniform(0.92, 1.08)
            vehicles.append(_Vehicle(centre + rng.uniform(-0.3, 0.3), z0, speed,
                                     (kind[0], kind[1] * k, kind[2] * k),
                                     kind[3:], _pick(rng, _CAR_COLOURS, 15),
                                     _jitter(rng, (45, 55, 70), 20)))
    return vehicles


def _make_people(rng: np.random.Generator, sidewalks: Sequence[Tuple[float, float]]
                 ) -> List[_Person]:
    people = []
    for a, b in sidewalks:
        for _ in range(int(rng.integers(1, 5))):
            colours = (_pick(rng, _SHIRTS, 25), _pick(rng, _PANTS, 15), _pick(rng, _SKIN, 10),
                       _pick(rng, _HAIR, 10))
            speed = rng.uniform(0.8, 1.6) * (1 if rng.random() < 0.5 else -1)
            people.append(_Person(rng.uniform(a + 0.4, b - 0.4), rng.uniform(-5, 80), speed,
                                  rng.uniform(1.55, 1.9), colours, rng.uniform(0, 2 * math.pi)))
    return people


def _make_layout(rng: np.random.Generator) -> _Layout:
    camera = (rng.uniform(0.40, 0.48), rng.uniform(0.45, 0.55), rng.uniform(1.0, 1.2),
              rng.uniform(1.2, 1.6))
    sky, clouds, skyline = _make_sky(rng)
    lane_w, lanes = rng.uniform(3.0, 3.6), (2, 2, 3, 4)[int(rng.integers(4))]
    road_l = -(lanes // 2 + 0.5) * lane_w + rng.uniform(-0.4, 0.4)
    road_r = road_l + lanes * lane_w
    facade_x = (road_l - rng.uniform(2.0, 4.5), road_r + rng.uniform(2.0, 4.5))
    low = rng.random() < 0.35  # low-rise street: lower buildings, more greenery
    left, right = _make_side(rng, facade_x[0], -1.0, low), _make_side(rng, facade_x[1], 1.0, low)
    white = _jitter(rng, (238, 238, 232), 12)
    divider = _jitter(rng, (230, 190, 50), 12) if rng.random() < 0.3 else white
    marks = [(road_l + 0.3, False, white), (road_r - 0.3, False, white)]
    marks += [(road_l + k * lane_w, k != lanes // 2 or lanes < 4, divider if k == lanes // 2 else white)
              for k in range(1, lanes)]
    dash_len = rng.uniform(2.0, 3.5)
    dash = (dash_len, dash_len + rng.uniform(3.0, 7.0), _Z_NEAR + rng.uniform(0, 6))
    sidewalk = _pick(rng, ((165, 165, 160), (185, 172, 150), (170, 115, 105)), 12)
    asphalt = rng.uniform(65, 110)
    ground = (_jitter(rng, (asphalt, asphalt, asphalt + 3), 4), sidewalk, _scale(sidewalk, 1.15))
    tint = (rng.uniform(0.93, 1.07), rng.uniform(0.95, 1.05), rng.uniform(0.93, 1.07))
    sun = rng.uniform(0.65, 0.9)
    return _Layout(
        camera=camera, sky=sky, clouds=clouds, skyline=skyline, road=(road_l, road_r),
        facade_x=facade_x, ground=ground, marks=marks, dash=dash,
        crossing=rng.uniform(8, 25) if rng.random() < 0.35 else None,
        facades=left[0] + right[0], hedges=left[1] + right[1], plants=left[2] + right[2],
        vehicles=_make_vehicles(rng, road_l, lane_w, lanes),
        people=_make_people(rng, ((facade_x[0], road_l), (road_r, facade_x[1]))),
        light=(rng.uniform(0.75, 1.15), rng.uniform(-0.25, 0.25), rng.uniform(-0.15, 0.15),
               rng.uniform(0.0, 0.35)),
        tint=tint, side_light=(1.0, sun) if rng.random() < 0.5 else (sun, 1.0))


# ---------------------------------------------------------------------------------- drawing


class _Camera:
    """Pinhole camera at (0, height, 0) looking along +z; y is height above the ground."""

    def __init__(self, layout: _Layout, width: int, height: int) -> None:
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

    def fill(self, polys: object, colour: Colour, cls: Optional[int] = None) -> None:
        """Fill one (N, 2) polygon or a stack (K, N, 2) in pixels; `cls` None = image only."""
        pts = np.round(np.asarray(polys, dtype=np.float64) * (1 << _SHIFT)).astype(np.int32)
        pts = list(pts[None] if pts.ndim == 2 else pts)
        cv2.fillPoly(self.image, pts, colour, cv2.LINE_8, _SHIFT)
        if cls is not None:
            cv2.fillPoly(self.mask, pts, cls, cv2.LINE_8, _SHIFT)

    def darken(self, poly: np.ndarray, factor: float) -> None:
        pts = [np.round(poly * (1 << _SHIFT)).astype(np.int32)]
        cv2.fillPoly(self.shade, pts, factor, cv2.LINE_8, _SHIFT)


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
    a = _HALF_CIRCLE if half else _CIRCLE
    return np.stack([x + rx * np.cos(a), y + ry * np.sin(a), np.full_like(a, z)], axis=-1)


def _draw_background(canvas: _Canvas, cam: _Camera, layout: _Layout) -> None:
    h, w = canvas.mask.shape
    top, bottom = (np.asarray(c, np.float32) for c in layout.sky)
    k = np.clip(np.arange(h, dtype=np.float32) / max(cam.cy, 1.0), 0, 1)[:, None]
    canvas.image[:] = (top * (1 - k) + bottom * k).astype(np.uint8)[:, None, :]
    for u, v, rx, ry, colour in layout.clouds:
        canvas.fill(np.stack([(u + rx * np.cos(_CIRCLE)) * w,
                              (v + ry * np.sin(_CIRCLE)) * h], axis=-1), colour)
    for u0, u1, top_frac, cls, colour in layout.skyline:
        y0 = cam.cy - top_frac * h
        canvas.fill([(u0 * w, cam.cy), (u1 * w, cam.cy), (u1 * w, y0), (u0 * w, y0)], colour, cls)
    canvas.fill([(0, cam.cy), (w, cam.cy), (w, h + 1), (0, h + 1)], layout.ground[1], SIDEWALK)


def _draw_road(canvas: _Canvas, cam: _Camera, layout: _Layout) -> None:
    road_l, road_r = layout.road
    road, sidewalk, curb = layout.ground
    joints = []
    z = _Z_NEAR
    while cam.f * cam.height * (1 / z - 1 / (z + 1.5)) >= 4:  # paving joints while >= 4 px apart
        joints += [_quad_y(layout.facade_x[0], road_l, 0, z, z + 0.05),
                   _quad_y(road_r, layout.facade_x[1], 0, z, z + 0.05)]
        z += 1.5
    if joints:
        canvas.fill(cam.project(joints), _scale(sidewalk, 0.8))
    canvas.fill(cam.project([_quad_y(road_l - 0.2, road_l, 0, _Z_NEAR, _Z_FAR),
                             _quad_y(road_r, road_r + 0.2, 0, _Z_NEAR, _Z_FAR)]), curb)
    canvas.fill(cam.project(_quad_y(road_l, road_r, 0, _Z_NEAR, _Z_FAR)), road, ROAD)
    length, period, start = layout.dash
    starts = np.arange(start, _Z_DASHES, period)
    for x, dashed, colour in layout.marks:
        if dashed:
            quads = [_quad_y(x - 0.075, x + 0.075, 0, z, z + length) for z in starts]
        else:
            quads = [_quad_y(x - 0.075, x + 0.075, 0, _Z_NEAR, _Z_DASHES)]
        canvas.fill(cam.project(quads), colour, LANE_MARKING)
    if layout.crossing is not None:
        z = layout.crossing
        stripes = [_quad_y(x, x + 0.5, 0, z, z + 3.0)
                   for x in np.arange(road_l + 0.5, road_r - 0.9, 1.0)]
        canvas.fill(cam.project(stripes), layout.marks[0][2], LANE_MARKING)


def _draw_facade(canvas: _Canvas, cam: _Camera, f: _Facade, light: float) -> None:
    colour = _scale(f.colour, light)
    end = [(f.x, 0, f.z0), (f.x + f.out * 12, 0, f.z0), (f.x + f.out * 12, f.height, f.z0),
           (f.x, f.height, f.z0)]
    canvas.fill(cam.project(end), _scale(colour, 0.8), BUILDING)
    canvas.fill(cam.project(_quad_x(f.x, 0, f.height, f.z0, f.z1)), colour, BUILDING)
    canvas.fill(cam.project(_quad_x(f.x, f.height - 0.6, f.height, f.z0, f.z1)),
                _scale(colour, 0.7))
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
    canvas.fill(pixels[~lit], _scale(f.glass, light))
    if lit.any():
        canvas.fill(pixels[lit], _scale(_mix(f.glass, (220, 210, 170), 0.6), light))


def _draw_plant(canvas: _Canvas, cam: _Camera, p: _Plant) -> None:
    (trunk_h, trunk_w), (rx, ry) = p.trunk, p.crown
    if trunk_h > 0:
        canvas.fill(cam.project(_quad_z(p.x - trunk_w / 2, p.x + trunk_w / 2, 0,
                                        trunk_h + 0.3 * ry, p.z)), (95, 70, 50), VEGETATION)
    cy = trunk_h + 0.9 * ry if trunk_h > 0 else 0.0
    half = trunk_h == 0
    canvas.fill(cam.project(_ellipse(p.x, cy, p.z, rx, ry, half)), p.colour, VEGETATION)
    for dx, dy, r, shade in p.blobs:
        canvas.fill(cam.project(_ellipse(p.x + dx * rx, cy + dy * ry, p.z, r * rx, r * ry, half)),
                    _scale(p.colour, shade))


def _draw_box(canvas: _Canvas, cam: _Camera, x: Tuple[float, float], y: Tuple[float, float],
              z: Tuple[float, float], colour: Colour) -> None:
    """The faces of an axis-aligned vehicle box that the camera sees, cut at _Z_NEAR."""
    (x0, x1), (y0, y1), (z0, z1) = x, y, (max(z[0], _Z_NEAR), z[1])
    if z1 <= z0:
        return
    if x0 > 0 or x1 < 0:
        canvas.fill(cam.project(_quad_x(x0 if x0 > 0 else x1, y0, y1, z0, z1)),
                    _scale(colour, 0.8), VEHICLE)
    if y1 < cam.height:
        canvas.fill(cam.project(_quad_y(x0, x1, y1, z0, z1)), _scale(colour, 1.1), VEHICLE)
    canvas.fill(cam.project(_quad_z(x0, x1, y0, y1, z0)), colour, VEHICLE)


def _wheel(x: float, y: float, z: float, radius: float) -> np.ndarray:
    """Circle in the plane x = const (a wheel seen from the side)."""
    return np.stack([np.full_like(_CIRCLE, x), y + radius * np.sin(_CIRCLE),
                     z + radius * np.cos(_CIRCLE)], axis=-1)


def _draw_vehicle(canvas: _Canvas, cam: _Camera, v: _Vehicle, z: float) -> None:
    (width, height, length), (body, cab0, cab1, r) = v.size, v.shape
    x0, x1, z1 = v.x - width / 2, v.x + width / 2, z + length
    if z1 <= _Z_NEAR:
        return
    canvas.darken(cam.project(_quad_y(x0 - 0.2, x1 + 0.2, 0, max(z - 0.3, _Z_NEAR), z1 + 0.3)), 0.5)
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
    if side is not None and cz1 - 0.15 > max(cz0 + 0.15, _Z_NEAR):
        sx = side + (0.1 if side == x0 else -0.1)
        canvas.fill(cam.project(_quad_x(sx, top + 0.08, height - 0.08,
                                        max(cz0 + 0.15, _Z_NEAR), cz1 - 0.15)),
                    _scale(v.glass, 0.85))
    if side is not None:
        for a in (a for a in axles if a - r >= _Z_NEAR):
            canvas.fill(cam.project(_wheel(side, r, a, r)), tyre, VEHICLE)
            canvas.fill(cam.project(_wheel(side, r, a, 0.5 * r)), (150, 150, 150))
    if cz0 >= _Z_NEAR:
        canvas.fill(cam.project(_quad_z(x0 + 0.22, x1 - 0.22, top + 0.08, height - 0.08, cz0)),
                    v.glass)
    if z >= _Z_NEAR:
        lamp = (200.0, 30.0, 30.0) if v.speed >= 0 else (250.0, 245.0, 220.0)
        lamps = [_quad_z(x0 + 0.08, x0 + 0.35, top - 0.25, top - 0.08, z),
                 _quad_z(x1 - 0.35, x1 - 0.08, top - 0.25, top - 0.08, z)]
        canvas.fill(cam.project(lamps), lamp)
        canvas.fill(cam.project(_quad_z(v.x - 0.26, v.x + 0.26, 0.8 * r + 0.1, 0.8 * r + 0.22, z)),
                    (235, 235, 235))


def _draw_person(canvas: _Canvas, cam: _Camera, p: _Person, z: float, t: float) -> None:
    if z < _Z_NEAR:
        return
    shirt, pants, skin, hair = p.colours
    h, x = p.height, p.x
    swing = math.sin(p.phase + t * 2 * math.pi * abs(p.speed) / 1.4)
    ground = np.stack([x + 0.3 * np.cos(_CIRCLE), np.zeros_like(_CIRCLE),
                       z + 0.3 * np.sin(_CIRCLE)], axis=-1)
    if z >= _Z_NEAR + 0.3:
        canvas.darken(cam.project(ground), 0.6)
    for s in (-1, 1):
        lift = max(0.0, s * swing) * 0.04 * h
        lx = x + s * 0.05 * h
        canvas.fill(cam.project(_quad_z(lx - 0.035 * h, lx + 0.035 * h, lift, 0.5 * h, z)),
                    pants, PERSON)
        ax = x + s * 0.165 * h
        hand = (0.5 + 0.02 * s * swing) * h
        canvas.fill(cam.project(_quad_z(ax - 0.03 * h, ax + 0.03 * h, hand, 0.79 * h, z)),
                    _scale(shirt, 0.9), PERSON)
        canvas.fill(cam.project(_quad_z(ax - 0.028 * h, ax + 0.028 * h, hand, hand + 0.06 * h, z)),
                    skin)
    torso = [(x - 0.12 * h, 0.48 * h, z), (x + 0.12 * h, 0.48 * h, z),
             (x + 0.14 * h, 0.8 * h, z), (x - 0.14 * h, 0.8 * h, z)]
    canvas.fill(cam.project(torso), shirt, PERSON)
    canvas.fill(cam.project(_quad_z(x - 0.025 * h, x + 0.025 * h, 0.79 * h, 0.84 * h, z)), skin, PERSON)
    canvas.fill(cam.project(_ellipse(x, 0.9 * h, z, 0.055 * h, 0.068 * h)), skin, PERSON)
    canvas.fill(cam.project(_ellipse(x, 0.91 * h, z, 0.055 * h, 0.058 * h, half=True)), hair)


def _draw_objects(canvas: _Canvas, cam: _Camera, layout: _Layout, t: float) -> None:
    """Plants, vehicles and people, far to near (painter's algorithm)."""
    items = [(p.z, 0, i) for i, p in enumerate(layout.plants)]
    items += [(_wrap(v.z0, v.speed, t, -10.0, 160.0), 1, i) for i, v in enumerate(layout.vehicles)]
    items += [(_wrap(p.z0, p.speed, t, -5.0, 80.0), 2, i) for i, p in enumerate(layout.people)]
    for z, kind, i in sorted(items, reverse=True):
        if kind == 0:
            _draw_plant(canvas, cam, layout.plants[i])
        elif kind == 1:
            _draw_vehicle(canvas, cam, layout.vehicles[i], z)
        else:
            _draw_person(canvas, cam, layout.people[i], z, t)


def _finish(canvas: _Canvas, layout: _Layout, seed: int, t: float) -> np.ndarray:
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
    noise *= _FINE[canvas.mask]
    coarse *= _COARSE[canvas.mask]
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
    layout = _make_layout(np.random.default_rng([seed, 0]))
    cam = _Camera(layout, width, height)
    canvas = _Canvas(width, height)
    _draw_background(canvas, cam, layout)
    _draw_road(canvas, cam, layout)
    walls = sorted(layout.facades + layout.hedges, key=lambda s: -s.z0)  # far to near
    for wall in walls:
        if isinstance(wall, _Hedge):
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
        writer = cv2.VideoWriter(tmp, cv2.VideoWriter_fourcc(*"mp4v"), float(fps), (width, height))
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
        print(write_dataset(args.out_dir, args.count, *args.size, seed=args.seed))
    else:
        print(write_video(args.out, args.frames, *args.size, fps=args.fps, seed=args.seed))


if __name__ == "__main__":
    main()
