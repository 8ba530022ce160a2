"""The batched helpers of the grism line fits give each fit exactly the numbers of its own call.

:func:`~mocksim.recovery.grism_rows._bordered_solve_many` against one
:func:`~mocksim.recovery.grism_rows._bordered_solve` per system,
:func:`~mocksim.recovery.grism_rows._median_positive_many` against
:func:`~mocksim.recovery.grism_rows._median_positive`, and
:func:`~mocksim.recovery.grism_continuum.continuum_at_many` against one
:func:`~mocksim.recovery.grism_continuum.continuum_at` per observation (``np.array_equal``).
"""
import numpy as np
import pytest

from mocksim.recovery import grism_continuum as gcont
from mocksim.recovery import grism_rows as grows
from mocksim.recovery.grism_continuum import continuum_at, continuum_at_many


def _system(rng, nblk, kb, nb):
    """Per-block normal matrices of a bordered system, padded unknowns on an identity diagonal."""
    gram = np.zeros((nblk, kb + nb, kb + nb))
    for g in range(nblk):
        m = int(rng.integers(1, kb + 1))
        rows = rng.normal(size=(3 * kb, kb + nb))
        rows[:, m:kb] = 0.0
        gram[g] = rows.T @ rows
        gram[g, np.arange(m, kb), np.arange(m, kb)] = 1.0
    gram[0, kb:, kb:] += np.eye(nb)
    return gram


def test_bordered_solve_many_equals_one_by_one():
    rng = np.random.default_rng(1)
    for kb, nb, q in ((6, 2, 3), (10, 3, 1), (4, 1, 2)):
        sizes = [1, 4, 9, 13, 2]
        grams = [_system(rng, g, kb, nb) for g in sizes]
        rhs_a = [rng.normal(size=(g, kb, q)) for g in sizes]
        rhs_d = rng.normal(size=(len(sizes), nb, q))
        bounds = np.concatenate([[0], np.cumsum(sizes)])
        x_a, x_d, dinv = grows._bordered_solve_many(np.concatenate(grams), kb, np.concatenate(rhs_a), rhs_d, bounds)
        for k, (gm, ra) in enumerate(zip(grams, rhs_a)):
            ref = grows._bordered_solve(gm, kb, ra, rhs_d[k])
            blk = slice(bounds[k], bounds[k + 1])
            for got, want in ((x_a[blk], ref[0]), (x_d[k], ref[1]), (dinv[blk], ref[2])):
                assert np.array_equal(got, want)


def test_block_inverse_factors_falls_back_per_job():
    """A singular block: only its job is factored with jitter, the others as alone."""
    rng = np.random.default_rng(2)
    ok1, bad, ok2 = (_system(rng, 3, 5, 0) for _ in range(3))
    v = np.arange(1.0, 6.0)
    bad[1] = np.outer(v, v)
    bounds = np.array([0, 3, 6, 9])
    got = grows._block_inverse_factors(np.concatenate([ok1, bad, ok2]), bounds)
    for k, blocks in enumerate((ok1, bad, ok2)):
        assert np.array_equal(got[3 * k:3 * k + 3], grows._block_inverse_factors(blocks))


def test_lower_inverse_inplace_matches_lapack():
    """The batched in-place inverse of lower-triangular stacks, for every block size up
    to 40 (whole and partial doubling blocks) against LAPACK's ``dtrtri``."""
    from scipy.linalg import lapack

    rng = np.random.default_rng(4)
    for m in range(1, 41):
        for g in (1, 3):
            low = np.tril(rng.normal(size=(g, m, m))) + 4.0 * np.eye(m)
            got = grows._lower_inverse_inplace(low.copy())
            for k in range(g):
                want = lapack.dtrtri(low[k], lower=1)[0]
                np.testing.assert_allclose(got[k], want, rtol=1e-12, atol=1e-14)
                assert not np.triu(got[k], 1).any()


def test_median_positive_many():
    rng = np.random.default_rng(3)
    counts = [0, 1, 2, 7, 8, 30]
    vals = [rng.normal(size=c) for c in counts]
    got = grows._median_positive_many(np.concatenate(vals), np.repeat(np.arange(len(counts)), counts), len(counts))
    assert np.array_equal(got, [grows._median_positive(v) for v in vals])
    assert got[0] == 1.0


def _continuum_at_ref(fits, flat, n, n_disp):
    """The one-observation evaluation, beam by beam (the code continuum_at had before the batched one)."""
    r, x = np.divmod(flat, n_disp)
    b, r = np.divmod(r, n)
    out = np.zeros(flat.size)
    for beam, fit in enumerate(fits or ()):
        if fit is not None:
            sel = (b == beam).nonzero()[0]
            out[sel] = np.einsum("ua,ua->u", fit[0][r[sel]], fit[1][x[sel]])
    return out


@pytest.mark.parametrize("block", [None, 7, 1])
def test_continuum_at_many_equals_one_by_one(monkeypatch, block):
    """Also with the pixels' dot products in small blocks (7: a remainder; 1: single pixels)."""
    if block is not None:
        monkeypatch.setattr(gcont, "_AT_BLOCK", block)
    rng = np.random.default_rng(4)
    n, nd, nb = 6, 40, 2
    wct = rng.normal(size=(nd, n))
    fits = [[(rng.normal(size=(n, n)), wct), None], None, [(rng.normal(size=(n, n)), wct)] * nb]
    flats = [rng.choice(nb * n * nd, 50, replace=False) for _ in fits]
    got = continuum_at_many(fits, np.repeat(np.arange(len(fits)), 50), np.concatenate(flats), n, nd)
    for k, (f, flat) in enumerate(zip(fits, flats)):
        assert np.array_equal(got[50 * k:50 * (k + 1)], _continuum_at_ref(f, flat, n, nd))
        if f is not None:
            assert np.array_equal(continuum_at(f, flat, n, nd), _continuum_at_ref(f, flat, n, nd))
    # fits of different bands (wct): job by job
    other = [[(fits[0][0][0], rng.normal(size=(nd, n))), None]]
    got = continuum_at_many(fits + other, np.repeat(np.arange(4), 50), np.concatenate(flats + flats[:1]), n, nd)
    assert np.array_equal(got[150:], _continuum_at_ref(other[0], flats[0], n, nd))
    assert np.array_equal(got[:50], _continuum_at_ref(fits[0], flats[0], n, nd))


