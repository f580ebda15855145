"""Global compute mode, as in Caffe: CPU or one GPU, the random seed, and the arithmetic.

The faithful default keeps float32 arithmetic exact to IEEE single precision:
TF32 stays off on a GPU.  Fast mode is an explicit opt-in that trades that
exactness for speed (bf16 autocast, TF32, channels_last, cuDNN autotuning,
optionally torch.compile);
`make bench` measures how far its outputs move.
"""
import contextlib
import functools
import warnings
from dataclasses import dataclass

import torch

from . import rng

_device = torch.device('cpu')
_gpu_index = 0


@dataclass(frozen=True)
class Arithmetic:
    """How layers compute: the faithful float32 path unless a field is switched on."""
    bf16: bool = False            # convolutions and matrix products in bfloat16 (torch.autocast)
    tf32: bool = False            # float32 matmul/convolution on TF32 tensor cores (CUDA)
    channels_last: bool = False   # NHWC memory layout for convolution inputs and weights
    cudnn_benchmark: bool = False  # let cuDNN time its algorithms per shape (CUDA)
    compile: bool = False         # passes that record no backward run through torch.compile

    @property
    def faithful(self):
        return self == FAITHFUL


FAITHFUL = Arithmetic()
FAST = Arithmetic(bf16=True, tf32=True, channels_last=True, cudnn_benchmark=True)
_arithmetic = FAITHFUL


def _apply_backend_flags():
    torch.backends.cuda.matmul.allow_tf32 = _arithmetic.tf32
    torch.backends.cudnn.allow_tf32 = _arithmetic.tf32
    torch.backends.cudnn.benchmark = _arithmetic.cudnn_benchmark


def set_mode_cpu():
    """Run every net on the CPU."""
    global _device
    _device = torch.device('cpu')


def set_mode_gpu():
    """Run every net on the current CUDA device (see set_device)."""
    global _device
    if not torch.cuda.is_available():
        from .errors import CaffeError
        raise CaffeError('set_mode_gpu: no CUDA device is available to PyTorch')
    _apply_backend_flags()
    torch.cuda.set_device(_gpu_index)   # collectives (NCCL) and new allocations follow the current device
    _device = torch.device('cuda', _gpu_index)


def set_device(index):
    """Choose which CUDA device GPU mode uses."""
    global _device, _gpu_index
    _gpu_index = index
    if _device.type == 'cuda':
        torch.cuda.set_device(index)
        _device = torch.device('cuda', index)


def device():
    """The device that blobs are brought to before a layer computes."""
    return _device


def set_random_seed(seed):
    """Seed the fillers and Dropout, like Caffe::set_random_seed: Caffe's CPU stream (boost's
    mt19937, torchcaffe.rng) and torch's generators (GPU Dropout, where Caffe seeds cuRAND)."""
    rng.seed(seed)
    torch.manual_seed(seed)


def set_fast_mode(bf16=True, tf32=True, channels_last=True, cudnn_benchmark=True, compile=False):
    """Opt into faster, not bit-faithful arithmetic; each part can be left off.

    compile=True also runs inference passes (those that record nothing for
    backward) through torch.compile: worth it for many passes at one input
    shape, since the first pass at each shape compiles (seconds to minutes).
    """
    global _arithmetic
    _arithmetic = Arithmetic(bf16=bf16, tf32=tf32, channels_last=channels_last,
                             cudnn_benchmark=cudnn_benchmark, compile=compile)
    _apply_backend_flags()


def set_faithful_mode():
    """Back to Caffe's float32 arithmetic (the default)."""
    global _arithmetic
    _arithmetic = FAITHFUL
    _apply_backend_flags()


def arithmetic():
    """The Arithmetic in force."""
    return _arithmetic


@functools.cache
def cpu_has_native_bf16():
    """Whether this CPU computes bfloat16 in hardware (AVX512-BF16 or AMX): without either,
    PyTorch emulates it and bf16 convolutions run several times slower than float32.
    None where this torch cannot tell (the checks are private, and older torch versions lack them)."""
    checks = [getattr(torch.cpu, name, None) for name in ('_is_avx512_bf16_supported', '_is_amx_tile_supported')]
    if None in checks:
        return None
    return any(check() for check in checks)


def autocast():
    """The context layers compute in: bf16 autocast in fast mode, nothing otherwise."""
    if _arithmetic.bf16:
        if _device.type == 'cpu' and cpu_has_native_bf16() is False:
            warnings.warn('fast mode: this CPU has no native bfloat16 (AVX512-BF16 or AMX), so bf16 runs '
                          'slower than float32 here; set_fast_mode(bf16=False) keeps the rest of fast mode')
        return torch.autocast(_device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def compute_dtype():
    """The dtype autocast gives convolutions: bfloat16 in fast mode, None (keep float32) otherwise."""
    return torch.bfloat16 if _arithmetic.bf16 and torch.is_autocast_enabled(_device.type) else None


def memory_format():
    """The layout convolutions use: channels_last in fast mode, contiguous otherwise."""
    return torch.channels_last if _arithmetic.channels_last else torch.contiguous_format
