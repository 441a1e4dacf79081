"""Datum conversion against published reference points, and haversine distances."""

from __future__ import annotations

import math

import pytest

from bot import geo

# Tiananmen: WGS-84 and its GCJ-02 image as 高德/腾讯 maps show it.
WGS = (39.908720, 116.397500)
GCJ = (39.910125, 116.403741)
# The coordtransform project's published pair: GCJ-02 (39.915, 116.404) is this BD-09 point.
GCJ_REF = (39.915, 116.404)
BD_REF = (39.92133699351021, 116.41036949371029)


def test_gcj02_point_converts_within_5m() -> None:
    forward = geo.wgs84_to_gcj02(*WGS)
    assert geo.distance_m(*forward, *GCJ) < 5

    back = geo.gcj02_to_wgs84(*GCJ)
    assert geo.distance_m(*back, *WGS) < 5

    round_trip = geo.gcj02_to_wgs84(*geo.wgs84_to_gcj02(*WGS))
    assert geo.distance_m(*round_trip, *WGS) < 0.01

    # BD-09: the forward formula hits the published point, and the inverse undoes it.
    assert geo.distance_m(*geo.gcj02_to_bd09(*GCJ_REF), *BD_REF) < 0.01
    assert geo.distance_m(*geo.bd09_to_gcj02(*BD_REF), *GCJ_REF) < 0.01
    from_bd = geo.bd09_to_wgs84(*BD_REF)
    assert geo.distance_m(*from_bd, *geo.gcj02_to_wgs84(*GCJ_REF)) < 5
    assert geo.distance_m(*geo.wgs84_to_gcj02(*from_bd), *GCJ_REF) < 0.01


@pytest.mark.parametrize("lat", [18.3, 25.0, 31.88, 39.9, 45.7, 53.0])
@pytest.mark.parametrize("lon", [75.0, 91.1, 106.8, 121.5, 134.0])
def test_inverse_converges_across_china(lat: float, lon: float) -> None:
    for forward, inverse in [
        (geo.wgs84_to_gcj02, geo.gcj02_to_wgs84),
        (
            lambda a, o: geo.gcj02_to_bd09(*geo.wgs84_to_gcj02(a, o)),
            geo.bd09_to_wgs84,
        ),
    ]:
        assert geo.distance_m(*inverse(*forward(lat, lon)), lat, lon) < 0.01


def test_outside_china_gcj02_is_wgs84() -> None:
    tokyo = (35.6812, 139.7671)
    assert geo.out_of_china(*tokyo)
    assert geo.wgs84_to_gcj02(*tokyo) == tokyo
    assert geo.gcj02_to_wgs84(*tokyo) == tokyo


def test_haversine_distances() -> None:
    assert geo.distance_m(*WGS, *WGS) == 0
    one_degree = geo.distance_m(31.0, 106.8, 32.0, 106.8)
    assert one_degree == pytest.approx(111_195, abs=1)
    assert geo.distance_m(0, 0, 0, 180) == pytest.approx(math.pi * geo.EARTH_RADIUS_M)
    # Beijing to Shanghai is about 1,068 km by great circle.
    assert geo.distance_m(39.9042, 116.4074, 31.2304, 121.4737) == pytest.approx(
        1_067_000, rel=0.01
    )
