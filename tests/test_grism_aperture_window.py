"""The grism S/N aperture window (``grism_config._aperture_window``) against the plain
bounding box of the non-zero pixels: same centroid arithmetic, same slices."""
import numpy as np
import pytest

from mocksim.instruments.grism_config import _aperture_window, _true_span


def _plain_window(img, radius_px):
    nonzero = img != 0
    rows = np.flatnonzero(nonzero.any(axis=1))
    cols = np.flatnonzero(nonzero.any(axis=0))
    m = img[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
    tot = float(m.sum())
    yc = rows[0] + float(m.sum(axis=1) @ np.arange(m.shape[0])) / tot
    xc = cols[0] + float(m.sum(axis=0) @ np.arange(m.shape[1])) / tot
    reach = max(abs(rows[0] - yc), abs(rows[-1] - yc)) ** 2 + max(abs(cols[0] - xc), abs(cols[-1] - xc)) ** 2
    r = max(np.sqrt(reach), radius_px or 0.0) + 2.0
    ny, nx = img.shape
    return (slice(max(int(np.floor(yc - r)), 0), min(int(np.ceil(yc + r)) + 1, ny)),
            slice(max(int(np.floor(xc - r)), 0), min(int(np.ceil(xc + r)) + 1, nx)))


def test_true_span():
    assert _true_span(np.array([False, True, False, True, False])) == (1, 3)
    assert _true_span(np.array([True])) == (0, 0)
    assert _true_span(np.array([True, False, False, True])) == (0, 3)


@pytest.mark.parametrize("radius_px", [None, 3.0, 40.0])
def test_aperture_window_matches_the_bounding_box(radius_px):
    rng = np.random.default_rng(5)
    for _ in range(50):
        img = np.zeros((int(rng.integers(5, 40)), int(rng.integers(5, 200))))
        ny, nx = img.shape
        y0, x0 = int(rng.integers(0, ny)), int(rng.integers(0, nx))
        y1, x1 = int(rng.integers(y0, ny)) + 1, int(rng.integers(x0, nx)) + 1
        img[y0:y1, x0:x1] = rng.random((y1 - y0, x1 - x0)) * (rng.random((y1 - y0, x1 - x0)) < 0.3)
        img[y0, x0] = 1.0
        img[y0:y1, x0:x1] -= 1e-20 * (rng.random((y1 - y0, x1 - x0)) < 0.1)  # tiny FFT-like negatives
        assert _aperture_window(img, radius_px) == _plain_window(img, radius_px)


def test_aperture_window_is_none_without_positive_flux():
    """A beam whose [OIII] pixels sum to <= 0 has no window (the S/N aperture skips it)."""
    img = np.zeros((8, 30))
    img[3, 4], img[5, 20] = 1.0, -1.0
    assert _aperture_window(img, None) is None
    img[5, 20] = -2.0
    assert _aperture_window(img, 3.0) is None
    img[5, 20] = -0.5
    assert _aperture_window(img, None) == _plain_window(img, None)
