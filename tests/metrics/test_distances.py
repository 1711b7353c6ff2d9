import numpy as np
import pytest
import scipy.linalg

from digan.metrics.distances import feature_statistics, frechet_distance, fvd, kvd, polynomial_kernel


def gaussians(seed, n=300, d=24, shift=0.0):
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((d, d)) / np.sqrt(d)
    return rng.standard_normal((n, d)) @ a + shift


def scipy_frechet(x, y):
    """Reference: np.cov (N - 1) and scipy.linalg.sqrtm of the product, as the TF-GAN formula reads."""
    mu1, mu2 = x.mean(0), y.mean(0)
    s1, s2 = np.cov(x, rowvar=False), np.cov(y, rowvar=False)
    covmean = scipy.linalg.sqrtm(s1 @ s2).real
    return np.sum((mu1 - mu2) ** 2) + np.trace(s1 + s2 - 2 * covmean)


def test_frechet_matches_scipy_reference():
    x, y = gaussians(0), gaussians(1, shift=0.3)
    ref = scipy_frechet(x, y)
    assert ref > 1.0
    assert fvd(x, y) == pytest.approx(ref, rel=1e-8)


def test_biased_covariance_divides_by_n():
    x = gaussians(2, n=50)
    _, unbiased = feature_statistics(x, unbiased=True)
    _, biased = feature_statistics(x, unbiased=False)
    np.testing.assert_allclose(unbiased, np.cov(x, rowvar=False), rtol=1e-12)
    np.testing.assert_allclose(biased * 50 / 49, unbiased, rtol=1e-12)
    assert fvd(x, gaussians(3, n=50)) != fvd(x, gaussians(3, n=50), unbiased=False)


def test_fvd_of_a_set_with_itself_is_zero_even_when_singular():
    x = gaussians(4)
    assert abs(fvd(x, x)) < 1e-8
    few = gaussians(5, n=10, d=40)  # N < D: singular covariance, as in quick FVD
    scale = np.trace(feature_statistics(few)[1])
    assert abs(fvd(few, few)) < 1e-6 * scale  # sqrt of ~30 zero eigenvalues carries ~1e-8 noise each
    assert fvd(few, gaussians(6, n=10, d=40)) > 0


def test_frechet_closed_form_for_known_gaussians():
    # Same covariance: the trace terms cancel and FVD is the squared mean distance.
    s = np.diag([1.0, 4.0, 9.0])
    assert frechet_distance(np.zeros(3), s, np.array([1.0, 2.0, 0.0]), s) == pytest.approx(5.0)
    # Diagonal covariances: sum (sqrt(a) - sqrt(b))^2.
    assert frechet_distance(np.zeros(2), np.diag([1.0, 4.0]), np.zeros(2), np.diag([4.0, 9.0])) == pytest.approx(2.0)


def test_kvd_is_symmetric_and_matches_a_loop():
    x, y = gaussians(7, n=12, d=5), gaussians(8, n=9, d=5, shift=0.5)
    assert kvd(x, y) == pytest.approx(kvd(y, x), rel=1e-12)
    k = lambda a, b: (a @ b / 5 + 1) ** 3  # noqa: E731
    xx = np.mean([k(x[i], x[j]) for i in range(12) for j in range(12) if i != j])
    yy = np.mean([k(y[i], y[j]) for i in range(9) for j in range(9) if i != j])
    xy = np.mean([k(a, b) for a in x for b in y])
    assert kvd(x, y) == pytest.approx(xx + yy - 2 * xy, rel=1e-10)
    assert polynomial_kernel(x, y).shape == (12, 9)


def test_kvd_is_unbiased():
    """Over many draws from one distribution the mean KVD is 0; the biased V-statistic would be clearly > 0."""
    rng = np.random.default_rng(9)
    unbiased, biased = [], []
    for _ in range(400):
        x, y = rng.standard_normal((8, 4)), rng.standard_normal((8, 4))
        unbiased.append(kvd(x, y))
        biased.append(
            polynomial_kernel(x, x).mean() + polynomial_kernel(y, y).mean() - 2 * polynomial_kernel(x, y).mean()
        )
    err = np.std(unbiased) / np.sqrt(len(unbiased))
    assert abs(np.mean(unbiased)) < 3 * err
    assert np.mean(biased) > 10 * err


def test_too_few_clips_is_an_error():
    with pytest.raises(ValueError, match="at least 2"):
        fvd(gaussians(0, n=1), gaussians(1))
    with pytest.raises(ValueError, match="at least 2"):
        kvd(gaussians(0, n=1), gaussians(1))
