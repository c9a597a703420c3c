"""Export of fitted models to tensorly objects: the logic behind ``to_tensorly``.

Every export is computed on the host and returned on the fit's backend, with
the dtype and device of the estimator's fitted arrays (a fit on torch tensors
gives torch tensors). By default the export is *compact*, at the rank
estimate; ``full=True`` exports the whole over-parametrized model.

- Symmetric CP (:class:`~sktensorflow.OverparamCP`,
  :class:`~sktensorflow.DeflationFlowCP`): compact is the ``CPTensor`` of the
  grouped components counted in ``rank_`` (``weights_``, ``components_``); full
  is the ``CPTensor`` of every raw column, ``s_i ||w_i||² wbar_i^{⊗order}``.
- Tucker (:class:`~sktensorflow.DeepTucker`): full is ``(core_, factors_)``;
  compact is the truncated higher-order SVD of the fitted tensor at
  ``multilinear_rank_``, from the small core ``G ×_k R_k`` (``U_k = Q_k R_k``)
  and the SVDs of its unfoldings: orthonormal factors and an all-orthogonal
  core. It is the orthogonal projection of the fitted tensor onto the leading
  singular subspaces of its unfoldings, so it reproduces the fitted tensor
  exactly when no unfolding has more than ``multilinear_rank_`` nonzero
  singular values, and within the dropped singular values otherwise.
- t-product (:class:`~sktensorflow.TubalFactorizer`): a
  :class:`~sktensorflow.tproduct.TSVDResult`, truncated at ``tubal_rank_`` or
  (full) at every singular tube of the fitted ``A * B^T``.

For figures of the exported components, see tensorly-viz
(https://tensorly.org/viz), which plots ``CPTensor`` factors.
"""

import numpy as np
import tensorly as tl

from . import _backend
from . import tproduct as tp
from ._base import check_is_fitted

__all__ = [
    "compact_tucker",
    "cp_to_tensorly",
    "tsvd_to_tensorly",
    "tucker_to_tensorly",
    "tucker_values",
]


def _on_fit_backend(array, like):
    """Host ``array`` in the namespace, dtype and device of the fitted array ``like``."""
    name = _backend.array_backend(like)
    if name in (None, "numpy"):
        return np.array(array, dtype=getattr(like, "dtype", np.float64))
    with _backend.backend_context(name):
        return tl.tensor(np.ascontiguousarray(array), **tl.context(like))


def _host(array):
    return np.asarray(_backend.to_numpy(array), dtype=np.float64)


def cp_to_tensorly(estimator, full=False):
    """The symmetric CP model of a fitted OverparamCP or DeflationFlowCP as a ``CPTensor``.

    Parameters
    ----------
    estimator : fitted OverparamCP or DeflationFlowCP
    full : bool, default=False
        ``False``: the ``rank_`` grouped components (``weights_``,
        ``components_``). ``True``: all ``width`` raw columns, each as a unit
        direction with weight ``column_weights_`` (zero columns get weight 0).

    Returns
    -------
    cp : tensorly.cp_tensor.CPTensor
        ``order`` equal factors of shape ``(n_features, rank)``.
    """
    check_is_fitted(estimator)
    like = estimator.components_
    if full:
        W = _host(estimator.columns_)
        norms = np.linalg.norm(W, axis=0)
        factor = W / np.where(norms > 0, norms, 1.0)
        weights = np.where(norms > 0, _host(estimator.column_weights_), 0.0)
    else:
        factor, weights = _host(estimator.components_).T, _host(estimator.weights_)
    factors = [_on_fit_backend(factor, like) for _ in range(estimator.order)]
    return tl.cp_tensor.CPTensor((_on_fit_backend(weights, like), factors))


