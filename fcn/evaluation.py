"""Score a net on its benchmark split, every output head, against the figures published for it.

The net's val (or test) prototxt reads the split through its own data layer, in the order of
the record's val ids; each forward gives one image's scores and ground truth.  One confusion
matrix per output head (SIFT Flow: semantic and geometric) gives the paper's four metrics
(score.compute_metrics), which `report` sets beside the record's published figures.

With test-time augmentation (flip, scales), the deploy net also segments each image's input blobs
mirrored and scaled (fcn.inference.tta_probs) and a second set of matrices scores the argmax of
the mean softmax: the report gives the metrics with and without.
"""
import os
import tempfile
from dataclasses import dataclass, field

import numpy as np
from tqdm import tqdm

import score
import vis
from backend import caffe
from fcn import inference, report as pages, training, valnet
from fcn.weights import load as load_weights, locate as locate_weights
from fcn.errors import MissingFile
from models import records


@dataclass
class Evaluation:
    """What `evaluate` measured: the record, the weights file, the ids scored, {score blob: metrics}."""
    record: records.Record
    weights: str
    ids: list
    metrics: dict
    partial: bool
    hists: dict = field(default_factory=dict)      # score blob: n x n confusion histogram (score.fast_hist)
    image_iu: dict = field(default_factory=dict)   # score blob: each image's own mean IU, in ids order
    extremes: dict = field(default_factory=dict)   # score blob: fcn.report.Extremes (with keep)
    tta_metrics: dict = None
    tta: str = ''


def evaluate(name, weights=None, val=None, limit=None, save=None, allow_partial=False, log=print,
             flip=False, scales=(1.0,), scores=False, keep=0):
    """Score `name` (net name, alias or folder) with `weights` (default weights/<net>.caffemodel) on
    its val split (or the split file `val`, ids or pairs of the same dataset, which the val net
    then reads: fcn.valnet), the first `limit` images when given.  With `save`,
    each head's predictions are written there as palette PNGs <id><suffix>.png, and with `scores`
    its probabilities too (<id><suffix>_scores.npy, float16 classes x H x W, and
    <id><suffix>_confidence.png).  flip, scales: test-time augmentation through the deploy net,
    scored beside the plain pass (tta_metrics); the saved files are then the augmented ones.  Raises
    MissingFile for missing weights, split or val net, ValNetError for a val net `val` cannot be
    given to, WeightsMismatch for a caffemodel that sets
    none of the net's layers (unless allow_partial); a partial one is a warning through `log`.
    Each image's own mean IU is scored from its own histogram; with `keep`, the `keep` worst and
    best images of each head are kept with their arrays (for fcn.report.evaluation_page)."""
    rec = records.get(name)
    path = locate_weights(rec.name, weights)
    ids = training.val_ids(rec, val)
    if not ids:
        raise MissingFile('%s has no validation split in its record; give one with --val' % rec.name)
    if limit:
        ids = ids[:limit]
    proto = rec.prototxt(rec.val_net) if rec.val_net else ''
    if not os.path.isfile(proto):
        raise MissingFile('%s has no val or test prototxt (record val_net %r)' % (rec.folder, rec.val_net))
    if val:                              # the val net reads the file itself, not its own split
        with tempfile.TemporaryDirectory() as tmp:
            net = caffe.Net(valnet.write(proto, val, os.path.join(tmp, 'val.prototxt')), caffe.TEST)
    else:
        net = caffe.Net(proto, caffe.TEST)
    for warning in load_weights(net, path, allow_partial):
        log('warning: ' + warning)
    hists = {}
    image_iu = {out.blob: [] for out in rec.outputs}
    extremes = {out.blob: pages.Extremes(keep) for out in rec.outputs} if keep else {}
    tta = inference.Options(flip=flip, scales=tuple(scales)).tta
    deploy = None
    if tta:
        deploy = caffe.Net(rec.deploy, caffe.TEST)
        load_weights(deploy, path, True)
    tta_hists = {}
    if save:
        os.makedirs(save, exist_ok=True)
    for image_id in tqdm(ids, desc='scoring', leave=False, disable=None):
        net.forward()
        probs = None
        if tta:
            probs = inference.tta_probs(deploy, rec, {i.blob: net.blobs[i.blob].data[0] for i in rec.inputs},
                                        flip, scales)
        for k, out in enumerate(rec.outputs):
            blob = net.blobs[out.blob].data[0]
            pred = blob.argmax(0)
            n = blob.shape[0]
            label = net.blobs[out.label].data[0, 0]
            hist = score.fast_hist(label, pred, n)
            hists[out.blob] = hists.get(out.blob, 0) + hist
            image_iu[out.blob].append(score.compute_metrics(hist)['mean_iu'])
            if keep:
                extremes[out.blob].offer(image_id, image_iu[out.blob][-1],
                                         lambda: (pages.net_image(net, rec), np.array(label), pred))
            p = inference.softmax(blob) if probs is None else probs[k]
            if tta:
                pred = p.argmax(0)
                tta_hists[out.blob] = tta_hists.get(out.blob, 0) + score.fast_hist(label, pred, n)
            if save:
                stem = os.path.join(save, image_id + out.suffix)
                vis.save_label_png(stem + '.png', pred)
                if scores:
                    inference.save_probabilities(stem, p.astype(np.float16))
    metrics = {blob: score.compute_metrics(np.asarray(h)) for blob, h in hists.items()}
    tta_metrics = {blob: score.compute_metrics(np.asarray(h)) for blob, h in tta_hists.items()} or None
    what = ', '.join((['flip'] if flip else []) + (['scales ' + ','.join('%g' % s for s in scales)]
                                                   if tuple(scales) != (1.0,) else []))
    return Evaluation(rec, path, ids, metrics, bool(limit), hists, image_iu, extremes, tta_metrics, what)


