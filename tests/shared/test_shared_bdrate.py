"""Tests for entropykit_shared.bdrate: BD-rate and BD-PSNR (VCEG-M33 cubic and JVET pchip)."""

from __future__ import annotations

import math

import numpy as np
import pytest

import entropykit_shared
from entropykit_shared.bdrate import BD_METHODS, bd_psnr, bd_rate
from entropykit_shared.testing import assert_bad_input

# A realistic reference curve (bpp, PSNR dB) and a slightly better codec sampled at other rates.
RATE_REF = [0.125, 0.25, 0.45, 0.78, 1.20]
PSNR_REF = [28.9, 31.2, 33.5, 35.8, 37.6]
RATE_TEST = [0.10, 0.21, 0.40, 0.70, 1.05]
PSNR_TEST = [29.1, 31.6, 33.9, 36.1, 37.9]


@pytest.mark.parametrize("method", BD_METHODS)
def test_rates_times_point_eight_is_minus_twenty_percent(method):
    test_rates = [0.8 * r for r in RATE_REF]
    assert bd_rate(RATE_REF, PSNR_REF, test_rates, PSNR_REF, method=method) == pytest.approx(
        -20.0, abs=1e-9
    )
    # and the reference needs 25 % more bits than the test
    assert bd_rate(test_rates, PSNR_REF, RATE_REF, PSNR_REF, method=method) == pytest.approx(
        25.0, abs=1e-9
    )


@pytest.mark.parametrize("method", BD_METHODS)
def test_psnr_shift_of_half_a_db_is_bd_psnr_half_a_db(method):
    shifted = [p + 0.5 for p in PSNR_REF]
    assert bd_psnr(RATE_REF, PSNR_REF, RATE_REF, shifted, method=method) == pytest.approx(
        0.5, abs=1e-9
    )
    assert bd_psnr(RATE_REF, shifted, RATE_REF, PSNR_REF, method=method) == pytest.approx(
        -0.5, abs=1e-9
    )


@pytest.mark.parametrize("method", BD_METHODS)
def test_identical_curves_give_zero(method):
    assert bd_rate(RATE_REF, PSNR_REF, RATE_REF, PSNR_REF, method=method) == pytest.approx(
        0.0, abs=1e-12
    )
    assert bd_psnr(RATE_REF, PSNR_REF, RATE_REF, PSNR_REF, method=method) == pytest.approx(
        0.0, abs=1e-12
    )


@pytest.mark.parametrize("method", BD_METHODS)
def test_swapping_reference_and_test_inverts_the_rate_ratio(method):
    a = bd_rate(RATE_REF, PSNR_REF, RATE_TEST, PSNR_TEST, method=method) / 100
    b = bd_rate(RATE_TEST, PSNR_TEST, RATE_REF, PSNR_REF, method=method) / 100
    assert a < 0  # the test codec is better
    assert (1 + a) * (1 + b) == pytest.approx(1.0, abs=1e-12)
    d = bd_psnr(RATE_REF, PSNR_REF, RATE_TEST, PSNR_TEST, method=method)
    assert d > 0
    assert bd_psnr(RATE_TEST, PSNR_TEST, RATE_REF, PSNR_REF, method=method) == pytest.approx(
        -d, abs=1e-12
    )


