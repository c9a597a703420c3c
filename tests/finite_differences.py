"""Central finite differences, the reference for every analytic gradient in ``models/``."""

import numpy as np


def numeric_grad(f, params, eps=1e-6):
    """Gradient of the scalar ``f(params)`` with respect to each array of the tuple ``params``.

    Each entry is perturbed by ``±eps`` in turn; returns a list shaped like ``params``.
    """
    params = tuple(params)
    grads = []
    for i, p in enumerate(params):
        g = np.zeros_like(p)
        for idx in np.ndindex(p.shape):
            shifted = []
            for sign in (1, -1):
                q = p.copy()
                q[idx] += sign * eps
                shifted.append(f(params[:i] + (q,) + params[i + 1 :]))
            g[idx] = (shifted[0] - shifted[1]) / (2 * eps)
        grads.append(g)
    return grads
