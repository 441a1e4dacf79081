"""Chinese map datums to WGS-84, and distances on the globe.

Operators copy village centres from 高德/腾讯 maps (GCJ-02) or 百度 maps (BD-09), while Telegram
reports WGS-84; a check-in compares the two, so every stored centre is WGS-84. The forward
formulas are the widely published "eviltransform" ones; the reverse directions have no closed
form, so they are solved by fixed-point iteration on the forward transform, which converges to
far below a millimetre in a handful of steps because the offset varies slowly with position.
"""

from __future__ import annotations

import math
from typing import NamedTuple

# Krasovsky 1940 ellipsoid, as used by the GCJ-02 obfuscation.
_GCJ_A = 6378245.0
_GCJ_EE = 0.00669342162296594323
_BD_X_PI = math.pi * 3000.0 / 180.0
_BD_DLON = 0.0065
_BD_DLAT = 0.006

# Mean Earth radius (IUGG); the haversine error against the ellipsoid stays under 0.5 %.
EARTH_RADIUS_M = 6_371_008.8

_MAX_STEPS = 50
_TOLERANCE_DEG = 1e-10


class LatLon(NamedTuple):
    """A point in decimal degrees; latitude first, as Chinese map tools print it."""

    lat: float
    lon: float


def out_of_china(lat: float, lon: float) -> bool:
    """The rough box outside which GCJ-02 is defined to equal WGS-84."""
    return not (72.004 <= lon <= 137.8347 and 0.8293 <= lat <= 55.8271)


def _offset_lat(x: float, y: float) -> float:
    ret = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * math.sqrt(abs(x))
    ret += (20.0 * math.sin(6.0 * x * math.pi) + 20.0 * math.sin(2.0 * x * math.pi)) * 2.0 / 3.0
    ret += (20.0 * math.sin(y * math.pi) + 40.0 * math.sin(y / 3.0 * math.pi)) * 2.0 / 3.0
    ret += (160.0 * math.sin(y / 12.0 * math.pi) + 320.0 * math.sin(y * math.pi / 30.0)) * 2.0 / 3.0
    return ret


def _offset_lon(x: float, y: float) -> float:
    ret = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * math.sqrt(abs(x))
    ret += (20.0 * math.sin(6.0 * x * math.pi) + 20.0 * math.sin(2.0 * x * math.pi)) * 2.0 / 3.0
    ret += (20.0 * math.sin(x * math.pi) + 40.0 * math.sin(x / 3.0 * math.pi)) * 2.0 / 3.0
    ret += (150.0 * math.sin(x / 12.0 * math.pi) + 300.0 * math.sin(x / 30.0 * math.pi)) * 2.0 / 3.0
    return ret


def wgs84_to_gcj02(lat: float, lon: float) -> LatLon:
    """The forward GCJ-02 obfuscation; the identity outside China."""
    if out_of_china(lat, lon):
        return LatLon(lat, lon)
    x, y = lon - 105.0, lat - 35.0
    dlat = _offset_lat(x, y)
    dlon = _offset_lon(x, y)
    rad = lat / 180.0 * math.pi
    magic = 1.0 - _GCJ_EE * math.sin(rad) ** 2
    sqrt_magic = math.sqrt(magic)
    dlat = (dlat * 180.0) / ((_GCJ_A * (1.0 - _GCJ_EE)) / (magic * sqrt_magic) * math.pi)
    dlon = (dlon * 180.0) / (_GCJ_A / sqrt_magic * math.cos(rad) * math.pi)
    return LatLon(lat + dlat, lon + dlon)


def gcj02_to_bd09(lat: float, lon: float) -> LatLon:
    """Baidu's extra rotation and shift on top of GCJ-02."""
    z = math.hypot(lon, lat) + 0.00002 * math.sin(lat * _BD_X_PI)
    theta = math.atan2(lat, lon) + 0.000003 * math.cos(lon * _BD_X_PI)
    return LatLon(z * math.sin(theta) + _BD_DLAT, z * math.cos(theta) + _BD_DLON)


def gcj02_to_wgs84(lat: float, lon: float) -> LatLon:
    """Invert :func:`wgs84_to_gcj02` by iterating until the forward image hits the input."""
    if out_of_china(lat, lon):
        return LatLon(lat, lon)
    guess_lat, guess_lon = lat, lon
    for _ in range(_MAX_STEPS):
        fwd = wgs84_to_gcj02(guess_lat, guess_lon)
        err_lat, err_lon = fwd.lat - lat, fwd.lon - lon
        if abs(err_lat) < _TOLERANCE_DEG and abs(err_lon) < _TOLERANCE_DEG:
            break
        guess_lat, guess_lon = guess_lat - err_lat, guess_lon - err_lon
    return LatLon(guess_lat, guess_lon)


def bd09_to_gcj02(lat: float, lon: float) -> LatLon:
    """Invert :func:`gcj02_to_bd09`: the usual closed-form estimate, refined by iteration."""
    x, y = lon - _BD_DLON, lat - _BD_DLAT
    z = math.hypot(x, y) - 0.00002 * math.sin(y * _BD_X_PI)
    theta = math.atan2(y, x) - 0.000003 * math.cos(x * _BD_X_PI)
    guess_lat, guess_lon = z * math.sin(theta), z * math.cos(theta)
    for _ in range(_MAX_STEPS):
        fwd = gcj02_to_bd09(guess_lat, guess_lon)
        err_lat, err_lon = fwd.lat - lat, fwd.lon - lon
        if abs(err_lat) < _TOLERANCE_DEG and abs(err_lon) < _TOLERANCE_DEG:
            break
        guess_lat, guess_lon = guess_lat - err_lat, guess_lon - err_lon
    return LatLon(guess_lat, guess_lon)


def bd09_to_wgs84(lat: float, lon: float) -> LatLon:
    """BD-09 is GCJ-02 plus Baidu's own offset, so undo both in turn."""
    gcj = bd09_to_gcj02(lat, lon)
    return gcj02_to_wgs84(gcj.lat, gcj.lon)


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance by the haversine formula, stable for the short distances we check."""
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    dphi = phi2 - phi1
    dlam = math.radians(lon2 - lon1)
    h = math.sin(dphi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(dlam / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))