def test_hand_computed_cubic_case():
    # log10(rate) is exactly a polynomial of degree <= 3 in PSNR on both curves, so the 4-point
    # cubic fit is exact and the BD integral has a closed form:
    #   ref:  y(x) = 0.1 x - 3                    sampled at x = 30, 32, 34, 36
    #   test: y(x) = 0.1 x - 3 + d(x),  d(x) = -0.002 (x-33)^2 + 0.0005 (x-33)^3,
    #         sampled at x = 31, 33, 35, 37
    # overlap [31, 36]: ∫ (x-33)^2 = (27 + 8)/3 = 35/3,  ∫ (x-33)^3 = (81 - 16)/4 = 65/4
    psnr_ref = np.array([30.0, 32.0, 34.0, 36.0])
    psnr_test = np.array([31.0, 33.0, 35.0, 37.0])
    rate_ref = 10 ** (0.1 * psnr_ref - 3)
    u = psnr_test - 33
    rate_test = 10 ** (0.1 * psnr_test - 3 - 0.002 * u**2 + 0.0005 * u**3)
    mean_log_gap = (-0.002 * 35 / 3 + 0.0005 * 65 / 4) / (36 - 31)
    expected = (10**mean_log_gap - 1) * 100  # ≈ -0.6979 %
    assert bd_rate(rate_ref, psnr_ref, rate_test, psnr_test, method="cubic") == pytest.approx(
        expected, abs=1e-9
    )
    # pchip does not reproduce cubics exactly: close to, but not equal to, the polynomial answer
    pchip = bd_rate(rate_ref, psnr_ref, rate_test, psnr_test, method="pchip")
    assert pchip == pytest.approx(expected, abs=0.1)
    assert abs(pchip - expected) > 1e-6


def test_point_order_and_input_types_do_not_matter():
    expected = bd_rate(RATE_REF, PSNR_REF, RATE_TEST, PSNR_TEST)
    perm = [3, 0, 4, 2, 1]
    shuffled = bd_rate(
        np.asarray(RATE_REF)[perm],
        np.asarray(PSNR_REF)[perm],
        tuple(RATE_TEST[::-1]),
        np.asarray(PSNR_TEST[::-1]),
    )
    assert isinstance(shuffled, float)
    assert shuffled == pytest.approx(expected, abs=1e-12)
    # the rate unit cancels: bits instead of bpp
    pixels = 768 * 512
    bits_ref = [r * pixels for r in RATE_REF]
    bits_test = [r * pixels for r in RATE_TEST]
    in_bits = bd_rate(bits_ref, PSNR_REF, bits_test, PSNR_TEST)
    assert in_bits == pytest.approx(expected, abs=1e-9)


def test_curves_may_have_different_numbers_of_points():
    value = bd_rate(RATE_REF, PSNR_REF, RATE_TEST[:4], PSNR_TEST[:4], method="cubic")
    assert math.isfinite(value)
    assert value < 0


def test_exported_from_the_package_root():
    assert entropykit_shared.bd_rate is bd_rate
    assert entropykit_shared.bd_psnr is bd_psnr
    assert entropykit_shared.BD_METHODS == ("pchip", "cubic")


@pytest.mark.parametrize("method", BD_METHODS)
@pytest.mark.parametrize("n_test", [5, 6])
def test_agrees_with_the_bjontegaard_package(method, n_test):
    bjontegaard = pytest.importorskip(
        "bjontegaard", reason="the optional BD oracle `bjontegaard` (workspace dev group) is absent"
    )
    rate_test, psnr_test = RATE_TEST, PSNR_TEST
    if n_test == 6:
        rate_test, psnr_test = [*RATE_TEST, 1.5], [*PSNR_TEST, 39.0]
    # the package expects sorted points and warns below 75 % overlap (not reached here)
    kw = {"method": method, "require_matching_points": False}
    ref_rate = bjontegaard.bd_rate(RATE_REF, PSNR_REF, rate_test, psnr_test, **kw)
    ref_psnr = bjontegaard.bd_psnr(RATE_REF, PSNR_REF, rate_test, psnr_test, **kw)
    assert bd_rate(RATE_REF, PSNR_REF, rate_test, psnr_test, method=method) == pytest.approx(
        ref_rate, rel=1e-9, abs=1e-12
    )
    assert bd_psnr(RATE_REF, PSNR_REF, rate_test, psnr_test, method=method) == pytest.approx(
        ref_psnr, rel=1e-9, abs=1e-12
    )


# ---------------------------------------------------------------- bad input
GOOD = (RATE_REF, PSNR_REF, RATE_TEST, PSNR_TEST)


