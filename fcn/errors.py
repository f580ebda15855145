"""The exceptions the FCN library raises for problems a user can fix.

Command lines turn each into one line on stderr and exit status 2 (fcn.cli); the
message says what is wrong, which file, and what to do.
"""


class FCNError(Exception):
    """A problem with the user's input, files or set-up (not a bug in the toolkit)."""


class NetNotFound(FCNError):
    """No net of that name or folder."""


class RecordError(FCNError):
    """A net's record (models/<net>/record.json) is malformed."""


class MissingFile(FCNError):
    """A file a command needs (weights, a dataset split, an input) is not there."""


class InputError(FCNError):
    """An input (image, depth, HHA) that cannot be used, with the reason."""


class BackendError(FCNError):
    """A feature that the selected backend (FCN_BACKEND) does not have."""


class DownloadError(FCNError):
    """An item that cannot be downloaded: unknown name, network failure, checksum mismatch, bad archive."""
