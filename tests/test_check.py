"""fcn.dataset and data/check.py: a user's dataset is read in either layout, summed up, and every
problem in it is named with its file before any training."""
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from fcn import dataset, paths
from owndata_helpers import CLASSES, PALETTE, make_dataset, to_list_files, to_void_index, write_lines

CHECK = os.path.join(paths.ROOT, 'data', 'check.py')


def problems(root):
    return [(os.path.relpath(p, str(root)), what) for p, what in dataset.check(str(root)).problems]


@pytest.mark.parametrize('layout,labels', [('folder', 'index'), ('folder', 'gray'), ('folder', 'rgb'),
                                           ('voc', 'index')])
def test_a_good_dataset_is_summed_up(tmp_path, layout, labels):
    root = tmp_path / 'data'
    written = make_dataset(root, layout, labels)
    report = dataset.check(str(root))
    assert report.problems == []
    ds = report.dataset
    assert ds.layout == layout and ds.class_names == CLASSES
    assert report.ids == {'train': ['tr00', 'tr01', 'tr02', 'tr03'], 'val': ['va00', 'va01']}
    assert dict(report.sizes) == {(40, 48): 6}
    for split, ids in report.ids.items():
        want = sum(np.bincount(written[i].ravel(), minlength=256) for i in ids)
        assert report.hist[split].tolist() == want[:3].tolist() + [want[255]]
    images = 'images' if layout == 'folder' else 'JPEGImages'
    rgb = np.concatenate([np.asarray(Image.open(str(root / images / (i + '.jpg'))).convert('RGB'))
                          .reshape(-1, 3) for i in report.ids['train']]).astype(np.float64)
    np.testing.assert_allclose(report.mean, rgb.mean(axis=0)[::-1], rtol=1e-12)
    for i, label in written.items():
        assert np.array_equal(ds.read_label(ds.label_path(i)), label)


def test_voc_layout_without_classes_has_voc_classes(tmp_path):
    root = tmp_path / 'VOC'
    make_dataset(root, 'voc', classes=False)
    report = dataset.check(str(root))
    assert report.problems == []
    assert report.dataset.class_names[:2] == ['background', 'aeroplane'] and report.dataset.n_classes == 21


def test_png_images_are_found(tmp_path):
    make_dataset(tmp_path / 'd', ext='.png')
    assert problems(tmp_path / 'd') == []


def test_every_problem_is_listed_with_its_file(tmp_path):
    root = tmp_path / 'bad'
    make_dataset(root, n_train=6, n_val=3)
    os.remove(str(root / 'labels' / 'tr00.png'))                                   # a missing label
    os.remove(str(root / 'images' / 'tr01.jpg'))                                   # a missing image
    Image.fromarray(np.zeros((20, 48), np.uint8), 'L').save(str(root / 'labels' / 'tr02.png'))  # other size
    bad = np.zeros((40, 48), np.uint8)
    bad[3, 4], bad[5, 6] = 3, 17
    Image.fromarray(bad, 'L').save(str(root / 'labels' / 'tr03.png'))             # values outside 0..2, 255
    (root / 'images' / 'tr04.jpg').write_bytes(b'not a jpeg')                     # unreadable
    write_lines(root / 'val.txt', ['va00', 'va01', 'tr05'])                        # an id in both splits
    found = problems(root)
    assert len(found) == 6, found
    by_file = dict(found)
    assert 'missing label' in by_file['labels/tr00.png']
    assert 'missing image' in by_file['images/tr01.jpg|.jpeg|.png']
    assert '20x48' in by_file['labels/tr02.png'] and '40x48' in by_file['labels/tr02.png']
    assert '[3, 17]' in by_file['labels/tr03.png'] and '0..2' in by_file['labels/tr03.png']
    assert 'unreadable' in by_file['images/tr04.jpg']
    assert 'tr05' in by_file['val.txt'] and 'both' in by_file['val.txt']


def test_empty_and_missing_splits_and_classes(tmp_path):
    root = tmp_path / 'd'
    make_dataset(root, classes=False)
    write_lines(root / 'train.txt', [])
    os.remove(str(root / 'val.txt'))
    found = dict(problems(root))
    assert 'empty' in found['train.txt']
    assert 'missing' in found['val.txt']
    assert 'missing' in found['classes.txt']


