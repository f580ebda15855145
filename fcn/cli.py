"""The boundary every command line goes through.

    def main(argv=None):
        ap = cli.parser(__doc__)
        ...
    if __name__ == '__main__':
        sys.exit(cli.run(main))

A known error (fcn.errors.FCNError, the data layers' DataError/ParamError, an
unreadable file, the engine's CaffeError) ends the command with one line on
stderr, `<command>: error: <what>`, and exit status 2.  `--debug` or
FCN_DEBUG=1 shows the traceback instead.  Anything else is a bug and keeps its
traceback.
"""
import argparse
import logging
import os
import sys

from fcn.errors import BackendError, FCNError
from fcn.readers import DataError

EXIT_ERROR = 2
EXIT_INTERRUPTED = 130


class Parser(argparse.ArgumentParser):
    """argparse, whose refusal of an argument is one line (no usage block) and exit status 2."""

    def error(self, message):
        self.exit(EXIT_ERROR, '%s: error: %s (see --help)\n' % (self.prog, message))


def parser(doc, **kwargs):
    """A Parser described by the first paragraph of `doc`, with --debug."""
    ap = Parser(description=(doc or '').strip().split('\n\n')[0], **kwargs)
    ap.add_argument('--debug', action='store_true',
                    help='show the traceback of an error instead of its one-line summary (or FCN_DEBUG=1)')
    return ap


def log_to_stdout():
    """Show the engine's solver log (iterations, loss, lr, snapshots) on stdout, as Caffe's does; the
    engine itself configures no handler (a library leaves output to the application)."""
    logger = logging.getLogger('torchcaffe')
    if any(isinstance(h, logging.StreamHandler) for h in logger.handlers):
        return
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(logging.Formatter('%(asctime)s %(message)s', '%H:%M:%S'))
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False


def positive_int(text):
    """An argparse type: an integer > 0."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError('%r is not an integer' % text) from None
    if value <= 0:
        raise argparse.ArgumentTypeError('%s is not positive' % text)
    return value


def scale_list(text):
    """argparse type of --scales: comma-separated positive factors."""
    try:
        scales = tuple(float(t) for t in text.split(','))
    except ValueError:
        raise argparse.ArgumentTypeError('%r: give factors such as 0.5,1,1.5' % text) from None
    if not all(0 < s < 100 for s in scales):
        raise argparse.ArgumentTypeError('%r: every scale must be positive (and below 100)' % text)
    return scales


def add_tta_arguments(ap):
    """--tta and --scales, for infer.py and evaluate.py."""
    ap.add_argument('--tta', choices=['flip'], help='test-time augmentation: also segment the mirrored image '
                    'and average the softmax')
    ap.add_argument('--scales', type=scale_list, default=(1.0,), metavar='S,S,...',
                    help='average the softmax over the image scaled by each factor (e.g. 0.5,1,1.5)')


def device_id(text):
    """An argparse type: a CUDA device number (>= 0)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError('%r is not a device number' % text) from None
    if value < 0:
        raise argparse.ArgumentTypeError('%s is not a device number' % text)
    return value


def fast_mode():
    """Switch on torchcaffe's fast mode; BackendError naming the feature on another backend."""
    from backend import caffe, name
    if name != 'torchcaffe':
        raise BackendError('fast mode (--fast) is a torchcaffe feature; FCN_BACKEND=%s has no fast mode' % name)
    caffe.set_fast_mode()


def known_errors():
    """The exception types that mean a problem the user can fix."""
    known = [FCNError, OSError, MemoryError]
    known.append(DataError)
    layers = sys.modules.get('layers.common')
    if layers is not None:
        known.append(layers.ParamError)
    engine = sys.modules.get('torchcaffe')
    if engine is not None:
        known.append(engine.CaffeError)
    return tuple(known)


def summary(error):
    """One line for an error: its message's first line (or its type when it has none)."""
    if isinstance(error, OSError) and error.filename and error.strerror:
        return '%s: %s' % (error.filename, error.strerror)
    text = str(error).strip()
    if isinstance(error, KeyError) and text.startswith("'"):
        text = text.strip("'")
    return text.splitlines()[0] if text else type(error).__name__


def debugging(argv):
    return '--debug' in (sys.argv[1:] if argv is None else argv) or os.environ.get('FCN_DEBUG') == '1'


def run(main, argv=None, prog=None):
    """main(argv) inside the error boundary; returns the exit status."""
    prog = prog or os.path.basename(sys.argv[0] or 'fcn')
    try:
        return main(argv) or 0
    except KeyboardInterrupt:
        if debugging(argv):
            raise
        print('%s: interrupted' % prog, file=sys.stderr)
        return EXIT_INTERRUPTED
    except known_errors() as e:
        if debugging(argv):
            raise
        print('%s: error: %s' % (prog, summary(e)), file=sys.stderr)
        return getattr(e, 'exit_status', EXIT_ERROR)