def report(ev):
    """The text of an Evaluation: per head, the per-class table and summary metrics, then every
    published figure beside the measured one."""
    lines = ['%s on %d images with %s' % (ev.record.name, len(ev.ids), ev.weights)]
    for out in ev.record.outputs:
        names = out.class_names() if out.classes else None
        m = ev.metrics[out.blob]
        if names is not None and len(names) != len(m['per_class_iu']):
            names = None
        if len(ev.record.outputs) > 1:
            lines.append('')
            lines.append('%s (%s)' % (out.title or out.blob, out.blob))
        lines.append(score.format_report(m, names))
    if ev.record.published:
        lines.append('')
        lines.append('%-22s %9s %9s  %s' % ('published figure', 'published', 'measured', 'split (source)'))
    for p in ev.record.published:
        title = SUMMARY[p.metric]
        if len(ev.record.outputs) > 1:
            title = '%s %s' % (ev.record.output(p.output).title or p.output, title)
        measured = 100 * ev.metrics[p.output][p.metric]
        lines.append('%-22s %9.1f %9.1f  %s (%s)' % (title, p.value, measured, p.split, p.source))
    if ev.tta_metrics:
        lines.append('')
        lines.append('%-22s %9s %9s  (test-time augmentation: %s)' % ('metric', 'plain', 'augmented', ev.tta))
        for out in ev.record.outputs:
            head = (out.title or out.blob) + ' ' if len(ev.record.outputs) > 1 else ''
            for metric, title in SUMMARY.items():
                lines.append('%-22s %9.1f %9.1f' % (head + title, 100 * ev.metrics[out.blob][metric],
                                                    100 * ev.tta_metrics[out.blob][metric]))
    if ev.partial and ev.record.published:
        lines.append('measured on a subset: compare on the full split')
    return '\n'.join(lines)


SUMMARY = {'overall_acc': 'pixel accuracy', 'mean_acc': 'mean accuracy', 'mean_iu': 'mean IU',
           'fwavacc': 'f.w. IU'}
