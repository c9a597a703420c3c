"""Deep Tucker loss on observed entries (``models.deep_tucker_observed``): gradients, backends."""

import warnings

import numpy as np
import pytest
from finite_differences import numeric_grad
from sklearn.exceptions import ConvergenceWarning
from test_deep_tucker_minibatch import _random_model

from sktensorflow import DeepTucker
from sktensorflow.datasets import make_low_multilinear_rank
from sktensorflow.models import deep_tucker_entries as dte
from sktensorflow.models import deep_tucker_observed as dto


@pytest.mark.parametrize(
    "form, dims, widths",
    [
        ("product", (4, 3, 5), (3, 3, 4)),
        ("column", (4, 3, 5), (4, 2, 3)),
        ("product", (3, 4), (2, 3)),
    ],
)
@pytest.mark.parametrize("depth", [1, 2])
def test_observed_gradient_matches_finite_differences(form, dims, widths, depth):
    params, rng = _random_model(form, dims, widths, depth, seed=depth)
    coords = tuple(np.sort(rng.randint(n, size=11)) for n in dims)
    values = rng.standard_normal(11)

    def f(q):
        return dto.observed_loss_and_grad(q, coords, values, 0.7, depth=depth, form=form)[0]

    loss, grads = dto.observed_loss_and_grad(params, coords, values, 0.7, depth=depth, form=form)
    for g, n in zip(grads, numeric_grad(f, params), strict=True):
        np.testing.assert_allclose(g, n, atol=1e-6 * max(1.0, np.abs(n).max()), rtol=1e-6)
    # the same loss as the batch model's, computed chunk by chunk
    ref_loss, ref_grads = dte.entries_loss_and_grad(
        params, coords, values, 0.7, depth=depth, form=form
    )
    assert loss == pytest.approx(ref_loss, rel=1e-12)
    for g, h in zip(grads, ref_grads, strict=True):
        np.testing.assert_allclose(g, h, rtol=1e-10, atol=1e-12)


def test_entries_fit_on_pytorch_equals_numpy():
    torch = pytest.importorskip("torch")
    X, _ = make_low_multilinear_rank((8, 7, 6), (2, 2, 2), observed_fraction=0.4, random_state=0)
    observed = ~np.isnan(X)
    indices, values = np.argwhere(observed), X[observed]
    fits = {}
    for backend in ("numpy", "pytorch"):
        est = DeepTucker(width=4, max_iter=60, tol=0.0, backend=backend, random_state=0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            fits[backend] = est.fit((indices, values, X.shape))
    assert isinstance(fits["pytorch"].core_, torch.Tensor)
    np.testing.assert_allclose(
        fits["pytorch"].core_.numpy(), fits["numpy"].core_, rtol=1e-8, atol=1e-10
    )
    np.testing.assert_allclose(fits["pytorch"].loss_curve_, fits["numpy"].loss_curve_, rtol=1e-9)