def compact_tucker(core, factors, rank):
    """Truncated HOSVD of the Tucker tensor ``(core, factors)`` at multilinear ``rank``.

    Never forms the full tensor: each factor is reduced by a QR factorization
    ``U_k = Q_k R_k``, and the leading left singular vectors ``P_k`` of the
    unfoldings of the small core ``C = core ×_k R_k`` give the factors
    ``Q_k P_k`` and the core ``C ×_k P_k^T``.

    Parameters
    ----------
    core : ndarray of shape (w_0, w_1, ...)
    factors : list of ndarray of shape (n_k, w_k)
    rank : sequence of int
        Number of components kept per mode (at most ``min(n_k, w_k)``).

    Returns
    -------
    core : ndarray of shape ``rank``
    factors : list of ndarray of shape (n_k, rank[k])
        Orthonormal columns.

    Examples
    --------
    >>> import numpy as np
    >>> import tensorly as tl
    >>> rng = np.random.default_rng(0)
    >>> core = np.einsum("i,j,k->ijk", *rng.normal(size=(3, 4)))  # rank (1, 1, 1)
    >>> factors = [rng.normal(size=(n, 4)) for n in (5, 6, 7)]
    >>> small, small_factors = compact_tucker(core, factors, (1, 1, 1))
    >>> small.shape
    (1, 1, 1)
    >>> full = tl.tucker_to_tensor((core, factors))
    >>> bool(np.allclose(tl.tucker_to_tensor((small, small_factors)), full))
    True
    """
    with _backend.backend_context("numpy"):
        qrs = [np.linalg.qr(U) for U in factors]
        C = tl.tenalg.multi_mode_dot(core, [R for _, R in qrs])
        bases = []
        for mode, r in enumerate(rank):
            P = np.linalg.svd(tl.unfold(C, mode), full_matrices=False)[0]
            bases.append(P[:, : int(r)])
        small = tl.tenalg.multi_mode_dot(C, bases, transpose=True)
        return small, [Q @ P for (Q, _), P in zip(qrs, bases, strict=True)]


def tucker_values(core, factors):
    """The dense tensor ``core ×_0 U_0 ×_1 U_1 ⋯`` as a numpy array, from any backend."""
    with _backend.backend_context("numpy"):
        return tl.tucker_to_tensor((_host(core), [_host(U) for U in factors]))


def tucker_to_tensorly(estimator, full=False):
    """The fitted Tucker model of a DeepTucker as a ``TuckerTensor``.

    Parameters
    ----------
    estimator : fitted DeepTucker
    full : bool, default=False
        ``False``: the compact model at ``multilinear_rank_`` (core of that
        shape, orthonormal factors; see :func:`compact_tucker`; a rank of 0,
        after a fit to zero data, gives a zero core of shape ``(1, ..., 1)``,
        as tensorly has no empty Tucker tensor). ``True``:
        ``(core_, factors_)``, the core of shape ``widths_`` and the end-to-end
        factors.

    Returns
    -------
    tucker : tensorly.tucker_tensor.TuckerTensor
    """
    check_is_fitted(estimator)
    like = estimator.core_
    core = _host(estimator.core_)
    factors = [_host(U) for U in estimator.factors_]
    if not full:
        rank = estimator.multilinear_rank_
        core, factors = compact_tucker(core, factors, [max(r, 1) for r in rank])
        if min(rank) == 0:  # tensorly cannot unfold an empty core: a zero one instead
            core = np.zeros_like(core)
    return tl.tucker_tensor.TuckerTensor(
        (_on_fit_backend(core, like), [_on_fit_backend(U, like) for U in factors])
    )


def tsvd_to_tensorly(estimator, full=False):
    """The t-SVD of a fitted TubalFactorizer's ``A * B^T`` as a ``TSVDResult``.

    Parameters
    ----------
    estimator : fitted TubalFactorizer
    full : bool, default=False
        ``False``: truncated at ``tubal_rank_`` tubes. ``True``: every singular
        tube of the fitted model (``min(n_samples, n_features, width)``), which
        reproduces ``A * B^T`` exactly.

    Returns
    -------
    result : sktensorflow.tproduct.TSVDResult
        ``(U, S, V)`` in the t-product's orientation (tubes along the last
        axis; the input's ``tube_axis_`` moved there).
    """
    check_is_fitted(estimator)
    like = estimator.factors_[0]
    A, B = (_host(f) for f in estimator.factors_)
    with _backend.backend_context("numpy"):
        result = tp.t_svd_factorized(A, B, rank=None if full else estimator.tubal_rank_)
    return tp.TSVDResult(*(_on_fit_backend(a, like) for a in result))