def test_colour_labels_without_a_palette_get_one_message(tmp_path):
    root = tmp_path / 'd'
    make_dataset(root, labels='rgb')
    os.remove(str(root / 'palette.txt'))
    found = problems(root)
    assert len(found) == 1
    path, what = found[0]
    assert path == 'palette.txt' and '6 label image(s) are colour (RGB)' in what and 'labels/tr00.png' in what


def test_colours_outside_the_palette_are_named(tmp_path):
    root = tmp_path / 'd'
    make_dataset(root, labels='rgb')
    rgb = np.zeros((40, 48, 3), np.uint8)
    rgb[0, 0] = (1, 2, 3)
    Image.fromarray(rgb, 'RGB').save(str(root / 'labels' / 'va01.png'))
    assert problems(root) == [('labels/va01.png', 'label %s has 1 pixel(s) of colours that are not in %s: (1 2 3)'
                               % (root / 'labels' / 'va01.png', root / 'palette.txt'))]


def test_a_bad_palette_is_named_with_its_line(tmp_path):
    root = tmp_path / 'd'
    make_dataset(root, labels='rgb')
    write_lines(root / 'palette.txt', ['0 0 0', '200 40', '40 200 40'])
    found = dict(problems(root))
    assert found['palette.txt'] == 'line 2: a palette line is three integers "R G B" in 0..255, not \'200 40\''
    write_lines(root / 'palette.txt', ['%d %d %d' % c for c in PALETTE[:2]])
    assert 'has 2 colours for 3 classes' in dict(problems(root))['palette.txt']


def test_not_a_dataset(tmp_path):
    with pytest.raises(dataset.DatasetError, match='neither images/'):
        dataset.check(str(tmp_path))
    with pytest.raises(dataset.DatasetError, match='no such folder'):
        dataset.open_dataset(str(tmp_path / 'nope'))


