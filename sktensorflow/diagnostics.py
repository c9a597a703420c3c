"""Diagnostics of the tubal analyses: the signal/noise split of the factor and the phases.

The analysis of small-initialization gradient descent for tubal factorizations
(Karnik, Veselovska, Iwen and Krahmer, ICML 2025, after Stöger and
Soltanolkotabi's matrix analysis) follows, in every Fourier slice ``f``, the
factor ``U_f`` (``n x width``) against the truth's leading left singular
vectors ``V_f`` (``n x r``):

- the *signal* part ``U_f W_f``, with ``W_f`` the right singular vectors of
  ``V_f^H U_f`` (``width x r``); its size is ``sigma_min(V_f^H U_f)``;
- the *noise* part ``U_f W_{f,perp}`` (the rest of the factor), of norm
  ``||U_f (I - W_f W_f^H)||``;
- the *alignment* of the signal part: the sine of the largest principal angle
  between the column spaces of ``U_f W_f`` and ``V_f``.

The reported numbers are the worst slice's: the smallest signal, the largest
noise and angle (the t-product's spectral norm is the largest over Fourier
slices). A run goes through three phases: the factor stays small while its
signal part turns towards the truth (*alignment*), the signal grows
geometrically until it reaches the truth's scale (*fitting*), then the error
decreases linearly (*refinement*). :func:`phase_boundaries` locates them on a
record of the split (:class:`SignalNoiseRecorder`, a callback of the
estimators and of :func:`sktensorflow.sensing.fit_sensing`).

The diagnostics of the symmetric CP analyses (columns' norms against their
correlations with the truth, distances to the planted components) are in
:mod:`sktensorflow.diagnostics_cp`.
"""

import numpy as np
from sklearn.utils import Bunch
from sklearn.utils.validation import check_is_fitted

from . import _backend
from . import tproduct as tp
from .metrics import relative_error
from .sensing import principal_angle

__all__ = [
    "SignalNoiseRecorder",
    "phase_boundaries",
    "signal_noise_split",
    "tubal_signal_noise",
]


def _slices(X):
    with _backend.backend_context("numpy"):
        return tp.to_fourier(np.asarray(_backend.to_numpy(X), dtype=float))


def _truth_subspaces(truth, rank, side):
    """Leading ``rank`` left (``side="left"``) or right singular vectors of each slice."""
    Tf = _slices(truth)
    if side == "right":
        Tf = np.conj(np.swapaxes(Tf, 1, 2))
    elif side != "left":
        raise ValueError(f"side must be 'left' or 'right', got {side!r}.")
    U, s, _ = np.linalg.svd(Tf, full_matrices=False)
    if rank is None:
        rank = int(np.max(np.sum(s >= 1e-10 * s.max(), axis=1))) if s.size and s.max() > 0 else 0
    if not 1 <= rank <= min(Tf.shape[1:]):
        raise ValueError(f"rank must be in [1, {min(Tf.shape[1:])}], got {rank!r}.")
    return U[:, :, :rank], s[:, :rank]


def tubal_signal_noise(factor, truth, rank=None, *, side="left"):
    """Signal/noise split of a factor against the truth's leading tubal subspace.

    Parameters
    ----------
    factor : array of shape (n, width, k)
        ``U`` (or ``A``; ``B`` with ``side="right"``).
    truth : array of shape (n, n2, k) (``(n1, n, k)`` with ``side="right"``)
        The ground-truth tensor.
    rank : int, default=None
        Dimension of the truth's subspace (default: its tubal rank, singular
        values above ``1e-10`` times the largest).
    side : {"left", "right"}, default="left"
        Compare with the left (``A``, ``U``) or right (``B``) singular vectors.

    Returns
    -------
    split : Bunch
        ``sigma_min_signal`` (smallest over slices of ``sigma_r(V_f^H U_f)``),
        ``noise_norm`` (largest ``||U_f W_{f,perp}||``), ``angle`` (largest sine
        of the principal angle between ``U_f W_f`` and ``V_f``) and
        ``truth_sigma_min`` (the truth's smallest nonzero slice singular value,
        the scale ``sigma_min_signal**2`` reaches at a fit) and ``rank``.

    Examples
    --------
    >>> import numpy as np
    >>> from sktensorflow import tproduct as tp
    >>> V = tp.t_svd(np.random.default_rng(0).normal(size=(6, 2, 3)), rank=2).U
    >>> split = tubal_signal_noise(V, tp.t_product(V, tp.t_transpose(V)))
    >>> round(split.sigma_min_signal, 6), split.noise_norm < 1e-12, split.angle < 1e-6
    (1.0, True, True)
    """
    V, s = _truth_subspaces(truth, rank, side)
    Uf = _slices(factor)
    S = np.conj(np.swapaxes(V, 1, 2)) @ Uf  # (F, r, width)
    _, sv, Wh = np.linalg.svd(S, full_matrices=False)
    r = V.shape[2]
    W = np.conj(np.swapaxes(Wh[:, :r, :], 1, 2))  # (F, width, r)
    signal = Uf @ W
    noise = Uf - signal @ np.conj(np.swapaxes(W, 1, 2))
    Q, _ = np.linalg.qr(signal)
    outside = Q - V @ (np.conj(np.swapaxes(V, 1, 2)) @ Q)
    return Bunch(
        sigma_min_signal=float(np.min(sv[:, r - 1])),
        noise_norm=float(np.max(np.linalg.norm(noise, ord=2, axis=(1, 2)))),
        angle=float(np.max(np.linalg.norm(outside, ord=2, axis=(1, 2)))),
        truth_sigma_min=float(np.min(s[:, r - 1])),
        rank=r,
    )


