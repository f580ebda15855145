"""Data layer for PASCAL-Context, 59-class task of Mottaghi et al. (CVPR 2014).

Images come from PASCAL VOC 2010, labels from the PASCAL-Context annotations:

    <voc_dir>/VOC2010/ImageSets/Main/<split>.txt   example ids (train.txt, val.txt)
    <voc_dir>/VOC2010/JPEGImages/<id>.jpg          image
    <context_dir>/trainval/<id>.mat                variable LabelMap: the full labelling, ids 1..459
    <context_dir>/labels.txt                       the full label list, "<id>: <name>" a line
    <context_dir>/59_labels.txt                    the task's list, "<k>: <name>" for k = 1..59

    param_str: {'voc_dir': ..., 'context_dir': ..., 'split': 'train'
                [, 'randomize': True, 'seed': None, 'prefetch': True]}

Where context_dir has no labels.txt or 59_labels.txt, the lists shipped in this
repository's data/pascal-context/ (classes-459.txt, classes-59.txt: one name a
line) stand in for them.

Each full label is mapped to the task by name: task class k (1..59) collects the
pixels of the full label of the same name, and every other pixel is class 0,
background.  Names are compared without spaces, and three task names are
spelled differently in the full list (diningtable = table, bedcloth =
bedclothes, clothes = cloth).

Two tops: data (1 x 3 x H x W, BGR minus the VOC mean) and label
(1 x 1 x H x W, 0..59; there is no void).
"""
import os
import re

import numpy as np

from fcn.readers import DataError, check_labels, mat_variable, modality_input, read_mat

from .common import SegDataLayer, check_same_size, get_dir, label_blob

#: BGR mean of the VOC images.
MEAN = np.array((104.007, 116.669, 122.679), dtype=np.float32)
#: Task names whose full-list label is spelled differently.
TASK_TO_FULL = {'diningtable': 'table', 'bedcloth': 'bedclothes', 'clothes': 'cloth'}
REPO_LISTS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'data', 'pascal-context')
_NUMBERED = re.compile(r'^\s*(\d+)\s*:(.*)$')


def read_label_list(path, who):
    """{id: name without spaces} from a label list.

    Lines are "<id>: <name>" (the PASCAL-Context files) or bare names (this
    repository's lists), numbered from 1, or from 0 when the first is
    "background".
    """
    with open(path) as f:
        lines = [line.strip() for line in f]
    lines = [line for line in lines if line]
    if not lines:
        raise DataError('%s: label list %s is empty' % (who, path))
    numbered = [_NUMBERED.match(line) for line in lines]
    if all(numbered):
        pairs = [(int(m.group(1)), m.group(2)) for m in numbered]
    elif not any(numbered):
        start = 0 if ''.join(lines[0].split()) == 'background' else 1
        pairs = list(enumerate(lines, start))
    else:
        raise DataError('%s: label list %s mixes "<id>: <name>" lines and bare names' % (who, path))
    out = {}
    for i, name in pairs:
        name = ''.join(name.split())
        if i in out:
            raise DataError('%s: label list %s gives id %d twice' % (who, path, i))
        out[i] = name
    return out


def find_list(context_dir, name, fallback, who):
    for path in (os.path.join(context_dir, name), os.path.join(REPO_LISTS, fallback)):
        if os.path.isfile(path):
            return path
    raise FileNotFoundError('%s: label list not found: %s (nor %s)'
                            % (who, os.path.join(context_dir, name), os.path.join(REPO_LISTS, fallback)))


def task_lookup(full, task, who, where):
    """Table t with t[full id] = task class (0 for background), from the two lists."""
    names = {}
    for i, name in full.items():
        names.setdefault(name, i)
    classes = sorted(k for k in task if k != 0)
    if classes != list(range(1, len(classes) + 1)):
        raise DataError('%s: task label list %s must number its classes 1..N' % (who, where))
    lut = np.zeros(max(full) + 1, dtype=np.uint8)
    for k in classes:
        name = TASK_TO_FULL.get(task[k], task[k])
        if name not in names:
            raise DataError('%s: task class %d %r of %s is not in the full label list'
                            % (who, k, task[k], where))
        lut[names[name]] = k
    return lut, len(classes) + 1


class PASCALContextSegDataLayer(SegDataLayer):
    """VOC 2010 images with PASCAL-Context labels mapped to the 59-class task, one pair per forward."""

    REQUIRED = ('voc_dir', 'context_dir', 'split')

    def configure(self, params):
        self.voc_dir = os.path.join(get_dir(params, 'voc_dir', self.who), 'VOC2010')
        self.context_dir = get_dir(params, 'context_dir', self.who)
        self.mean = MEAN
        full_path = find_list(self.context_dir, 'labels.txt', 'classes-459.txt', self.who)
        task_path = find_list(self.context_dir, '59_labels.txt', 'classes-59.txt', self.who)
        full = read_label_list(full_path, self.who)
        task = read_label_list(task_path, self.who)
        self.lut, self.n_classes = task_lookup(full, task, self.who, task_path)
        split_path = os.path.join(self.voc_dir, 'ImageSets', 'Main', self.split + '.txt')
        return split_path, ('data', 'label')

    def load(self, example_id):
        image_path = os.path.join(self.voc_dir, 'JPEGImages', example_id + '.jpg')
        label_path = os.path.join(self.context_dir, 'trainval', example_id + '.mat')
        data = modality_input('color', image_path, self.mean, 'image', self.who)
        raw = mat_variable(read_mat(label_path, 'label', self.who), 'LabelMap', label_path, self.who)
        top = len(self.lut) - 1
        raw = check_labels(raw, 0, top, (), label_path, self.who, 'full labels 0..%d' % top)
        label = self.lut[raw]
        check_same_size(self.who, [(image_path, data), (label_path, label)])
        return data, label_blob(label)
