"""Escapes of the loop: saddle points at a ``tol`` stop, plateaus at an early stop.

From a small start, both stopping rules can fire before a weak component has
grown: ``tol`` because a small column's growth does not register against its
factor's size, early stopping because its patience runs out on the plateau. The
problem's ``escape(params, grads)`` says whether the residual still has a
direction the model would count, and returns re-seeded parameters if so.
"""

__all__ = ["ESCAPE_PROGRESS", "escape_plateau", "escape_saddle"]

#: After a saddle escape the ``tol`` test waits until the loss has dropped by this
#: share: the re-seeded column starts small, so it grows unseen by the test.
ESCAPE_PROGRESS = 1e-2


def escape_saddle(run, max_escapes):
    """At a ``tol`` point: ``"tol"`` if it is a genuine end, ``"saddle"`` past the
    escape budget, else ``None`` after restarting from the re-seeded parameters."""
    if run.problem.escape is None:
        return "tol"
    new = run.problem.escape(run.params, run.grads)
    if new is None:
        return "tol"
    if run.n_escapes >= max_escapes:
        return "saddle"
    _restart(run, new)
    run.escape_loss = run.loss
    return None


def escape_plateau(run, validation, max_escapes):
    """At an early stop: ``None`` after restarting from the re-seeded best iterate.

    Only while the residual at the best iterate has a direction the model would
    count, the last such restart improved the held-out loss and the escape
    budget lasts; else ``"early_stopping"`` (the best iterate is returned).
    """
    if run.problem.escape is None or run.n_escapes >= max_escapes:
        return "early_stopping"
    if run.plateau_iter is not None and validation.best_iter <= run.plateau_iter:
        return "early_stopping"  # the last restart did not help: overfitting, not a plateau
    new = run.problem.escape(validation.best_params, None)
    if new is None:
        return "early_stopping"
    _restart(run, new)
    run.plateau_iter = run.n_iter
    validation.wait()
    return None


def _restart(run, params):
    run.recorder(run.params, run.n_iter, run.time, force=True)
    run.restart(params)
    run.n_escapes += 1