def _estimator_truth(estimator, truth):
    """The truth in the orientation of ``estimator.factors_`` (tubes last)."""
    truth = np.asarray(_backend.to_numpy(truth), dtype=float)
    if truth.ndim == 2:
        truth = truth[:, :, None]
    if getattr(estimator, "tube_axis_", 2) == 1:
        truth = np.swapaxes(truth, 1, 2)
    return truth


def signal_noise_split(estimator, truth, rank=None, *, factor=0):
    """:func:`tubal_signal_noise` of a fitted estimator's factor.

    Parameters
    ----------
    estimator : TubalFactorizer or TubalSensing
        Fitted.
    truth : array
        The ground truth, shaped like the estimator's data (``X`` for
        :class:`~sktensorflow.TubalFactorizer`, ``shape_`` for
        :class:`~sktensorflow.TubalSensing`).
    rank : int, default=None
        The truth's tubal rank (default: computed from ``truth``).
    factor : {0, 1}, default=0
        ``factors_[0]`` (``A`` or ``U``) against the truth's left singular
        tubes, or ``factors_[1]`` (``B``) against its right ones.

    Returns
    -------
    split : Bunch
        As :func:`tubal_signal_noise`.

    Examples
    --------
    >>> from sktensorflow import TubalSensing
    >>> from sktensorflow.datasets import make_tubal_sensing
    >>> X, y, truth = make_tubal_sensing((5, 5, 2), 1, 80, random_state=0)
    >>> est = TubalSensing(4, shape=(5, 5, 2), symmetric=True, random_state=0).fit(X, y)
    >>> split = signal_noise_split(est, truth.tensor)
    >>> bool(split.noise_norm < 0.05 * split.sigma_min_signal), round(split.sigma_min_signal, 3)
    (True, 1.0)
    """
    check_is_fitted(estimator, "factors_")
    if factor not in (0, 1):
        raise ValueError(f"factor must be 0 or 1, got {factor!r}.")
    side = "left" if factor == 0 else "right"
    U = _backend.to_numpy(estimator.factors_[factor])
    return tubal_signal_noise(U, _estimator_truth(estimator, truth), rank, side=side)


