"""Argument checks shared by the loss heads: each error names the argument and the fix."""

import math
import numbers


def check_int(name, value, minimum):
    """Return ``value`` as an int, or raise ``ValueError`` if it is not an integer >= minimum."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{name} must be an integer >= {minimum}; got {value!r}.")
    if value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}; got {value}.")
    return int(value)


def check_real(name, value, *, minimum=None, strict=False, maximum=None):
    """Return ``value`` as a float, or raise ``ValueError`` naming ``name``.

    ``minimum`` is inclusive unless ``strict``; ``maximum`` is inclusive.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a real number; got {value!r}.")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite; got {value}.")
    if minimum is not None:
        too_small = value <= minimum if strict else value < minimum
        if too_small:
            relation = ">" if strict else ">="
            raise ValueError(f"{name} must be {relation} {minimum}; got {value}.")
    if maximum is not None and value > maximum:
        raise ValueError(f"{name} must be <= {maximum}; got {value}.")
    return value


def check_choice(name, value, choices):
    """Return ``value`` if it is one of ``choices``, else raise ``ValueError`` listing them."""
    if value not in choices:
        listed = ", ".join(repr(c) for c in choices)
        raise ValueError(f"{name} must be one of {listed}; got {value!r}.")
    return value
