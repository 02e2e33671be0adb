"""The world a synthetic street scene shows (metres): sky, road and lanes, sidewalks, facades, plants, vehicles
and people, laid out from a seed; `synthetic` draws it."""
import math
from typing import List, NamedTuple, Optional, Sequence, Tuple

import numpy as np

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

Z_NEAR = 1.0       # nearest depth drawn (m); ground and boxes are cut here
Z_FAR = 1000.0     # far end of the road (m), within a pixel of the vanishing point
Z_STREET = 120.0   # street length with individual buildings (m)
Z_DASHES = 100.0   # no lane dashes beyond (m)
SHIFT = 4          # sub-pixel bits for cv2.fillPoly
CIRCLE = np.linspace(0.0, 2.0 * math.pi, 24, endpoint=False)
HALF_CIRCLE = np.linspace(0.0, math.pi, 13)

# Per-class texture amplitude (grey levels): per-pixel grain and coarse blotches.
FINE = np.array([2.5, 7.0, 5.0, 6.0, 5.5, 10.0, 3.5, 4.5], np.float32)
COARSE = np.array([4.0, 7.0, 4.0, 7.0, 9.0, 20.0, 3.0, 3.0], np.float32)

BUILDING_COLOURS = ((190, 170, 140), (160, 90, 70), (140, 140, 145), (215, 210, 200),
                     (120, 100, 85), (165, 175, 185), (200, 160, 110))
CAR_COLOURS = ((200, 30, 30), (30, 60, 160), (230, 230, 230), (150, 150, 155), (25, 25, 30),
                (220, 190, 40), (40, 110, 60), (110, 30, 40))
SKIN = ((240, 200, 170), (210, 160, 120), (160, 110, 75), (110, 75, 50))
HAIR = ((30, 25, 20), (80, 50, 30), (180, 150, 90), (120, 120, 120))
SHIRTS = ((200, 40, 40), (40, 80, 170), (240, 240, 235), (30, 30, 35), (230, 170, 40),
           (60, 140, 90), (150, 60, 150), (120, 120, 125))
PANTS = ((30, 40, 80), (25, 25, 30), (160, 140, 100), (90, 90, 95))
# Vehicle types: width, height, length (m), body top and cabin start/end (fractions), wheel radius.
VEHICLE_TYPES = ((1.8, 1.5, 4.4, 0.55, 0.22, 0.78, 0.32),
                  (2.0, 2.0, 5.0, 0.50, 0.05, 0.85, 0.36),
                  (2.5, 3.2, 11.0, 0.33, 0.02, 0.98, 0.50))


class Facade(NamedTuple):
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


class Hedge(NamedTuple):
    x: float
    z0: float
    z1: float
    height: float
    colour: Colour


class Plant(NamedTuple):
    x: float
    z: float
    trunk: Tuple[float, float]  # height, width (m); height 0 = bush
    crown: Tuple[float, float]  # radii (m)
    colour: Colour
    blobs: Tuple[Tuple[float, float, float, float], ...]  # dx, dy, radius (crown units), shade


class Vehicle(NamedTuple):
    x: float
    z0: float
    speed: float              # m/s along the road, negative = oncoming
    size: Tuple[float, float, float]  # width, height, length
    shape: Tuple[float, float, float, float]  # body top, cabin start, cabin end, wheel radius
    colour: Colour
    glass: Colour


class Person(NamedTuple):
    x: float
    z0: float
    speed: float
    height: float
    colours: Tuple[Colour, Colour, Colour, Colour]  # shirt, pants, skin, hair
    phase: float


class Layout(NamedTuple):
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
    facades: List[Facade]
    hedges: List[Hedge]
    plants: List[Plant]
    vehicles: List[Vehicle]
    people: List[Person]
    light: Tuple[float, float, float, float]  # gain, x slope, y slope, vignette
    tint: Colour
    side_light: Tuple[float, float]


def jitter(rng: np.random.Generator, base: Sequence[float], amount: float) -> Colour:
    r, g, b = (min(255.0, max(0.0, c + rng.uniform(-amount, amount))) for c in base)
    return r, g, b