class SignalNoiseRecorder:
    """A callback that records the signal/noise split (and the errors) along a fit.

    Pass it as ``callback`` to :class:`~sktensorflow.TubalSensing`,
    :class:`~sktensorflow.TubalFactorizer` (in the fit's tube orientation: give
    the truth with the tubes last) or :func:`sktensorflow.sensing.fit_sensing`;
    it never stops the fit.

    Parameters
    ----------
    truth : array of shape (n1, n2, k)
    rank : int, default=None
    every : int, default=10
        Iterations between records (the start is not seen by callbacks).
    factor : {0, 1}, default=0
        Which factor of ``params`` to split (``B`` against the right tubes).
    spectral : array of shape (n1, n2, k), default=None
        The spectral tensor (:func:`sktensorflow.sensing.spectral_tensor`): also
        record the angle between the factor's leading subspace and its.

    Attributes
    ----------
    iters : list of int
    sigma_min_signal, noise_norm, angle, test_error : list of float
    angle_spectral : list of float
        Empty without ``spectral``.
    truth_sigma_min : float

    Examples
    --------
    >>> from sktensorflow.datasets import make_tubal_sensing
    >>> from sktensorflow.sensing import fit_sensing
    >>> G, y, truth = make_tubal_sensing((5, 5, 2), 1, 80, random_state=0)
    >>> rec = SignalNoiseRecorder(truth.tensor, every=50)
    >>> _ = fit_sensing(G, y, truth.shape, width=4, init_scale=1e-4, learning_rate=2e-3,
    ...                 max_iter=500, callback=rec, random_state=0)
    >>> len(rec.iters), rec.iters[0], bool(rec.test_error[-1] < 1e-3)
    (10, 50, True)
    """

    def __init__(self, truth, rank=None, *, every=10, factor=0, spectral=None):
        self.truth = np.asarray(truth, dtype=float)
        self.rank, self.every, self.factor, self.spectral = rank, int(every), factor, spectral
        self.iters, self.sigma_min_signal, self.noise_norm, self.angle = [], [], [], []
        self.test_error, self.angle_spectral = [], []
        self.truth_sigma_min = None

    def __call__(self, state):
        if state.n_iter % self.every:
            return False
        side = "left" if self.factor == 0 else "right"
        params = [_backend.to_numpy(p) for p in state.params]
        split = tubal_signal_noise(params[self.factor], self.truth, self.rank, side=side)
        self.iters.append(int(state.n_iter))
        self.sigma_min_signal.append(split.sigma_min_signal)
        self.noise_norm.append(split.noise_norm)
        self.angle.append(split.angle)
        self.truth_sigma_min = split.truth_sigma_min
        with _backend.backend_context("numpy"):
            X = tp.t_product(params[0], tp.t_transpose(params[-1]))
        self.test_error.append(relative_error(X, self.truth))
        if self.spectral is not None:
            rank = split.rank
            self.angle_spectral.append(principal_angle(params[self.factor], self.spectral, rank))
        return False


def phase_boundaries(record, *, fit_fraction=0.5, start_drop=0.01):
    """Phase boundaries in a record of the signal/noise split (:class:`SignalNoiseRecorder`).

    Parameters
    ----------
    record : SignalNoiseRecorder or mapping
        With ``iters``, ``sigma_min_signal``, ``test_error`` and
        ``truth_sigma_min`` (and ``angle_spectral``, possibly empty).
    fit_fraction : float, default=0.5
        The fitting phase ends when ``sigma_min_signal**2`` first reaches
        ``fit_fraction * truth_sigma_min`` (the weakest component of the truth
        is fitted to that fraction).
    start_drop : float, default=0.01
        The alignment phase ends when the relative test error first falls below
        ``1 - start_drop``: up to there the iterate is too small to fit
        anything and gradient descent acts as a power method on the spectral
        tensor.

    Returns
    -------
    phases : Bunch
        ``alignment_end`` and ``fitting_end`` (recorded iterations, ``None`` when
        the record does not reach them); ``min_angle_spectral`` and
        ``min_angle_spectral_iter``, the smallest angle to the spectral subspace
        up to ``fitting_end`` and its iteration (``None`` without it).

    Examples
    --------
    >>> record = dict(iters=[10, 20, 30], sigma_min_signal=[1e-4, 1e-2, 0.9],
    ...               test_error=[1.0, 0.95, 0.1], truth_sigma_min=1.0,
    ...               angle_spectral=[0.5, 0.01, 0.2])
    >>> p = phase_boundaries(record)
    >>> p.alignment_end, p.fitting_end, p.min_angle_spectral_iter
    (20, 30, 20)
    """
    get = record.get if isinstance(record, dict) else lambda name: getattr(record, name)
    iters = np.asarray(get("iters"), dtype=int)
    signal = np.asarray(get("sigma_min_signal"), dtype=float)
    started = np.flatnonzero(np.asarray(get("test_error")) < 1 - start_drop)
    fitted = np.flatnonzero(signal**2 >= fit_fraction * float(get("truth_sigma_min")))
    end = int(fitted[0]) if fitted.size else len(iters) - 1
    angle = np.asarray(get("angle_spectral"), dtype=float)[: end + 1]
    best = int(np.argmin(angle)) if angle.size else None
    return Bunch(
        alignment_end=int(iters[started[0]]) if started.size else None,
        fitting_end=int(iters[fitted[0]]) if fitted.size else None,
        min_angle_spectral=None if best is None else float(angle[best]),
        min_angle_spectral_iter=None if best is None else int(iters[best]),
    )
