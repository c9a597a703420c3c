"""Fold-in for the sample-axis estimators (``TubalFactorizer``, ``DeepTucker``).

Once fitted, these models describe every row of ``X`` (a slice along axis 0) as
a linear function of a few coefficients: ``vec(row) ≈ D @ z`` with a fixed
*design matrix* ``D`` built from the non-sample factors. Folding a new row in
is a least-squares solve for ``z`` over the row's observed entries, so
``transform``, ``inverse_transform``, ``complete`` and the hold-out ``score``
are row-separable and shared here.
"""

import numpy as np
from sklearn.base import TransformerMixin
from sklearn.metrics import r2_score
from sklearn.utils.validation import check_array

from . import _backend
from ._base import check_is_fitted

#: Share of each row's observed entries hidden by the fold-in ``score``.
HOLDOUT_EVERY = 5


class FoldInMixin(TransformerMixin):
    """``transform``/``inverse_transform``/``complete``/``score`` by fold-in.

    Deriving from scikit-learn's ``TransformerMixin`` makes its output wrapping
    (``set_output`` and ``sklearn.set_config(transform_output=...)``) wrap the
    ``transform`` defined here: scikit-learn wraps only the methods a class
    defines itself, when the class is created. The column names come from
    ``get_feature_names_out`` (``"<classname>0"``, ... for the
    ``_n_features_out`` coefficients the fit sets).

    Subclasses set, when fitted, ``feature_shape_`` (shape of one row) and
    ``_design`` (ndarray of shape ``(prod(feature_shape_), n_coefficients)``),
    call :meth:`_set_fold_in_prior` at the end of their fit, name the
    coefficient count in ``_coefficients_name`` for messages, and implement
    ``_fitted_values()``: the fitted model's tensor (host array) for
    :meth:`fit_complete`.
    """

    _coefficients_name = "n_components"

    def _set_fold_in_prior(self, X, observed):
        """Learn the fold-in's prior from the fit: coefficient covariance and noise.

        The training rows' coefficients (the fitted model's values projected on
        the design) give the prior covariance ``Σ`` of a row's coefficients, and
        the residual on the observed entries the noise variance ``σ²``.
        """
        n = X.shape[0]
        fitted = self._fitted_values().reshape(n, -1)
        Z = np.linalg.lstsq(self._design, fitted.T, rcond=None)[0].T if n else fitted[:, :0]
        observed = observed.reshape(n, -1)
        residual = (X.reshape(n, -1) - fitted)[observed]
        self._prior_sqrt = _psd_sqrt(Z.T @ Z / max(n, 1))
        self._noise_var = float(np.mean(residual**2)) if residual.size else 0.0

    def _fold_in(self, X):
        """Posterior mean of each row's coefficients given its observed entries.

        With the prior ``z ~ N(0, Σ)`` and noise variance ``σ²`` learned by the
        fit (:meth:`_set_fold_in_prior`), the coefficients are the ridge solution
        ``argmin ||D_o z - x_o||² + σ² z^T Σ^{-1} z`` (``D_o`` the design rows of
        the observed entries), as probabilistic PCA folds in a sample: a row with
        few observed entries is shrunk towards the prior instead of blowing up.
        """
        D, L = self._design, self._prior_sqrt
        flat = X.reshape(X.shape[0], -1)
        Z = np.zeros((flat.shape[0], D.shape[1]))
        if D.shape[1] == 0:
            return Z
        observed = ~np.isnan(flat)
        full = observed.all(axis=1)
        DL = D @ L
        if full.any():
            Z[full] = _ridge(DL, flat[full].T, self._noise_var).T @ L.T
        for i in np.flatnonzero(~full):
            obs = observed[i]
            if obs.any():
                Z[i] = L @ _ridge(DL[obs], flat[i, obs], self._noise_var)
        return Z

    def _reconstruct(self, Z):
        return (Z @ self._design.T).reshape((Z.shape[0], *self.feature_shape_))

    def _validate_rows(self, X):
        check_is_fitted(self)
        Xv = self._validate_input(X, reset=False, allow_nan=True, allow_nd=True)
        if Xv.shape[1:] != tuple(self.feature_shape_):
            raise ValueError(
                f"X has feature shape {Xv.shape[1:]}, but {type(self).__name__} was fitted "
                f"on feature shape {tuple(self.feature_shape_)}."
            )
        return Xv

    def transform(self, X):
        """Coefficients of each row on the fitted non-sample factors (fold-in).

        Each row's coefficients are the posterior mean given its observed
        entries, with the prior and the noise level learned by the fit (a ridge
        least-squares fit, see :meth:`complete`), independently of the other
        rows, so ``fit_transform(X)`` equals ``fit(X).transform(X)``.

        Parameters
        ----------
        X : array-like of shape ``(n_samples, *feature_shape_)``
            ``NaN`` for missing entries.

        Returns
        -------
        Z : ndarray of shape (n_samples, n_coefficients)
            The class docstring gives the number and layout of the coefficients.
            A DataFrame with the columns ``get_feature_names_out()`` when the
            output is set to ``"pandas"`` (``set_output`` or the global config).
        """
        Xv = self._validate_rows(X)
        return self._as_input_namespace(self._fold_in(Xv), X)

    def inverse_transform(self, X):
        """Rows predicted from their coefficients.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_coefficients)

        Returns
        -------
        X_original : ndarray of shape ``(n_samples, *feature_shape_)``
        """
        check_is_fitted(self)
        Z = check_array(
            _backend.to_numpy(X) if _backend.array_backend(X) else X,
            dtype=np.float64,
            ensure_min_features=0,
        )
        if Z.shape[1] != self._n_features_out:
            raise ValueError(
                f"X has {Z.shape[1]} columns, but inverse_transform expects "
                f"{self._coefficients_name} = {self._n_features_out}."
            )
        return self._as_input_namespace(self._reconstruct(Z), X)

    def complete(self, X):
        """Return ``X`` with its missing entries filled by the fold-in reconstruction.

        Each row is folded in on the fitted non-sample factors: its coefficients
        are the posterior mean ``argmin ||D_o z - x_o||² + σ² z^T Σ^{-1} z``
        over its observed entries ``x_o``, with the prior covariance ``Σ`` of
        the training rows' coefficients and the noise variance ``σ²`` of the
        training residual, as probabilistic PCA folds in a sample. A row with
        few observed entries is shrunk towards the prior rather than fitted
        exactly. For the rows the model was fitted on, :meth:`fit_complete`
        returns the fitted model's own values instead.

        Parameters
        ----------
        X : array-like of shape ``(n_samples, *feature_shape_)``, sparse.COO or tuple
            ``NaN`` for missing entries; or the observed entries alone, as a
            ``sparse.COO`` or a tuple ``(indices, values, shape)`` (see
            ``fit``), which are densified: the result materializes the tensor.

        Returns
        -------
        X_completed : ndarray shaped like ``X``
            Observed entries unchanged, missing ones from
            ``inverse_transform(transform(X))`` (a dense ndarray of ``shape``
            for observed-entries input).
        """
        Xv = self._validate_rows(X)
        filled = np.where(np.isnan(Xv), self._reconstruct(self._fold_in(Xv)), Xv)
        return self._as_input_namespace(filled, X)

    def fit_complete(self, X, y=None):
        """Fit to ``X`` and return it with its missing entries filled by the fitted model.

        The completion analogue of ``fit_transform``: the filled entries are the
        fitted model's values there, which is the completion the fit computed.
        :meth:`complete` instead folds each row in on the fitted non-sample
        factors, for rows the model was not fitted on.

        Parameters
        ----------
        X : array-like of shape ``(n_samples, *feature_shape_)``
            ``NaN`` for missing entries.
        y : Ignored

        Returns
        -------
        X_completed : ndarray shaped like ``X``
            Observed entries unchanged, missing ones from the fitted model.
        """
        self.fit(X, y)
        Xv = self._validate_rows(X)
        fitted = self._fitted_values().reshape(Xv.shape)
        return self._as_input_namespace(np.where(np.isnan(Xv), fitted, Xv), X)

    def score(self, X, y=None):
        """Fold-in R² on a deterministic hold-out share of each row's entries.

        Every fifth observed entry of each row is hidden, the row's
        coefficients are solved from the remaining entries with the fitted
        non-sample factors, and R² is computed on the hidden entries. Higher is
        better; at most 1.

        Parameters
        ----------
        X : array-like of shape ``(n_samples, *feature_shape_)``, sparse.COO or tuple
            Data with ``NaN`` for missing entries; or the observed entries
            alone, as a ``sparse.COO`` or a tuple ``(indices, values, shape)``
            (see ``fit``; densified, memory of the dense tensor).
        y : Ignored

        Returns
        -------
        score : float
        """
        X = self._validate_rows(X)
        hidden = holdout_mask(~np.isnan(X))
        X_hat = self._reconstruct(self._fold_in(np.where(hidden, np.nan, X)))
        return masked_r2(X, X_hat, hidden)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        return tags


