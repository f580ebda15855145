"""Data layers for PASCAL VOC segmentation and its SBD extension (21 classes, void 255).

VOCSegDataLayer reads a VOC year directory (e.g. VOC2011):

    <voc_dir>/ImageSets/Segmentation/<split>.txt   example ids, one a line
    <voc_dir>/JPEGImages/<id>.jpg                  image
    <voc_dir>/SegmentationClass/<id>.png           palette PNG of class indices, 255 = void

    param_str: {'voc_dir': ..., 'split': 'seg11valid', 'mean': (B, G, R)
                [, 'randomize': True, 'seed': None, 'prefetch': True]}

SBDDSegDataLayer reads the `dataset` directory of the Semantic Boundaries
Dataset:

    <sbdd_dir>/<split>.txt       example ids (train.txt, val.txt)
    <sbdd_dir>/img/<id>.jpg      image
    <sbdd_dir>/cls/<id>.mat      struct GTcls whose field Segmentation holds the class indices

    param_str: {'sbdd_dir': ..., 'split': 'train', 'mean': (B, G, R)
                [, 'randomize': True, 'seed': None, 'prefetch': True]}

Both have two tops: data (1 x 3 x H x W, BGR minus mean) and label
(1 x 1 x H x W, class indices 0..20 or 255).  See layers.common.SegDataLayer
for ordering and the common keys.
"""
import os

from fcn.readers import DataError, VOID, check_labels, mat_variable, modality_input, read_label_png, read_mat

from .common import SegDataLayer, check_same_size, get_dir, get_mean, label_blob

N_CLASSES = 21
MEANING = 'classes 0..%d or void %d' % (N_CLASSES - 1, VOID)


class VOCSegDataLayer(SegDataLayer):
    """PASCAL VOC images with their SegmentationClass labels, one pair per forward."""

    REQUIRED = ('voc_dir', 'split', 'mean')

    def configure(self, params):
        self.voc_dir = get_dir(params, 'voc_dir', self.who)
        self.mean = get_mean(params, 'mean', self.who)
        split_path = os.path.join(self.voc_dir, 'ImageSets', 'Segmentation', self.split + '.txt')
        return split_path, ('data', 'label')

    def load(self, example_id):
        image_path = os.path.join(self.voc_dir, 'JPEGImages', example_id + '.jpg')
        label_path = os.path.join(self.voc_dir, 'SegmentationClass', example_id + '.png')
        data = modality_input('color', image_path, self.mean, 'image', self.who)
        raw = read_label_png(label_path, 'label', self.who)
        label = check_labels(raw, 0, N_CLASSES - 1, (VOID,), label_path, self.who, MEANING)
        check_same_size(self.who, [(image_path, data), (label_path, label)])
        return data, label_blob(label)


class SBDDSegDataLayer(SegDataLayer):
    """SBD images with their GTcls.Segmentation labels, one pair per forward."""

    REQUIRED = ('sbdd_dir', 'split', 'mean')

    def configure(self, params):
        self.sbdd_dir = get_dir(params, 'sbdd_dir', self.who)
        self.mean = get_mean(params, 'mean', self.who)
        return os.path.join(self.sbdd_dir, self.split + '.txt'), ('data', 'label')

    def load(self, example_id):
        image_path = os.path.join(self.sbdd_dir, 'img', example_id + '.jpg')
        label_path = os.path.join(self.sbdd_dir, 'cls', example_id + '.mat')
        data = modality_input('color', image_path, self.mean, 'image', self.who)
        raw = read_sbd_segmentation(label_path, self.who)
        label = check_labels(raw, 0, N_CLASSES - 1, (VOID,), label_path, self.who, MEANING)
        check_same_size(self.who, [(image_path, data), (label_path, label)])
        return data, label_blob(label)


def read_sbd_segmentation(path, who):
    """GTcls.Segmentation of an SBD cls/<id>.mat file (a 1x1 MATLAB struct)."""
    gt = mat_variable(read_mat(path, 'label', who), 'GTcls', path, who)
    names = getattr(gt.dtype, 'names', None) or ()
    if 'Segmentation' not in names or gt.size < 1:
        raise DataError('%s: GTcls in %s is not a struct with a Segmentation field (fields: %s)'
                        % (who, path, ', '.join(names) or 'none'))
    return gt['Segmentation'].flat[0]
