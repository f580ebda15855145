"""fcn/report.py: the three pages, built on a tiny dataset and a tiny created net through the command
lines and the training loop, read back with html.parser: every figure equals score.py's metric
computed here from the saved predictions and the labels, every image named opens, and the worst and
best images come in their order."""
import csv
import importlib.util
import math
import os
from html.parser import HTMLParser

import numpy as np
import pytest
from PIL import Image

import evaluate
import score
import vis
from fcn import cli, paths, report, training
from models import create
from owndata_helpers import CLASSES, make_dataset

_spec = importlib.util.spec_from_file_location('check_cli', os.path.join(paths.ROOT, 'data', 'check.py'))
check = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(check)

N_VAL = 5


class Page(HTMLParser):
    """A page read back: its tables by class (rows of (text, data-value) cells) and image sources."""

    def __init__(self, path):
        super().__init__()
        self.tables, self.images, self._table, self._row, self._cell = {}, [], None, None, None
        with open(path, encoding='utf-8') as f:
            self.feed(f.read())

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == 'table':
            self._table = self.tables.setdefault(attrs.get('class', ''), [])
        elif tag == 'tr' and self._table is not None:
            self._row = []
            self._table.append(self._row)
        elif tag in ('td', 'th') and self._row is not None:
            self._cell = ['', attrs.get('data-value'), []]
            self._row.append(self._cell)
        elif tag == 'img':
            self.images.append(attrs['src'])
            if self._cell is not None:
                self._cell[2].append(attrs['src'])

    def handle_endtag(self, tag):
        if tag == 'table':
            self._table = None
        elif tag in ('td', 'th'):
            self._cell = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell[0] += data

    def body(self, cls):
        """The rows of table `cls` without its header."""
        return self.tables[cls][1:]


def same(cell, value):
    """A cell shows `value` (a fraction) as score.py computed it: exactly in data-value, in % as text."""
    text, exact, _ = cell
    if math.isnan(value):
        return math.isnan(float(exact)) and text == '-'
    return float(exact) == float(value) and text == '%.2f' % (100 * value)


def images_open(page_path, page):
    folder = os.path.dirname(page_path)
    assert page.images
    for src in page.images:
        with Image.open(os.path.join(folder, src)) as im:
            im.load()
            assert im.size[0] > 0 and im.size[1] > 0


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
    """A tiny created net trained 2 iterations with a seg test at each, predictions saved."""
    tmp = tmp_path_factory.mktemp('report')
    data, models = tmp / 'data', tmp / 'models'
    labels = make_dataset(data, n_train=4, n_val=N_VAL)
    argv = ['tiny', '--dataset', data, '--arch', 'fcn32s', '--init', 'scratch', '--width-divisor', 16,
            '--max-iter', 2, '--models-dir', models]
    assert cli.run(create.main, [str(a) for a in argv], prog='create.py') == 0
    run = tmp / 'run'
    weights = training.train(str(models / 'tiny'), test_interval=1, val=str(data / 'val.txt'), out=str(run),
                             save_segs=True)
    ids = ['va%02d' % i for i in range(N_VAL)]
    return dict(tmp=tmp, data=data, net=str(models / 'tiny'), run=run, weights=weights, ids=ids, labels=labels)


def test_the_training_page_shows_every_seg_test_and_the_latest_predictions(trained):
    page_path = str(trained['run'] / 'index.html')
    page = Page(page_path)
    images_open(page_path, page)
    for folder in (trained['run'], trained['run'] / 'page'):       # rewritten whole: no temporary file left
        assert not [f for f in os.listdir(str(folder)) if f.endswith('.tmp')]
    assert 'learning_curve.png' in page.images
    with open(str(trained['run'] / 'log.csv'), newline='') as f:
        logged = list(csv.DictReader(f))
    rows = page.body('segtests')
    assert [r[0][0] for r in rows] == [r['iteration'] for r in logged] == ['1', '2']
    for row, rec in zip(rows, logged):
        for cell, key in zip(row[4:], ('overall_acc', 'mean_acc', 'mean_iu', 'fwavacc')):
            assert same(cell, float(rec[key]))
    examples = page.body('examples')
    assert [r[0][0] for r in examples] == trained['ids'][:report.TRAINING_IMAGES]
    for row in examples:     # the predictions of the last seg test, as it saved them
        pred = vis.read_label_png(str(trained['run'] / 'segs-iter2' / (row[0][0] + '.png')))
        gt = trained['labels'][row[0][0]]
        assert same(row[1], score.compute_metrics(score.fast_hist(gt, pred, len(CLASSES)))['mean_iu'])
        assert [len(cell[2]) for cell in row[2:]] == [1, 1, 1]