def holdout_mask(observed, every=HOLDOUT_EVERY):
    """Deterministic hold-out entries of each row, for fold-in scoring.

    Within each row (axis 0), observed entries are counted in C order and every
    ``every``-th one (the 5th, 10th, ...) is held out, so the choice depends on
    the row alone: scoring is row-separable and independent of the sample order.

    Parameters
    ----------
    observed : ndarray of bool, shape (n_samples, ...)
        ``True`` where an entry is observed.
    every : int, default=5

    Returns
    -------
    hidden : ndarray of bool, same shape as ``observed``

    Examples
    --------
    >>> import numpy as np
    >>> holdout_mask(np.ones((2, 6), dtype=bool)).astype(int)
    array([[0, 0, 0, 0, 1, 0],
           [0, 0, 0, 0, 1, 0]])
    """
    flat = observed.reshape(observed.shape[0], -1)
    rank_in_row = np.cumsum(flat, axis=1)
    hidden = flat & (rank_in_row % every == 0)
    return hidden.reshape(observed.shape)


def masked_r2(truth, prediction, mask):
    """R² of ``prediction`` against ``truth`` on the entries where ``mask`` is set.

    Returns 0.0 when fewer than two entries are selected or they are constant
    (the prediction cannot be compared with a mean there). Both are divided by
    the same power of two first (R² does not change), so the sums of squares
    stay in range for data from 1e-200 to 1e200.

    Examples
    --------
    >>> import numpy as np
    >>> t = np.array([1.0, 2.0, 3.0]); m = np.ones(3, dtype=bool)
    >>> masked_r2(t, t, m)
    1.0
    """
    y, p = truth[mask], prediction[mask]
    if y.size < 2 or np.all(y == y[0]):
        return 0.0
    exp = int(np.frexp(np.max(np.abs(y)))[1])
    return float(r2_score(np.ldexp(y, -exp), np.ldexp(p, -exp)))


def _psd_sqrt(cov):
    """Symmetric square root of a positive semi-definite matrix."""
    values, vectors = np.linalg.eigh((cov + cov.T) / 2)
    return (vectors * np.sqrt(np.clip(values, 0.0, None))) @ vectors.T


def _ridge(M, y, alpha):
    """``argmin ||M w - y||² + alpha ||w||²`` (minimum-norm least squares if ``alpha = 0``)."""
    if alpha <= 0:
        return np.linalg.lstsq(M, y, rcond=None)[0]
    if M.shape[0] < M.shape[1]:  # fewer equations than unknowns: the dual is smaller
        gram = M @ M.T + alpha * np.eye(M.shape[0])
        return M.T @ np.linalg.solve(gram, y)
    return np.linalg.solve(M.T @ M + alpha * np.eye(M.shape[1]), M.T @ y)
