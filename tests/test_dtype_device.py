"""The ``dtype`` and ``device`` parameters (sktensorflow._precision).

- float32 fits agree with float64 fits of the same seed: the fitted tensor
  (CP reconstruction, completed entries, coefficients) within a relative 1e-3
  and the same rank estimate (measured on these problems: from 8e-8,
  DeepTucker, to 1.1e-6, DeflationFlowCP);
- with ``dtype="float32"`` the iterates the loop hands the callback, every
  fitted model attribute and every output are float32, on numpy and pytorch;
- with torch input, every torch tensor of the fitted estimator is on the
  computation's device, and no tensor is created from host data during a fit
  without being placed on that device (on a CPU-only machine the devices all
  agree anyway, so the second check watches the tensor factories instead);
- a float32 start below float32's normal range is refused, naming ``init_scale``;
- bad ``dtype`` and ``device`` values are errors naming the parameter.
"""

import functools
import sys

import numpy as np
import pytest
import tensorly as tl
from sklearn.utils._param_validation import InvalidParameterError

from sktensorflow import DeepTucker, DeflationFlowCP, OverparamCP, TubalFactorizer, TubalSensing
from sktensorflow.datasets import (
    make_low_multilinear_rank,
    make_symmetric_cp,
    make_tubal_low_rank,
    make_tubal_sensing,
)

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

#: float32 vs float64 fit of the same seed: relative difference of the fitted tensor.
FLOAT32_RTOL = 1e-3


@functools.cache
def _data(kind):
    if kind == "cp3":
        return (make_symmetric_cp(8, 3, order=3, dense=True, random_state=0)[0],)
    if kind == "cp4":
        return (make_symmetric_cp(6, 3, order=4, dense=True, random_state=0)[0],)
    if kind == "tubal":
        return (make_tubal_low_rank((10, 8, 4), 2, observed_fraction=0.7, random_state=0)[0],)
    if kind == "tucker":
        shape, ranks = (8, 7, 6), (2, 2, 2)
        return (make_low_multilinear_rank(shape, ranks, observed_fraction=0.7, random_state=0)[0],)
    G, y, _ = make_tubal_sensing((6, 6, 3), 2, 150, random_state=0)
    return G, y


CASES = {
    "OverparamCP": (OverparamCP, dict(width=12, tensor="precomputed"), "cp3"),
    "DeflationFlowCP": (DeflationFlowCP, dict(width=12, tensor="precomputed"), "cp4"),
    "TubalFactorizer": (TubalFactorizer, dict(width=4), "tubal"),
    "DeepTucker": (DeepTucker, {}, "tucker"),
    "TubalSensing": (TubalSensing, dict(width=8, shape=(6, 6, 3), symmetric=True), "sensing"),
}
NAMES = list(CASES)


def _estimator(name, **params):
    cls, defaults, _ = CASES[name]
    return cls(random_state=0, **defaults, **params)


def _fit(name, convert=np.asarray, **params):
    data = tuple(convert(a) for a in _data(CASES[name][2]))
    return _estimator(name, **params).fit(*data), data


def _host(a):
    return a.detach().cpu().numpy() if hasattr(a, "detach") else np.asarray(a)


def _fitted_tensor(name, est, data):
    """What the fit says about the data: a tensor to compare between dtypes."""
    if name in ("OverparamCP", "DeflationFlowCP"):
        return tl.cp_to_tensor(est.to_tensorly())
    if name == "TubalSensing":
        return est.coef_
    X = data[0]
    return est.complete(X)[np.isnan(X)]  # the model's values at the missing entries


def _rank(est):
    for name in ("rank_", "tubal_rank_", "multilinear_rank_"):
        if hasattr(est, name):
            return getattr(est, name)


