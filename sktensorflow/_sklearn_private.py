"""The only module that imports scikit-learn's private helpers.

Every other module imports them from here, so a change in scikit-learn's
private API is absorbed in one place.
"""

from sklearn.utils._param_validation import (
    Interval,
    InvalidParameterError,
    Options,
    StrOptions,
    validate_parameter_constraints,
)

__all__ = [
    "Interval",
    "InvalidParameterError",
    "Options",
    "StrOptions",
    "validate_parameter_constraints",
]