@pytest.fixture(scope='module')
def evaluated(trained):
    out = trained['tmp'] / 'eval'
    argv = [trained['net'], '--weights', trained['weights'], '--val', str(trained['data'] / 'val.txt'),
            '--save', str(out / 'segs'), '--report', str(out / 'page'), '--report-images', '2']
    assert cli.run(evaluate.main, argv, prog='evaluate.py') == 0
    return out


def test_the_evaluation_page_shows_score_pys_figures(trained, evaluated):
    page_path = str(evaluated / 'page' / 'index.html')
    page = Page(page_path)
    images_open(page_path, page)
    hist = score.score_dirs(str(evaluated / 'segs'), str(trained['data'] / 'labels'), trained['ids'], len(CLASSES))
    m = score.compute_metrics(hist)
    summary = page.body('summary')
    assert [r[0][0] for r in summary] == ['pixel accuracy', 'mean accuracy', 'mean IU', 'f.w. IU']
    for row, key in zip(summary, ('overall_acc', 'mean_acc', 'mean_iu', 'fwavacc')):
        assert same(row[1], m[key])
    classes = page.body('classes score')
    assert [r[1][0] for r in classes] == CLASSES
    for c, row in enumerate(classes):
        assert same(row[2], m['per_class_iu'][c]) and same(row[3], m['per_class_acc'][c])
        assert int(row[4][0]) == hist[c].sum() and int(row[5][0]) == hist[:, c].sum()
    assert {'score_classes.png', 'score_confusion.png', 'learning_curve.png'} <= set(page.images)
    assert len(page.body('segtests')) == 2      # the run's log.csv, beside the weights' snapshots/


def test_the_worst_and_best_images_come_in_their_order(trained, evaluated):
    page = Page(str(evaluated / 'page' / 'index.html'))
    own = []
    for k, i in enumerate(trained['ids']):
        pred = vis.read_label_png(str(evaluated / 'segs' / (i + '.png')))
        own.append((score.compute_metrics(score.fast_hist(trained['labels'][i], pred, len(CLASSES)))['mean_iu'], k, i))
    assert len({v for v, _, _ in own}) > 2, 'the tiny net should score its images differently'
    worst = sorted(own)[:2]
    best = sorted(own, key=lambda e: (-e[0], e[1]))[:2]
    for cls, expected in (('worst score', worst), ('best score', best)):
        rows = page.body(cls)
        assert [r[1][0] for r in rows] == [i for _, _, i in expected]
        assert all(same(r[2], v) for r, (v, _, _) in zip(rows, expected))
        assert all([len(cell[2]) for cell in r[3:]] == [1, 1, 1] for r in rows)


def test_extremes_keep_the_lowest_and_highest_in_order():
    kept = report.Extremes(2)
    for k, v in enumerate([0.5, float('nan'), 0.2, 0.9, 0.2, 0.9, 0.7]):
        kept.offer('i%d' % k, v, lambda: None)
    assert [e[2] for e in kept.worst] == ['i2', 'i4']
    assert [e[2] for e in kept.best] == ['i3', 'i5']


def spoil(root):
    """A label of the wrong size (all background: check() counts it) and one with colours outside the
    palette (not counted); their ids."""
    Image.fromarray(np.zeros((20, 30, 3), np.uint8), 'RGB').save(str(root / 'labels' / 'tr01.png'))
    path = str(root / 'labels' / 'tr02.png')
    rgb = np.array(Image.open(path).convert('RGB'))
    rgb[5:9, 5:12] = (1, 2, 3)
    Image.fromarray(rgb, 'RGB').save(path)
    return ['tr01', 'tr02']