@pytest.mark.parametrize("name", NAMES)
def test_float32_fit_agrees_with_float64(name):
    est64, data = _fit(name)
    est32, _ = _fit(name, dtype="float32")
    ref = _host(_fitted_tensor(name, est64, data)).astype(np.float64)
    got = _host(_fitted_tensor(name, est32, data)).astype(np.float64)
    assert np.linalg.norm(got - ref) <= FLOAT32_RTOL * np.linalg.norm(ref)
    assert _rank(est32) == _rank(est64)
    if hasattr(est64, "weights_"):
        np.testing.assert_allclose(est32.weights_, est64.weights_, rtol=FLOAT32_RTOL)


def _arrays(value):
    """The arrays in a fitted attribute (lists/tuples flattened)."""
    if isinstance(value, list | tuple):
        return [a for v in value for a in _arrays(v)]
    return [value] if hasattr(value, "dtype") else []


def _outputs(name, est, data):
    """Every array-valued public output of the fitted estimator."""
    if name == "TubalSensing":
        return [est.predict(data[0])]
    if name in ("OverparamCP", "DeflationFlowCP"):
        d = est.n_features_in_
        samples = np.random.default_rng(0).standard_normal((5, d))
        X = data[0].new_tensor(samples) if hasattr(data[0], "new_tensor") else samples
        Z = est.transform(X)
        return [Z, est.inverse_transform(Z), *_arrays(tuple(est.to_tensorly()))]
    X = data[0]
    Z = est.transform(X)
    return [Z, est.inverse_transform(Z), est.complete(X)]


def _dtype_name(a):
    return str(a.dtype).replace("torch.", "")


@pytest.mark.parametrize("backend", ["numpy", "pytorch"])
@pytest.mark.parametrize("name", NAMES)
def test_float32_iterates_attributes_and_outputs(name, backend):
    convert = np.asarray
    if backend == "pytorch":
        torch = pytest.importorskip("torch")
        convert = torch.tensor
    seen = set()

    def callback(state):
        seen.update(_dtype_name(p) for p in state.params)

    est, data = _fit(name, convert, dtype="float32", callback=callback)
    assert seen == {"float32"}
    attributes = [a for n in est._model_attributes for a in _arrays(getattr(est, n, None))]
    assert attributes and {_dtype_name(a) for a in attributes} == {"float32"}
    outputs = [a for out in _outputs(name, est, data) for a in _arrays(out)]
    assert {_dtype_name(a) for a in outputs} == {"float32"}
    library = "torch" if backend == "pytorch" else "numpy"
    assert {type(a).__module__.split(".")[0] for a in attributes + outputs} == {library}


def test_float32_survives_set_rank_tol_and_warm_start():
    seen = set()

    def callback(state):
        seen.update(_dtype_name(p) for p in state.params)

    est, (T,) = _fit("OverparamCP", dtype="float32", warm_start=True, max_iter=20)
    est.set_params(callback=callback).fit(T)  # continues from the float32 iterate
    assert seen == {"float32"}
    assert est.set_rank_tol(0.5).components_.dtype == np.float32


# -- devices ------------------------------------------------------------------------
_FACTORIES = ("tensor", "as_tensor", "zeros", "ones", "empty", "eye", "arange", "full")


def _record_creations(monkeypatch, torch):
    """Record tensors created from host data without a device during the block.

    ``tl.tensor`` on the pytorch backend without ``device`` and torch factory
    calls without ``device`` from the library or tensorly (except the one
    inside tensorly's ``tensor``, which the first covers) land on the default
    device whatever the computation's device is.
    """
    from tensorly.backend.pytorch_backend import PyTorchBackend

    misplaced = []
    original = PyTorchBackend.tensor

    def tensor(data, dtype=None, device=None, requires_grad=None):
        if device is None and not isinstance(data, torch.Tensor):
            misplaced.append(("tl.tensor", _caller_outside_tensorly()))
        return original(data, dtype=dtype, device=device, requires_grad=requires_grad)

    monkeypatch.setattr(PyTorchBackend, "tensor", staticmethod(tensor))
    for factory in _FACTORIES:
        monkeypatch.setattr(torch, factory, _watched(getattr(torch, factory), factory, misplaced))
    return misplaced


def _caller_outside_tensorly():
    frame = sys._getframe(2)
    while frame.f_globals.get("__name__", "").startswith("tensorly"):
        frame = frame.f_back
    return frame.f_globals.get("__name__")


