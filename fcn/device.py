"""Where the nets compute: the CPU, or a CUDA device (a torchrun rank adds its LOCAL_RANK)."""
import os

from backend import caffe
from fcn.errors import FCNError


def use(gpu=None):
    """CPU mode when gpu is None, else CUDA device gpu + LOCAL_RANK; FCNError naming --gpu when the
    backend has no such device."""
    if gpu is None:
        caffe.set_mode_cpu()
        return
    try:
        caffe.set_device(gpu + int(os.environ.get('LOCAL_RANK', '0')))
        caffe.set_mode_gpu()
    except Exception as e:   # CaffeError (no CUDA), RuntimeError / AssertionError from torch or pycaffe
        raise FCNError('--gpu %d: %s' % (gpu, str(e).strip().splitlines()[0] if str(e).strip()
                                         else 'no such CUDA device')) from None
