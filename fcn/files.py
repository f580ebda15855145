"""Files written whole: a reader (another rank, a viewer, the next run) sees the old file or all of
the new one, never part of it, and a failed write leaves nothing behind."""
import os


def write_whole(path, write):
    """Call write(tmp) for a temporary file of this process beside `path`, then rename it to `path`;
    the temporary file is removed when writing fails.  Returns path."""
    tmp = '%s.%d.tmp' % (path, os.getpid())
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path
