"""FCN-8s (VGG16) on shapes, slim (1/8).

Made by `python models/create.py shapes-fcn8s --dataset data/shapes --arch fcn8s --init scratch --width-divisor 8`.
Run this file to rewrite train/val/deploy.prototxt beside it
(see models/custom.py for what SPEC says).
"""
from models import custom

SPEC = {
    'arch': 'fcn8s',
    'dataset': 'shapes',
    'classes': 4,
    'mean': (129.6811, 128.8656, 124.7528),
    'scratch': True,
    'width_divisor': 8,
    'rename': '',
    'normalize': True,
}

prototxts, make_net = custom.net_script(__name__, __file__, SPEC)
