"""Which axis of a third-order input holds the tubes of the t-product.

:class:`~sktensorflow.TubalFactorizer` fits ``X[:, :, :]`` with tubes along
axis 2 or axis 1 (axis 0 holds the samples either way). The t-product mixes
the entries of a tube through the Fourier transform, so the choice is a
modelling choice; ``tube_axis="auto"`` fits both orientations on the same
withheld entries and keeps the one whose held-out R² is larger. The helpers
here move arrays between the input's orientation and the t-product's
(``(n_samples, n_features, n_tubes)``) and pick the fit.
"""

import warnings

import numpy as np

from ._base import _outside_package_stacklevel

__all__ = ["candidate_axes", "from_tubes", "select_fit", "to_tubes"]


def candidate_axes(tube_axis, ndim, *, validated, symmetric):
    """Tube axes to try for ``tube_axis`` on ``ndim``-dimensional input.

    ``"auto"`` tries 2 and 1 when the choice can be validated (early stopping
    withholds entries) on third-order, non-symmetric input, and means 2
    otherwise.

    Examples
    --------
    >>> candidate_axes("auto", 3, validated=True, symmetric=False)
    (2, 1)
    >>> candidate_axes("auto", 2, validated=True, symmetric=False)
    (2,)
    """
    if tube_axis != "auto":
        if tube_axis == 1 and ndim == 2:
            raise ValueError(
                "tube_axis=1 needs third-order X of shape (n_samples, n_features, n_tubes); "
                "a 2-D X is a tensor with tubes of length 1 along axis 2."
            )
        return (tube_axis,)
    return (2, 1) if ndim == 3 and validated and not symmetric else (2,)


def to_tubes(array, axis):
    """``array`` (samples first) with the tubes of ``axis`` along the last axis.

    Its own inverse (:func:`from_tubes` is the same map).

    Examples
    --------
    >>> to_tubes(np.zeros((2, 3, 4)), 1).shape
    (2, 4, 3)
    """
    return array if axis == 2 else np.swapaxes(array, 1, 2)


from_tubes = to_tubes


def select_fit(fits):
    """The fit with the largest held-out R², replaying that fit's warnings only.

    Parameters
    ----------
    fits : list of (estimator, list of warnings.WarningMessage)
        Candidate fits and the warnings each raised.

    Returns
    -------
    estimator : the chosen candidate
    """
    if len(fits) == 1:
        best, caught = fits[0]
    else:
        best, caught = max(fits, key=lambda fit: _selection_score(fit[0]))
    for message in caught:
        warnings.warn(message.message, message.category, stacklevel=_outside_package_stacklevel())
    return best


def _selection_score(estimator):
    score = estimator.best_validation_score_
    return -np.inf if score is None or not np.isfinite(score) else score