def test_the_dataset_page_shows_pixels_sizes_images_and_every_problem(tmp_path, capsys):
    data = tmp_path / 'data'
    labels = make_dataset(data, labels='rgb', n_train=6, n_val=2)
    spoiled = spoil(data)
    labels['tr01'] = np.zeros((20, 30), np.uint8)
    rc = cli.run(check.main, [str(data), '--report', str(tmp_path / 'page')], prog='check.py')
    assert rc == 2 and 'report page: ' in capsys.readouterr().out
    page_path = str(tmp_path / 'page' / 'index.html')
    page = Page(page_path)
    images_open(page_path, page)
    problems = {r[0][0]: r for r in page.body('problems')}
    assert set(problems) == {'labels/tr01.png', 'labels/tr02.png'}
    assert 'label is 20x30' in problems['labels/tr01.png'][1][0]
    assert len(problems['labels/tr01.png'][2][2]) == 2          # its image and the label, at one scale
    assert len(problems['labels/tr02.png'][2][2]) == 3          # and the colours outside the palette marked
    with Image.open(str(tmp_path / 'page' / problems['labels/tr02.png'][2][2][2])) as im:
        assert (255, 0, 255) in [c for _, c in im.convert('RGB').getcolors(1 << 16)]
    n = len(CLASSES)
    rows = page.body('pixels')
    assert [r[1][0] for r in rows] == CLASSES + ['void']
    for k, split in enumerate(('train', 'val')):
        counted = np.zeros(256, np.int64)
        for i, label in labels.items():
            if i.startswith(split[:2]) and i != 'tr02':
                counted += np.bincount(label.ravel(), minlength=256)
        shown = [int(r[2 + 2 * k][0]) for r in rows]
        assert shown == list(counted[:n]) + [counted[255]]
        for c, r in enumerate(rows[:n]):
            assert same(r[3 + 2 * k], counted[c] / counted[:n].sum())
    assert [r[0][0] for r in page.body('sizes')] == ['40 x 48']
    grid = [s for s in page.images if s.startswith('train_')]
    assert grid and all(s[len('train_'):-4] not in spoiled for s in grid)


def test_every_published_figure_stands_beside_the_measured_one_of_its_head(tmp_path):
    from fcn import evaluation
    from models import records
    rec = records.get('siftflow-fcn16s')                      # two heads, five published figures
    rng = np.random.RandomState(3)
    hists = {}
    for out in rec.outputs:
        n = len(out.class_names())
        hists[out.blob] = rng.randint(0, 50, size=(n, n))
    metrics = {blob: score.compute_metrics(h) for blob, h in hists.items()}
    ev = evaluation.Evaluation(rec, 'w.caffemodel', ['a', 'b'], metrics, False, hists)
    page_path = report.evaluation_page(ev, str(tmp_path / 'page'))
    page = Page(page_path)
    images_open(page_path, page)
    rows = {r[0][0]: r for r in page.body('summary')}
    assert len(rows) == 8
    for out in rec.outputs:
        for key, title in report.SUMMARY:
            row = rows['%s: %s' % (out.title, title)]
            assert same(row[1], metrics[out.blob][key])
            published = [p for p in rec.published if p.output == out.blob and p.metric == key]
            assert row[2][0] == ('; '.join('%.1f (%s, %s)' % (p.value, p.split, p.source) for p in published) or '-')
    assert sum(row[2][0] != '-' for row in rows.values()) == len(rec.published)
    for out in rec.outputs:
        classes = page.body('classes ' + out.blob)
        assert [r[1][0] for r in classes] == out.class_names()
        assert all(same(r[2], v) for r, v in zip(classes, metrics[out.blob]['per_class_iu']))


def test_a_dataset_without_classes_still_gets_its_page_of_problems(tmp_path):
    from fcn import dataset
    data = tmp_path / 'data'
    make_dataset(data, n_train=2, n_val=1, classes=False)
    (data / 'val.txt').write_text('')
    page_path = report.dataset_page(dataset.check(str(data)), str(tmp_path / 'page'))
    problems = {r[0][0]: r[1][0] for r in Page(page_path).body('problems')}
    assert set(problems) == {'classes.txt', 'val.txt'} and 'the val split is empty' in problems['val.txt']
    assert not [f for f in os.listdir(str(tmp_path / 'page')) if f.endswith('.tmp')]