def scale(colour: Colour, k: float) -> Colour:
    r, g, b = (min(255.0, c * k) for c in colour)
    return r, g, b


def mix(a: Colour, b: Colour, k: float) -> Colour:
    r, g, bl = (x * (1.0 - k) + y * k for x, y in zip(a, b))
    return r, g, bl


def pick(rng: np.random.Generator, options: Sequence[Sequence[float]], amount: float) -> Colour:
    return jitter(rng, options[int(rng.integers(len(options)))], amount)


def wrap(z0: float, speed: float, t: float, lo: float, hi: float) -> float:
    return lo + (z0 - lo + speed * t) % (hi - lo)


# ---------------------------------------------------------------------------------- layout


def make_sky(rng: np.random.Generator) -> Tuple[Tuple[Colour, Colour],
                                                  List[Tuple[float, float, float, float, Colour]],
                                                  List[Tuple[float, float, float, int, Colour]]]:
    kind = rng.random()
    if kind < 0.6:
        sky = (jitter(rng, (50, 110, 190), 20), jitter(rng, (170, 200, 230), 15))
    elif kind < 0.85:
        sky = (jitter(rng, (150, 155, 165), 15), jitter(rng, (205, 208, 212), 10))
    else:
        sky = (jitter(rng, (70, 90, 150), 15), jitter(rng, (230, 170, 120), 15))
    clouds = []
    for _ in range(int(rng.integers(0, 5)) if kind < 0.6 else 0):  # a cloud: a few ellipses
        u, v = rng.uniform(0, 1), rng.uniform(0.03, 0.22)
        colour = jitter(rng, mix(sky[1], (250, 250, 250), 0.6), 8)
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
                            mix(jitter(rng, base, 15), sky[1], 0.45)))
        u += width
    return sky, clouds, skyline


def make_side(rng: np.random.Generator, x: float, out: float, low: bool
               ) -> Tuple[List[Facade], List[Hedge], List[Plant]]:
    """One side of the street: facades and hedges along x, trees and bushes on the sidewalk."""
    heights = (4.0, 12.0) if low else (8.0, 28.0)
    facades, hedges = [], []
    z = Z_NEAR
    while z < Z_STREET:
        if rng.random() < (0.35 if low else 0.15):
            length = rng.uniform(4, 10)
            hedges.append(Hedge(x, z, z + length, rng.uniform(1.8, 2.6),
                                 jitter(rng, (60, 110, 45), 15)))
        else:
            length = rng.uniform(8, 25)
            facades.append(make_facade(rng, x, z, z + length, out, heights))
        z += length
    facades.append(make_facade(rng, x, z, 600.0, out, heights))
    plants = [make_plant(rng, x - out * rng.uniform(0.6, 1.0), rng.uniform(4, 70), tree=True)
              for _ in range(int(rng.integers(1, 7) if low else rng.integers(0, 5)))]
    plants += [make_plant(rng, x - out * rng.uniform(0.3, 0.6), rng.uniform(3, 60), tree=False)
               for _ in range(int(rng.integers(0, 4)))]
    return facades, hedges, plants


def make_facade(rng: np.random.Generator, x: float, z0: float, z1: float, out: float,
                 heights: Tuple[float, float]) -> Facade:
    window = (rng.uniform(0.9, 1.6), rng.uniform(1.2, 1.8), rng.uniform(2.4, 4.0))
    return Facade(x, z0, z1, rng.uniform(*heights), pick(rng, BUILDING_COLOURS, 18),
                   jitter(rng, (45, 55, 70), 15), rng.uniform(3.0, 3.6), window,
                   int(rng.integers(0, 1000)), out)


def make_plant(rng: np.random.Generator, x: float, z: float, tree: bool) -> Plant:
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
    return Plant(x, z, trunk, crown, jitter(rng, (70, 120, 50), 20), tuple(blobs))