def test_lower_pairs_are_the_pairs_with_j_at_most_i():
    starts = np.array([0, 3, 4, 9])
    i, j = grows._pairs(starts, 11)
    il, jl = grows._pairs(starts, 11, lower=True)
    keep = j <= i
    assert np.array_equal(il, i[keep]) and np.array_equal(jl, j[keep])
    assert il.size == 6 + 1 + 15 + 3


def test_shifted_linear_matches_map_coordinates():
    """:func:`~mocksim.recovery.grism_solve._shifted_linear` against scipy's linear
    interpolation with edge extension, for shifts along one and both axes, and none."""
    from scipy import ndimage

    from mocksim.recovery.grism_solve import _shifted_linear

    rng = np.random.default_rng(6)
    imgs = rng.uniform(0.0, 1.0, (3, 9, 9))
    job = np.repeat(np.arange(3), 81)
    jj, ii = np.divmod(np.tile(np.arange(81), 3), 9)
    for ox, oy in ((0.0, 0.0), (-0.3, 0.0), (0.0, 0.45), (-0.49, -0.2), (1.7, -2.25)):
        got = _shifted_linear(imgs, job, jj, ii, ox, oy)
        for q in range(3):
            sel = job == q
            want = ndimage.map_coordinates(imgs[q], [jj[sel] + oy, ii[sel] + ox], order=1, mode="nearest")
            np.testing.assert_allclose(got[sel], want, rtol=1e-14, atol=1e-15)


def test_spd_inverse_many():
    """Inverses of stacked SPD matrices from their lower triangles; a singular one takes
    the jittered :func:`~mocksim.recovery.grism_rows._cholesky` alone."""
    rng = np.random.default_rng(9)
    a = rng.normal(size=(4, 3, 6))
    mats = a @ a.transpose(0, 2, 1) + np.eye(3)
    junk = np.tril(mats) + np.triu(rng.normal(size=mats.shape), 1)      # upper triangles not read
    np.testing.assert_allclose(grows._spd_inverse_many(junk), np.linalg.inv(mats), rtol=1e-12, atol=1e-14)
    sing = mats.copy()
    sing[2] = np.outer([1.0, 2.0, 3.0], [1.0, 2.0, 3.0])
    got = grows._spd_inverse_many(sing)
    np.testing.assert_allclose(got[[0, 1, 3]], np.linalg.inv(mats[[0, 1, 3]]), rtol=1e-12, atol=1e-14)
    assert np.isfinite(got[2]).all()


def test_spd_inverse_many_does_not_depend_on_a_singular_neighbour():
    """Each matrix's inverse is bit-identical to its own call when another matrix of the
    stack needs jitter (before, every matrix was refactored by another LAPACK path and
    ~15 % of these cases differed in the last bits)."""
    rng = np.random.default_rng(1)
    for _ in range(60):
        a = rng.standard_normal((3, 7, 10))
        mats = a @ a.transpose(0, 2, 1)
        v = rng.standard_normal((7, 2))
        mats[1] = v @ v.T                                   # rank 2: not positive definite
        got = grows._spd_inverse_many(mats)
        for k in range(3):
            assert np.array_equal(got[k:k + 1], grows._spd_inverse_many(mats[k:k + 1]))


def test_bordered_solve_of_separate_maps():
    """Block-diagonal row blocks (two maps that share no data pixel) factored map by map
    (``n_split``) give the solution of the whole blocks; the entries between the maps are
    not read."""
    rng = np.random.default_rng(10)
    m, nb, q, sizes = 5, 3, 2, [3, 1, 4]
    grams = []
    for g in sizes:
        gm = _system(rng, g, 2 * m, nb)
        gm[:, :m, m:2 * m] = gm[:, m:2 * m, :m] = 0.0
        grams.append(gm)
    gram = np.concatenate(grams)
    rhs_a = rng.normal(size=(gram.shape[0], 2 * m, q))
    rhs_d = rng.normal(size=(len(sizes), nb, q))
    bounds = np.concatenate([[0], np.cumsum(sizes)])
    whole = grows._bordered_solve_many(gram, 2 * m, rhs_a, rhs_d, bounds)
    junk = gram.copy()
    junk[:, m:2 * m, :m] = rng.normal(size=(gram.shape[0], m, m))      # not read
    split = grows._bordered_solve_many(junk, 2 * m, rhs_a, rhs_d, bounds, n_split=2)
    for a, b in zip(whole, split):
        np.testing.assert_allclose(b, a, rtol=1e-10, atol=1e-12)


def test_maps_apart():
    from mocksim.recovery.grism_solve import _maps_apart

    models = {"a": {"kind": "map", "parts": (("a", 1.0, 100.0),)},
              "b": {"kind": "map", "parts": (("b", 1.0, 150.0), ("c", 0.3, 120.0))},
              "t": {"kind": "template", "parts": (("t", 1.0, 101.0),)}}
    assert _maps_apart(models, 8)                 # 20 px apart > 8 + 2 x 4 + 2; the template does not count
    assert not _maps_apart(models, 12)
    assert _maps_apart({"a": models["a"], "t": models["t"]}, 32)
