"""The data layer of a user's own dataset (fcn.dataset: the folder layout or PASCAL VOC's).

    <dataset_dir>/images/<id>.jpg|.jpeg|.png   image          (VOC's layout: JPEGImages/<id>.jpg)
    <dataset_dir>/labels/<id>.png              class indices  (VOC's layout: SegmentationClass/<id>.png)
    <dataset_dir>/<split>.txt                  example ids    (VOC's layout: ImageSets/Segmentation/),
                                               or `image label` path pairs (relative to the file)
    <dataset_dir>/classes.txt                  class names, one a line
    <dataset_dir>/palette.txt                  optional: the colours of RGB label images
    <dataset_dir>/void.txt                     optional: stored label values that mean void

    param_str: {'dataset_dir': ..., 'split': 'train', 'mean': (B, G, R)
                [, 'randomize': True, 'seed': None, 'prefetch': True,
                 'mirror': False, 'scale': None, 'crop': None, 'batch': 1]}

Two tops: data (1 x 3 x H x W, BGR minus mean) and label (1 x 1 x H x W, class
indices 0..N-1 of classes.txt or 255 for void: the values void.txt names are
read as 255, so the loss's ignore_label skips them); with 'crop': S and 'batch': N,
N x 3 x S x S and N x 1 x S x S.  dataset_dir is relative to the data root
(data/) unless absolute.  See layers.common.SegDataLayer for ordering,
seeding, prefetch, batches and resuming, and layers.augment for mirror, scale
and crop (models/create.py --augment, --scale, --crop, --batch write them).
"""
import os

from fcn import dataset
from fcn.readers import caffe_input, read_rgb

from .common import SegDataLayer, check_same_size, get_dir, get_mean, label_blob


class FolderSegDataLayer(SegDataLayer):
    """Images and label maps of a dataset in the folder (or VOC's) layout, one pair per forward."""

    REQUIRED = ('dataset_dir', 'split', 'mean')

    def configure(self, params):
        self.dataset = dataset.open_dataset(get_dir(params, 'dataset_dir', self.who))
        self.mean = get_mean(params, 'mean', self.who)
        return self.dataset.split_path(self.split), ('data', 'label')

    def load(self, entry):
        base = os.path.dirname(self.split_path)
        image_path, label_path = self.dataset.entry_paths(entry, base)
        if image_path is None:
            raise FileNotFoundError('%s: image not found: %s'
                                    % (self.who, self.dataset.expected_entry_image(entry, base)))
        data = caffe_input(read_rgb(image_path, 'image', self.who), self.mean)
        label = self.dataset.read_label(label_path, self.who)
        check_same_size(self.who, [(image_path, data), (label_path, label)])
        return data, label_blob(label)