def make_vehicles(rng: np.random.Generator, road_l: float, lane_w: float, lanes: int
                   ) -> List[Vehicle]:
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
            kind = VEHICLE_TYPES[int(rng.choice(3, p=(0.7, 0.22, 0.08)))]
            k = rng.uniform(0.92, 1.08)
            vehicles.append(Vehicle(centre + rng.uniform(-0.3, 0.3), z0, speed,
                                     (kind[0], kind[1] * k, kind[2] * k),
                                     kind[3:], pick(rng, CAR_COLOURS, 15),
                                     jitter(rng, (45, 55, 70), 20)))
    return vehicles


def make_people(rng: np.random.Generator, sidewalks: Sequence[Tuple[float, float]]
                 ) -> List[Person]:
    people = []
    for a, b in sidewalks:
        for _ in range(int(rng.integers(1, 5))):
            colours = (pick(rng, SHIRTS, 25), pick(rng, PANTS, 15), pick(rng, SKIN, 10),
                       pick(rng, HAIR, 10))
            speed = rng.uniform(0.8, 1.6) * (1 if rng.random() < 0.5 else -1)
            people.append(Person(rng.uniform(a + 0.4, b - 0.4), rng.uniform(-5, 80), speed,
                                  rng.uniform(1.55, 1.9), colours, rng.uniform(0, 2 * math.pi)))
    return people


def make_layout(rng: np.random.Generator) -> Layout:
    camera = (rng.uniform(0.40, 0.48), rng.uniform(0.45, 0.55), rng.uniform(1.0, 1.2),
              rng.uniform(1.2, 1.6))
    sky, clouds, skyline = make_sky(rng)
    lane_w, lanes = rng.uniform(3.0, 3.6), (2, 2, 3, 4)[int(rng.integers(4))]
    road_l = -(lanes // 2 + 0.5) * lane_w + rng.uniform(-0.4, 0.4)
    road_r = road_l + lanes * lane_w
    facade_x = (road_l - rng.uniform(2.0, 4.5), road_r + rng.uniform(2.0, 4.5))
    low = rng.random() < 0.35  # low-rise street: lower buildings, more greenery
    left, right = make_side(rng, facade_x[0], -1.0, low), make_side(rng, facade_x[1], 1.0, low)
    white = jitter(rng, (238, 238, 232), 12)
    divider = jitter(rng, (230, 190, 50), 12) if rng.random() < 0.3 else white
    marks = [(road_l + 0.3, False, white), (road_r - 0.3, False, white)]
    marks += [(road_l + k * lane_w, k != lanes // 2 or lanes < 4, divider if k == lanes // 2 else white)
              for k in range(1, lanes)]
    dash_len = rng.uniform(2.0, 3.5)
    dash = (dash_len, dash_len + rng.uniform(3.0, 7.0), Z_NEAR + rng.uniform(0, 6))
    sidewalk = pick(rng, ((165, 165, 160), (185, 172, 150), (170, 115, 105)), 12)
    asphalt = rng.uniform(65, 110)
    ground = (jitter(rng, (asphalt, asphalt, asphalt + 3), 4), sidewalk, scale(sidewalk, 1.15))
    tint = (rng.uniform(0.93, 1.07), rng.uniform(0.95, 1.05), rng.uniform(0.93, 1.07))
    sun = rng.uniform(0.65, 0.9)
    return Layout(
        camera=camera, sky=sky, clouds=clouds, skyline=skyline, road=(road_l, road_r),
        facade_x=facade_x, ground=ground, marks=marks, dash=dash,
        crossing=rng.uniform(8, 25) if rng.random() < 0.35 else None,
        facades=left[0] + right[0], hedges=left[1] + right[1], plants=left[2] + right[2],
        vehicles=make_vehicles(rng, road_l, lane_w, lanes),
        people=make_people(rng, ((facade_x[0], road_l), (road_r, facade_x[1]))),
        light=(rng.uniform(0.75, 1.15), rng.uniform(-0.25, 0.25), rng.uniform(-0.15, 0.15),
               rng.uniform(0.0, 0.35)),
        tint=tint, side_light=(1.0, sun) if rng.random() < 0.5 else (sun, 1.0))
