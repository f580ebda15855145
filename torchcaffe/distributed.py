"""Data-parallel training over torch.distributed, the way Caffe's multi-GPU solver splits work.

Every rank runs the whole net on its own shard of the data; before each update
the ranks sum their parameter diffs, so N ranks with iter_size k take the step
one process with iter_size N*k would take.  Rank 0 alone tests and snapshots.

Launch with torchrun, which sets RANK, WORLD_SIZE, LOCAL_RANK and the
rendezvous variables; `init_from_env()` joins the group (NCCL on GPUs, gloo on
CPUs).  Without torchrun everything here is a no-op for a world of one.
"""
import atexit
import os

import torch
import torch.distributed as dist

from . import mode


def launched():
    """True in a process that torchrun started as one of several ranks."""
    return int(os.environ.get('WORLD_SIZE', '1')) > 1


def init_from_env():
    """Join the process group torchrun describes (idempotent); returns (rank, world size).

    The group is left when the process exits: a gloo group still alive at interpreter shutdown can
    abort the process ("terminate called without an active exception") after its work is done.
    """
    if launched() and not dist.is_initialized():
        backend = 'nccl' if mode.device().type == 'cuda' else 'gloo'
        dist.init_process_group(backend)
        atexit.register(leave)
    return rank(), world_size()


def leave():
    """Leave the process group, if this process is in one."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def active():
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def rank():
    return dist.get_rank() if active() else 0


def world_size():
    return dist.get_world_size() if active() else 1


def _flat(tensors):
    return torch.cat([t.reshape(-1) for t in tensors])


def _unflatten_into(flat, tensors):
    offset = 0
    for t in tensors:
        n = t.numel()
        t.copy_(flat[offset:offset + n].view_as(t))
        offset += n


def sum_diffs(blobs):
    """Sum every rank's diffs of `blobs` in place (one bucket, one all-reduce)."""
    diffs = [b.diff_tensor for b in blobs]
    if not diffs:
        return
    flat = _flat(diffs)
    dist.all_reduce(flat, op=dist.ReduceOp.SUM)
    _unflatten_into(flat, diffs)


def broadcast_data(blobs, src=0):
    """Give every rank rank `src`'s values of `blobs` (weights at the start, after a restore)."""
    data = [b.tensor for b in blobs]
    if not data:
        return
    flat = _flat(data)
    dist.broadcast(flat, src)
    _unflatten_into(flat, data)


def mean(value):
    """The mean of a float over the ranks."""
    t = torch.tensor([float(value)], dtype=torch.float64, device=mode.device())
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return float(t) / world_size()


def any_of(flags):
    """Each flag (a list of ints) at its largest over the ranks: what any rank asked for."""
    t = torch.tensor([int(f) for f in flags], dtype=torch.int64, device=mode.device())
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return [int(v) for v in t.tolist()]


def gather(obj):
    """Every rank's `obj` (picklable), in rank order, on every rank; [obj] in a world of one."""
    if not active():
        return [obj]
    out = [None] * world_size()
    dist.all_gather_object(out, obj)
    return out


def barrier():
    if active():
        dist.barrier()
