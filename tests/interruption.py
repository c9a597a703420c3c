"""A callback that interrupts a fit, for the tests of atomic refits."""


class Interrupt(Exception):
    """Raised by :func:`raise_at` to interrupt a fit."""


def raise_at(n_iter=1):
    """A callback raising :class:`Interrupt` at iteration ``n_iter``."""

    def callback(state):
        if state.n_iter >= n_iter:
            raise Interrupt

    return callback
