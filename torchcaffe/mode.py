"""Global compute mode, as in Caffe: CPU or one GPU, plus the random seed.

The faithful default keeps float32 arithmetic exact to IEEE single precision:
TF32 is switched off whenever a GPU mode is selected.
"""
import torch

_device = torch.device('cpu')
_gpu_index = 0


def set_mode_cpu():
    """Run every net on the CPU."""
    global _device
    _device = torch.device('cpu')
_gpu_index = 0


def set_mode_gpu():
    """Run every net on the current CUDA device (see set_device)."""
    global _device
    if not torch.cuda.is_available():
        from .errors import CaffeError
        raise CaffeError('set_mode_gpu: no CUDA device is available to PyTorch')
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    _device = torch.device('cuda', _gpu_index)


def set_device(index):
    """Choose which CUDA device GPU mode uses."""
    global _device, _gpu_index
    _gpu_index = index
    if _device.type == 'cuda':
        _device = torch.device('cuda', index)


def device():
    """The device that blobs are brought to before a layer computes."""
    return _device


def set_random_seed(seed):
    """Seed the fillers and Dropout, like Caffe::set_random_seed."""
    torch.manual_seed(seed)