def test_check_cli(tmp_path):
    good, bad = tmp_path / 'good', tmp_path / 'bad'
    make_dataset(good)
    make_dataset(bad)
    os.remove(str(bad / 'labels' / 'tr00.png'))
    os.remove(str(bad / 'labels' / 'va01.png'))
    run = subprocess.run([sys.executable, CHECK, str(good)], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert 'examples: train 4, val 2' in run.stdout and 'no problems found' in run.stdout
    assert all(name in run.stdout for name in CLASSES)
    run = subprocess.run([sys.executable, CHECK, str(bad)], capture_output=True, text=True, timeout=120)
    assert run.returncode == 2
    assert '2 problem(s)' in run.stdout
    assert str(bad / 'labels' / 'tr00.png') in run.stdout and str(bad / 'labels' / 'va01.png') in run.stdout
    assert run.stderr.strip().splitlines()[-1].startswith('check.py: error: %s: 2 problem(s)' % bad)


# -- void.txt, list files, the usual mistakes, class weights ------------------------------------------
@pytest.mark.parametrize('void', [0, 3])
def test_a_void_class_index_is_read_as_void(tmp_path, void):
    """void.txt names the stored value of unlabelled pixels: read as 255, the other values are the
    classes in order (with void 0, stored 1 is class 0), and classes.txt lists the classes only."""
    root = tmp_path / 'data'
    written = make_dataset(root)
    to_void_index(root, written, void)
    report = dataset.check(str(root))
    assert report.problems == [] and report.dataset.void == (void,)
    for i, label in written.items():
        assert np.array_equal(report.dataset.read_label(report.dataset.label_path(i)), label)
    assert report.hist['train'][3] == sum((written[i] == 255).sum() for i in report.ids['train'])
    assert 'void: stored label value(s) %d (%s), read as 255' % (void, root / 'void.txt') \
        in dataset.format_report(report)


def test_void_txt_mistakes_are_named(tmp_path):
    root = tmp_path / 'data'
    written = make_dataset(root)
    to_void_index(root, written, 3)
    label = np.zeros((40, 48), np.uint8)
    label[0, 0] = 7
    Image.fromarray(label, 'L').save(str(root / 'labels' / 'tr00.png'))
    write_lines(root / 'classes.txt', CLASSES + ['unlabelled'])
    found = dict(problems(root))
    assert 'lists unlabelled, and void.txt makes void pixels void' in found['classes.txt']
    write_lines(root / 'classes.txt', CLASSES)
    assert problems(root) == [('labels/tr00.png', 'label %s has values 7 outside stored values 0..2 (the classes '
                               'of %s) or void 3 (void.txt) and 255' % (root / 'labels' / 'tr00.png',
                                                                         root / 'classes.txt'))]
    write_lines(root / 'void.txt', ['none'])
    assert "'none' is not a label value" in dict(problems(root))['void.txt']


@pytest.mark.parametrize('absolute', [False, True])
def test_a_list_of_image_label_pairs_is_read_as_it_is(tmp_path, absolute):
    root = tmp_path / 'data'
    written = make_dataset(root)
    to_list_files(root, absolute)
    report = dataset.check(str(root))
    assert report.problems == []
    assert report.ids == {'train': ['tr00', 'tr01', 'tr02', 'tr03'], 'val': ['va00', 'va01']}
    want = sum(np.bincount(written[i].ravel(), minlength=256) for i in report.ids['train'])
    assert report.hist['train'].tolist() == want[:3].tolist() + [want[255]]
    os.remove(str(root / 'masks' / 'va01.png'))
    assert problems(root) == [('masks/va01.png', 'missing label (listed in val.txt)')]


def test_two_class_masks_saved_as_0_255_are_named(tmp_path):
    root = tmp_path / 'data'
    written = make_dataset(root)
    for i, label in written.items():
        Image.fromarray(np.where(label == 1, 255, 0).astype(np.uint8), 'L').save(str(root / 'labels' / (i + '.png')))
    write_lines(root / 'classes.txt', ['background', 'disc'])
    (where, what), = problems(root)
    assert where == 'classes.txt' and 'a two-class mask saved as 0/255' in what and '1 for the foreground' in what


def test_labels_saved_as_jpeg_are_named(tmp_path):
    root = tmp_path / 'data'
    written = make_dataset(root, n_train=6)
    big = (written['tr00'] * 60).astype(np.uint8)                  # a JPEG named .png
    Image.fromarray(big, 'L').save(str(root / 'labels' / 'tr00.png'), format='JPEG')
    os.remove(str(root / 'labels' / 'tr01.png'))                     # saved as .jpg
    Image.fromarray(written['tr01'], 'L').save(str(root / 'labels' / 'tr01.jpg'))
    resized = Image.fromarray(written['tr02'], 'L').resize((96, 80), Image.BILINEAR).resize((48, 40), Image.BILINEAR)
    resized.save(str(root / 'labels' / 'tr02.png'))                # interpolated: values between the classes
    found = dict(problems(root))
    assert 'a JPEG file named .png' in found['labels/tr00.png']
    assert 'missing label' in found['labels/tr01.png'] and 'labels/tr01.jpg is there: labels must be PNGs' \
        in found['labels/tr01.png']
    assert 'values lie between the classes' in found['labels/tr02.png']


def test_an_rgb_copy_of_a_palette_png_is_named(tmp_path):
    root = tmp_path / 'data'
    written = make_dataset(root)
    import vis
    colours = vis.voc_palette(256)
    Image.fromarray(colours[written['va01']], 'RGB').save(str(root / 'labels' / 'va01.png'))
    (where, what), = problems(root)
    assert where == 'palette.txt' and 'RGB copies of palette PNGs (labels/va01.png)' in what
    assert '0 0 0, 128 0 0, 0 128 0' in what


def test_check_prints_both_schemes_class_weights(tmp_path):
    root = tmp_path / 'data'
    written = make_dataset(root)
    run = subprocess.run([sys.executable, CHECK, str(root)], capture_output=True, text=True, cwd=paths.ROOT)
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    at = next(k for k, line in enumerate(lines) if line.startswith('class weights'))
    assert 'Eigen & Fergus 2015' in lines[at] and lines[at + 1].split() == ['class', 'median-frequency',
                                                                             'inverse-frequency']
    counts = sum(np.bincount(written[i].ravel(), minlength=256)[:3] for i in ('tr00', 'tr01', 'tr02', 'tr03'))
    inverse = counts.sum() / (3 * counts)
    for c, name in enumerate(CLASSES):
        row = lines[at + 2 + c].split()
        assert row[:2] == [str(c), name] and float(row[3]) == pytest.approx(inverse[c], abs=1e-4)


def test_the_rare_classes_dataset_is_what_it_says(tmp_path):
    """make_rare_dataset (for training comparisons): a few hundred images, four classes each under 1%
    of the pixels, its void class index read as void, and median-frequency weights that favour them."""
    from fcn import class_weights
    from owndata_helpers import RARE_CLASSES, make_rare_dataset
    root = tmp_path / 'rare'
    written = make_rare_dataset(root, n_train=200, n_val=40)
    report = dataset.check(str(root))
    assert report.problems == [] and report.dataset.void == (7,) and len(report.ids['train']) == 200
    hist = report.hist['train']
    share = hist[:7] / hist.sum()
    rare = [RARE_CLASSES.index(c) for c in ('pole', 'wire', 'sign', 'crack')]
    assert all(0 < share[c] < 0.01 for c in rare) and hist[7] > 0
    assert sum(share[c] for c in (0, 1, 2)) > 0.93
    ds = report.dataset
    assert np.array_equal(ds.read_label(ds.label_path('v0003')), written['v0003'])
    w = class_weights.weights(report, 'median-frequency')
    assert min(w[c] for c in rare) > max(w[c] for c in (0, 1, 2))


def test_pairs_are_told_apart_by_their_paths_and_val_names_its_predictions(tmp_path):
    """Splits numbered from 0 each (train/0.png, val/0.png) are not an overlap; two val images of one
    file name would write one prediction file, which is a problem; a pair listed twice a warning."""
    root = tmp_path / 'data'
    make_dataset(root)
    to_list_files(root)
    for split in ('train', 'val'):
        os.makedirs(str(root / split))
    os.rename(str(root / 'pics' / 'tr00.jpg'), str(root / 'train' / 'a.jpg'))
    os.rename(str(root / 'pics' / 'va00.jpg'), str(root / 'val' / 'a.jpg'))
    write_lines(root / 'train.txt', ['train/a.jpg masks/tr00.png', 'pics/tr01.jpg masks/tr01.png',
                                     'pics/tr01.jpg masks/tr01.png'])
    write_lines(root / 'val.txt', ['val/a.jpg masks/va00.png', 'pics/va01.jpg masks/va01.png'])
    report = dataset.check(str(root))
    assert report.problems == [] and report.ids == {'train': ['a', 'tr01'], 'val': ['a', 'va01']}
    assert report.warnings == [(str(root / 'train.txt'), 'lists 1 example(s) more than once: tr01')]
    os.rename(str(root / 'pics' / 'va01.jpg'), str(root / 'pics' / 'a.jpg'))
    write_lines(root / 'val.txt', ['val/a.jpg masks/va00.png', 'pics/a.jpg masks/va01.png'])
    assert problems(root) == [('val.txt', 'lists 1 image(s) of the same file name, which names their '
                                          'predictions: a')]
    write_lines(root / 'val.txt', ['pics/tr01.jpg masks/tr01.png'])
    assert problems(root) == [('val.txt', '1 id(s) are in both train and val: tr01')]


def test_a_test_split_is_read_when_it_is_there(tmp_path):
    """test.txt, when there, is checked like val: counted, its files read, its overlap with train a
    problem; without it the dataset is train and val as before."""
    root = tmp_path / 'data'
    written = make_dataset(root, n_train=6, n_val=2)
    assert list(dataset.check(str(root)).ids) == ['train', 'val']
    write_lines(root / 'train.txt', ['tr%02d' % i for i in range(4)])
    write_lines(root / 'test.txt', ['tr04', 'tr05'])
    report = dataset.check(str(root))
    assert report.problems == [] and report.ids['test'] == ['tr04', 'tr05']
    counts = sum(np.bincount(written[i].ravel(), minlength=256) for i in ('tr04', 'tr05'))
    assert list(report.hist['test']) == list(counts[:3]) + [counts[255]]
    text = dataset.format_report(report)
    assert 'examples: train 4, val 2, test 2' in text and text.count('test') >= 2    # and a pixels column
    write_lines(root / 'test.txt', ['tr04', 'tr05', 'tr00'])
    os.remove(str(root / 'labels' / 'tr05.png'))
    found = problems(root)
    assert ('test.txt', '1 id(s) are in both train and test: tr00') in found
    assert ('labels/tr05.png', 'missing label (listed in test.txt)') in found
    # sharing images with val (on which best.caffemodel is chosen) is a warning; an empty test.txt too
    write_lines(root / 'test.txt', ['va01'])
    report = dataset.check(str(root))
    assert report.problems == [] and any('1 id(s) are in both val and test' in w for _, w in report.warnings)
    write_lines(root / 'test.txt', [])
    report = dataset.check(str(root))
    assert report.problems == [] and ('the test split is empty' in [w for _, w in report.warnings])