def _watched(function, factory, misplaced):
    def watched(*args, **kwargs):
        caller = sys._getframe(1).f_globals.get("__name__", "")
        ours = caller.startswith(("sktensorflow", "tensorly"))
        if ours and caller != "tensorly.backend.pytorch_backend" and "device" not in kwargs:
            misplaced.append((factory, caller))
        return function(*args, **kwargs)

    return watched


@pytest.mark.parametrize("device", [None, "cpu"])
@pytest.mark.parametrize("name", NAMES)
def test_torch_tensors_stay_on_the_device(name, device, monkeypatch):
    torch = pytest.importorskip("torch")
    data = tuple(torch.tensor(a) for a in _data(CASES[name][2]))
    misplaced = _record_creations(monkeypatch, torch)
    est = _estimator(name, dtype="float32", device=device).fit(*data)
    outputs = _outputs(name, est, data)
    monkeypatch.undo()
    assert misplaced == []
    tensors = [a for v in vars(est).values() for a in _arrays(v) if isinstance(a, torch.Tensor)]
    tensors += [a for out in outputs for a in _arrays(out)]
    assert tensors and {a.device for a in tensors} == {torch.device("cpu")}


def test_creation_watch_sees_a_tensor_without_device(monkeypatch):
    """The watch of the previous test can fail: a bare ``tl.tensor`` is caught."""
    torch = pytest.importorskip("torch")
    misplaced = _record_creations(monkeypatch, torch)
    with tl.backend_context("pytorch"):
        tl.tensor(np.ones(2))
    monkeypatch.undo()
    assert misplaced == [("tl.tensor", __name__)]


# -- the float32 underflow guard and bad values ---------------------------------------
#: ``init_scale`` whose float32 start underflows; DeepTucker's entries (~1e-11) are
#: normal numbers, but its products of one entry per factor (core and 3 factors) are not.
TINY_INIT = {
    "OverparamCP": 1e-20,
    "DeflationFlowCP": 1e-20,
    "TubalFactorizer": 1e-20,
    "DeepTucker": 1e-10,
    "TubalSensing": 1e-20,
}


@pytest.mark.parametrize("name", NAMES)
def test_float32_underflow_guard_names_init_scale(name):
    scale = TINY_INIT[name]
    message = rf"init_scale={scale!r} is too small for dtype='float32'"
    with pytest.raises(ValueError, match=message):
        _fit(name, dtype="float32", init_scale=scale)


def test_underflow_guard_is_float32_only():
    """float64 keeps its range: the OverparamCP start refused in float32 fits the rank."""
    est, _ = _fit("OverparamCP", init_scale=TINY_INIT["OverparamCP"])
    assert est.rank_ == 3 and est.stop_reason_ == "tol"


@pytest.mark.parametrize("dtype", ["float16", "float", np.float32])
@pytest.mark.parametrize("name", NAMES)
def test_bad_dtype_is_an_error_naming_it(name, dtype):
    with pytest.raises(InvalidParameterError, match="'dtype' parameter"):
        _fit(name, dtype=dtype)


@pytest.mark.parametrize("name", NAMES)
def test_device_on_the_numpy_backend(name):
    with pytest.raises(ValueError, match=r"device='cuda:0' needs the pytorch backend"):
        _fit(name, device="cuda:0")
    est, _ = _fit(name, device="cpu", max_iter=5)  # the host is the numpy backend's device
    assert isinstance(est.n_iter_, int)


def test_unusable_torch_device_is_an_error_naming_it():
    torch = pytest.importorskip("torch")
    with pytest.raises(ValueError, match=r"device='bogus' is not a usable torch device"):
        _fit("TubalFactorizer", torch.tensor, device="bogus")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match=r"device='cuda:0' is not a usable torch device"):
            _fit("DeepTucker", torch.tensor, device="cuda:0")
    with pytest.raises(InvalidParameterError, match="'device' parameter"):
        _fit("OverparamCP", device=0)
