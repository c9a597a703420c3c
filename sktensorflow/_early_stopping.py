"""Validation-based early stopping for the completion estimators.

With a small initialization, the number of iterations is the rank selection:
iterating longer fits more components, and on data that are not exactly low
rank that means fitting noise. A share of the observed entries
(``validation_fraction``) is withheld from the fit; the loop evaluates the
held-out loss every ``VALIDATION_EVERY`` iterations, stops after
``n_iter_no_change`` checks without improvement and returns the best iterate
(:func:`sktensorflow._optim.minimize`).
"""

import warnings
from numbers import Integral, Real

import numpy as np
from sklearn.exceptions import ConvergenceWarning

from ._base import _outside_package_stacklevel
from ._sklearn_private import Interval

__all__ = [
    "EarlyStoppingMixin",
    "VALIDATION_EVERY",
    "heldout_total_sq",
    "missing_fibre_axes",
    "validation_attributes",
    "validation_split",
]

#: Iterations between two evaluations of the held-out loss (estimators may set
#: ``_validation_every``: a check that reuses the last gradient's model is cheap).
VALIDATION_EVERY = 10


def validation_split(observed, fraction, rng):
    """Entries withheld for validation: a random share of the observed ones.

    The withheld entries follow the structure of the missing ones, so that the
    validation error measures the task the fit faces: when every fibre along
    some non-sample axes is observed entirely or not at all (a photograph with
    whole pixels missing, all channels at once), whole fibres are withheld;
    otherwise single entries are.

    Parameters
    ----------
    observed : ndarray of bool
        ``True`` where an entry is observed; axis 0 is the sample axis.
    fraction : float
        Share of the observed entries (or fibres) to withhold, rounded, at least
        one and leaving at least one for the fit (none when fewer than two are
        observed).
    rng : numpy.random.RandomState

    Returns
    -------
    heldout : ndarray of bool, shaped like ``observed``

    Examples
    --------
    >>> import numpy as np
    >>> observed = np.ones((4, 5), dtype=bool)
    >>> heldout = validation_split(observed, 0.1, np.random.RandomState(0))
    >>> int(heldout.sum())
    2
    >>> pixels = np.random.RandomState(0).rand(6, 5, 1) < 0.5
    >>> photo = np.repeat(pixels, 3, axis=2)
    >>> heldout = validation_split(photo, 0.2, np.random.RandomState(0))
    >>> bool((heldout == heldout[:, :, :1]).all()), int(heldout.sum()) % 3
    (True, 0)
    """
    axes = missing_fibre_axes(observed)
    reduced = observed
    for axis in axes:
        reduced = np.take(reduced, [0], axis=axis)
    heldout = _random_share(reduced, fraction, rng)
    return np.broadcast_to(heldout, observed.shape) & observed


def missing_fibre_axes(observed):
    """Non-sample axes along which every fibre is observed entirely or not at all.

    Empty when nothing is missing or when the mask varies along no non-sample
    axis (whole samples missing: there is no structure within a sample to follow).

    Examples
    --------
    >>> import numpy as np
    >>> pixels = np.array([[True, False], [False, True]])[:, :, None]
    >>> missing_fibre_axes(np.repeat(pixels, 3, axis=2))
    (2,)
    """
    if observed.all() or observed.ndim < 2:
        return ()
    axes = tuple(
        axis
        for axis in range(1, observed.ndim)
        if (observed == np.take(observed, [0], axis=axis)).all()
    )
    return () if len(axes) == observed.ndim - 1 else axes


def _random_share(observed, fraction, rng):
    """A random share ``fraction`` of the ``True`` entries of ``observed``."""
    index = np.flatnonzero(observed)
    n_heldout = min(max(int(round(fraction * index.size)), 1), index.size - 1)
    heldout = np.zeros(observed.shape, dtype=bool)
    if n_heldout > 0:
        heldout.flat[rng.choice(index, n_heldout, replace=False)] = True
    return heldout


class EarlyStoppingMixin:
    """Parameters, loop options and fitted attributes of early stopping."""

    _early_stopping_constraints: dict = {
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left")],
    }

    def _heldout_entries(self, observed, rng):
        """Withheld entries (``None`` without early stopping); a warm start keeps its fit's."""
        if not self.early_stopping:
            return None
        fraction = self.validation_fraction
        heldout = self._warm_value("heldout", lambda: validation_split(observed, fraction, rng))
        return heldout if heldout.any() else None

    #: Relative improvement of the held-out loss that resets the patience.
    _validation_tol = 0.0

    def _validation_options(self, heldout):
        """Options of the loop's early stopping."""
        if heldout is None:
            return {}
        return {
            "n_iter_no_change": self.n_iter_no_change,
            "validation_every": getattr(self, "_validation_every", VALIDATION_EVERY),
            "validation_tol": self._validation_tol,
        }

    def _warn_useless_early_stop(self):
        """Warn when the kept iterate predicts the withheld entries no better than their mean."""
        score = self.best_validation_score_
        if self.stop_reason_ == "early_stopping" and score is not None and score <= 0:
            warnings.warn(
                f"{type(self).__name__} stopped early at iteration {self.best_iter_} with a "
                f"held-out R² of {score:.3g}: the kept model predicts the withheld entries no "
                "better than their mean; increase n_iter_no_change or set early_stopping=False.",
                ConvergenceWarning,
                stacklevel=_outside_package_stacklevel(),
            )

    def _set_validation(self, result, total_sq):
        """``validation_scores_`` (held-out R²), ``best_validation_score_``, ``best_iter_``.

        ``total_sq`` is the held-out entries' sum of squared deviations from
        their mean, in the units of the problem's held-out loss.
        """
        vars(self).update(validation_attributes(result, total_sq))


def validation_attributes(result, total_sq):
    """The early-stopping attributes of a loop's ``result`` (all ``None`` without checks).

    ``validation_scores_`` is the held-out R² ``1 - 2 loss / total_sq`` at each
    check (``validation_iter_``), ``best_validation_score_`` and ``best_iter_``
    those of the iterate kept.
    """
    if not result.validation_loss:
        names = ("validation_scores_", "validation_iter_", "best_validation_score_", "best_iter_")
        return dict.fromkeys(names)
    losses = np.asarray(result.validation_loss)
    scores = 1.0 - 2.0 * losses / total_sq if total_sq > 0 else 0.0 * losses
    iters = np.asarray(result.validation_iter, dtype=int)
    return {
        "validation_scores_": scores,
        "validation_iter_": iters,
        "best_validation_score_": float(scores[iters == result.best_iter][0]),
        "best_iter_": int(result.best_iter),
    }


def heldout_total_sq(values):
    """Sum of squared deviations from the mean (the R² denominator)."""
    values = np.asarray(values, dtype=float)
    return float(np.sum((values - values.mean()) ** 2)) if values.size else 0.0
