"""FCN-GoogLeNet on PASCAL VOC (beyond the reference release; see README.md).

bvlc_googlenet up to inception_5b/output (stride 32), padded by 100 like the
other FCNs; the average pooling and classifier are replaced by a 1x1 score
layer, upsampled x32 by a fixed bilinear deconvolution and cropped to the
input.  Writes train/val/deploy prototxts.

Run `python models/voc-fcn-googlenet/net.py` to rewrite them.
"""
from models import common as C

# The final crop's offset is stated (C.GOOGLENET_CROP_OFFSET): pycaffe's coord_map stops at the
# inceptions' Concat.
CROP_OFFSET = C.GOOGLENET_CROP_OFFSET


def body(n, train):
    feat = C.googlenet_trunk(n, n.data, pad=100)
    if train:
        # GoogLeNet's own dropout (0.4), which followed the discarded pooling
        n['inception_5b/drop'] = C.dropout(feat, 0.4)
        feat = n['inception_5b/drop']
    # a 63-pixel kernel keeps the x32 upsampling aligned on whole pixels
    C.fcn_head(n, feat, n.data, C.VOC_CLASSES, stride=32, up_ks=63, crop_offset=CROP_OFFSET)


def fcn(split):
    return C.fcn_net(split, C.voc_data, body, normalize=True)


prototxts, make_net = C.net_script(__name__, __file__, fcn, C.VOC_SPLITS)
