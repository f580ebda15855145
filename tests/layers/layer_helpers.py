"""Helpers for the data layer tests: tiny datasets in their real on-disk formats,
and nets made of one Python data layer, written as prototxt text."""
import os

import numpy as np
import scipy.io
import scipy.sparse
from PIL import Image

import vis
from backend import caffe

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def rand_rgb(rng, h, w):
    return rng.randint(0, 256, size=(h, w, 3)).astype(np.uint8)


def save_jpeg(path, rgb, quality=95):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    Image.fromarray(rgb, 'RGB').save(path, 'JPEG', quality=quality)


def save_png(path, array_or_image):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    im = array_or_image if isinstance(array_or_image, Image.Image) else Image.fromarray(array_or_image)
    im.save(path, 'PNG')


def save_palette_png(path, label):
    """A VOC-style label: palette PNG whose pixel values are the class indices."""
    im = Image.fromarray(np.asarray(label, dtype=np.uint8))
    im.putpalette(vis.PALETTE.reshape(-1).tolist())  # an 'L' image given a palette becomes 'P', indices kept
    assert im.mode == 'P'
    save_png(path, im)


def save_mat(path, variables):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    scipy.io.savemat(path, variables)


def save_sbd_cls(path, seg):
    """An SBD cls/<id>.mat: 1x1 struct GTcls with Boundaries, Segmentation, CategoriesPresent."""
    seg = np.asarray(seg)  # uint8 in the real files; other dtypes to test validation
    present = np.unique(seg[(seg > 0) & (seg < 255)]).astype(np.uint8)
    boundaries = np.empty((20, 1), dtype=object)
    for k in range(20):
        boundaries[k, 0] = scipy.sparse.csc_matrix(seg.shape, dtype=np.float64)  # empty boundary map
    save_mat(path, {'GTcls': {'Boundaries': boundaries, 'Segmentation': seg,
                              'CategoriesPresent': present.reshape(-1, 1)}})


def write_lines(path, lines):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, 'w') as f:
        f.write(''.join(line + '\n' for line in lines))


def expected_input(image_path, mean):
    """The net input the release computes from an image file: float32 BGR minus mean, CHW."""
    rgb = np.array(Image.open(image_path).convert('RGB'), dtype=np.float32)
    return (rgb[:, :, ::-1] - np.asarray(mean)).astype(np.float32).transpose(2, 0, 1)


def prototxt_string(text):
    return '"%s"' % text.replace('\\', '\\\\').replace('"', '\\"')


def data_net(tmp_path, module, layer, param_str, tops, phase=None, name='data.prototxt'):
    """A caffe.Net with one Python layer `module.layer` and the given tops.

    param_str: a dict (written with str(), as the release's net.py does) or raw text.
    """
    if not isinstance(param_str, str):
        param_str = str(param_str)
    text = ('name: "layer_test"\n'
            'layer {\n  name: "data"\n  type: "Python"\n%s'
            '  python_param {\n    module: "%s"\n    layer: "%s"\n    param_str: %s\n  }\n}\n'
            % (''.join('  top: "%s"\n' % t for t in tops), module, layer, prototxt_string(param_str)))
    path = os.path.join(str(tmp_path), name)
    with open(path, 'w') as f:
        f.write(text)
    return caffe.Net(path, caffe.TEST if phase is None else phase)


def run(net, n):
    """n forwards; a list of {top: copy of its array}."""
    out = []
    for _ in range(n):
        net.forward()
        out.append({k: np.array(net.blobs[k].data) for k in net.outputs})
    return out


def data_layer(net):
    return net.layers[0]