@pytest.mark.parametrize("fn", [bd_rate, bd_psnr])
def test_too_few_points(fn):
    assert_bad_input(fn, RATE_REF[:3], PSNR_REF[:3], RATE_TEST, PSNR_TEST, match="at least 4")
    assert_bad_input(fn, RATE_REF, PSNR_REF, RATE_TEST[:3], PSNR_TEST[:3], match="test curve has 3")


@pytest.mark.parametrize("fn", [bd_rate, bd_psnr])
def test_no_overlap_is_an_error(fn):
    high_rates = [r * 100 for r in RATE_TEST]
    high_psnrs = [p + 20 for p in PSNR_TEST]
    assert_bad_input(fn, RATE_REF, PSNR_REF, high_rates, high_psnrs, match="extrapolation")
    assert_bad_input(fn, RATE_REF, PSNR_REF, high_rates, high_psnrs, match="do not overlap")


def test_touching_ranges_do_not_overlap():
    # the test curve starts at the reference's best quality: a zero-length interval
    psnr_test = [37.6, 38.0, 39.0, 40.0]
    assert_bad_input(bd_rate, RATE_REF, PSNR_REF, [2.0, 3.0, 4.0, 5.0], psnr_test, match="overlap")


@pytest.mark.parametrize("fn", [bd_rate, bd_psnr])
def test_non_monotone_curve(fn):
    psnr = [28.9, 31.2, 30.5, 35.8, 37.6]  # drops between 0.25 and 0.45 bpp
    err = assert_bad_input(fn, RATE_REF, psnr, RATE_TEST, PSNR_TEST, match="not monotone")
    assert "(0.25, 0.45)" in str(err)


@pytest.mark.parametrize("fn", [bd_rate, bd_psnr])
def test_repeated_values_are_named(fn):
    psnr = [28.9, 31.2, 31.2, 35.8, 37.6]
    assert_bad_input(fn, RATE_REF, psnr, RATE_TEST, PSNR_TEST, match=r"psnr_ref.*31\.2: \[1, 2\]")
    rate = [0.10, 0.21, 0.21, 0.70, 1.05]
    assert_bad_input(fn, *GOOD[:2], rate, PSNR_TEST, match=r"rate_test .*repeated.*0\.21")


@pytest.mark.parametrize("fn", [bd_rate, bd_psnr])
def test_nan_inf_and_nonpositive_rates(fn):
    psnr = [28.9, float("nan"), 33.5, 35.8, 37.6]
    assert_bad_input(fn, RATE_REF, psnr, RATE_TEST, PSNR_TEST, match=r"psnr_ref.*NaN.*\[1\]")
    rate = [0.10, 0.21, np.inf, 0.70, 1.05]
    assert_bad_input(fn, *GOOD[:2], rate, PSNR_TEST, match=r"rate_test.*infinite")
    rate = [0.0, 0.21, 0.40, 0.70, 1.05]
    assert_bad_input(fn, *GOOD[:2], rate, PSNR_TEST, match=r"rate_test must be > 0")
    rate = [-0.1, 0.21, 0.40, 0.70, 1.05]
    assert_bad_input(fn, *GOOD[:2], rate, PSNR_TEST, match=r"log10")


@pytest.mark.parametrize("fn", [bd_rate, bd_psnr])
def test_shapes_and_lengths(fn):
    assert_bad_input(fn, RATE_REF, PSNR_REF[:4], RATE_TEST, PSNR_TEST, match="5 points but")
    assert_bad_input(fn, np.ones((2, 4)), np.ones((2, 4)), RATE_TEST, PSNR_TEST, match="1-D")


@pytest.mark.parametrize("fn", [bd_rate, bd_psnr])
def test_unknown_method(fn):
    assert_bad_input(fn, *GOOD, method="akima", match=r"unknown method 'akima'.*pchip.*cubic")
