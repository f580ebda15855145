"""Errors inside a layer turned into CaffeErrors that name the layer.

A computation error inside a built-in layer, or any exception from a user's
Python layer, becomes a CaffeError that says which layer failed, doing what.
"""
import contextlib

from .errors import CaffeError


def first_line(error):
    """The first line of an exception's message ('' when it has none)."""
    text = str(error).strip()
    return text.splitlines()[0] if text else ''


@contextlib.contextmanager
def builtin_errors(source, record, bottoms, doing):
    """Turn a computation error inside a built-in layer into a CaffeError naming it and its inputs."""
    try:
        yield
    except CaffeError:
        raise
    except (RuntimeError, ValueError, IndexError, TypeError, ZeroDivisionError, OverflowError) as e:
        shapes = ', '.join(str(b.shape) for b in bottoms) or 'none'
        detail = first_line(e) or type(e).__name__
        raise CaffeError('%s: cannot %s layer %r (%s) on bottom shapes %s: %s'
                         % (source, doing, record.name, record.type, shapes, detail)) from e


@contextlib.contextmanager
def python_errors(name, doing):
    """Any exception from a user's Python layer becomes a CaffeError naming the layer and the step."""
    try:
        yield
    except CaffeError:
        raise
    except Exception as e:
        raise CaffeError('Python layer %r failed in %s: %s: %s' % (name, doing, type(e).__name__, e)) from e

