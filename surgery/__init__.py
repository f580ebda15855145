"""Net surgery for FCNs: turn a classifier's weights into an FCN's starting point.

    transplant(new_net, net, suffix='')   copy params by layer name; fully connected
                                          weights go into equivalent convolutions
    interp(net, layers)                   bilinear, class-diagonal Deconvolution weights
    expand_score(new_net, new_layer, net, layer)
                                          carry a score layer over to more classes
    expand_input(new_net, new_layer, net, layer)
                                          carry a first convolution over to more input
                                          channels (NYUDv2 color + depth)
    upsample_filt(size)                   the 2-D bilinear kernel itself
    convolutionalize(classifier_prototxt, classifier_weights, fcn_prototxt)
                                          all of it in one call

Nets are pycaffe ``caffe.Net`` objects from ``backend`` (torchcaffe or BVLC
pycaffe); only ``net.params``, ``net.layer_dict`` and blob ``.data`` are used.
Progress goes to the ``surgery`` logger.
"""
import logging

import numpy as np

from backend import caffe

__all__ = ['SurgeryError', 'transplant', 'interp', 'expand_score', 'expand_input', 'upsample_filt',
           'deconv_layers', 'convolutionalize']

log = logging.getLogger(__name__)


class SurgeryError(ValueError):
    """Parameters that cannot be moved or set as asked."""


def transplant(new_net, net, suffix=''):
    """Copy the parameters of ``net`` into ``new_net``, matching layers by name.

    Layer ``name`` of ``net`` goes to layer ``name + suffix`` of ``new_net``.
    Blobs of equal shape are copied; blobs of different shape but the same
    number of values are copied flat ("coerced"): that is how a fully
    connected layer (O x I) becomes its equivalent convolution (O x C x H x W
    with I = C*H*W), since both order their weights the same way.  Layers
    ``new_net`` lacks, and blobs beyond the ones it has, are dropped.

    Everything is checked before anything is written; a pair of blobs whose
    value counts differ raises SurgeryError and leaves ``new_net`` untouched.
    Returns ``{'copied': [...], 'coerced': [...], 'dropped': [...]}`` listing
    ``(layer, blob index)`` pairs.
    """
    report = {'copied': [], 'coerced': [], 'dropped': []}
    plan = []
    new_params = new_net.params
    for name, blobs in net.params.items():
        target = name + suffix
        if target not in new_params:
            log.info('dropping %s (no layer %s in the new net)', name, target)
            report['dropped'].append((name, None))
            continue
        new_blobs = new_params[target]
        for i, blob in enumerate(blobs):
            if i >= len(new_blobs):
                log.info('dropping %s param %d (%s has %d)', name, i, target, len(new_blobs))
                report['dropped'].append((name, i))
                continue
            src, dst = blob.data, new_blobs[i].data
            if src.shape == dst.shape:
                kind = 'copied'
            elif src.size == dst.size:
                kind = 'coerced'
            else:
                raise SurgeryError(
                    'cannot transplant %s param %d into %s: %d values of shape %s do not fit '
                    '%d values of shape %s (an fc layer becomes a convolution only if the '
                    'convolution sees exactly the fc layer\'s input: same channels and a '
                    'kernel the size of the input map)'
                    % (name, i, target, src.size, src.shape, dst.size, dst.shape))
            plan.append((kind, name, target, i, blob, new_blobs[i]))
    for kind, name, target, i, blob, new_blob in plan:
        src = blob.data
        dst = new_blob.data
        log.info('%s %s -> %s param %d %s%s', 'coercing' if kind == 'coerced' else 'copying',
                 name, target, i, src.shape, '' if kind == 'copied' else ' to %s' % (dst.shape,))
        dst[...] = src.reshape(dst.shape)
        report[kind].append((name, i))
    return report


def upsample_filt(size):
    """A size x size bilinear interpolation kernel (peak 1 at the center).

    For even sizes the center falls between pixels; used by a Deconvolution of
    stride s with kernel 2s (or 2s - 1) it interpolates bilinearly.
    """
    size = int(size)
    if size < 1:
        raise SurgeryError('kernel size must be positive, not %d' % size)
    factor = (size + 1) // 2
    center = factor - 1 if size % 2 == 1 else factor - 0.5
    ramp = 1 - np.abs(np.arange(size) - center) / factor
    return np.outer(ramp, ramp)


def interp(net, layers):
    """Set the weights of each Deconvolution in ``layers`` to bilinear interpolation.

    Weights have shape (in, out, k, k); each input channel is upsampled into
    the output channel of the same index (class-diagonal), all other weights
    are zero.  As in the reference release, out == 1 is also accepted (one
    kernel per group).  Raises SurgeryError for non-square kernels or
    in/out channel counts that do not pair up.
    """
    for name in layers:
        if name not in net.params:
            raise SurgeryError('interp: the net has no layer %r with parameters' % name)
        w = net.params[name][0].data
        if w.ndim != 4:
            raise SurgeryError('interp: %s weights have shape %s, not (in, out, h, w)'
                               % (name, w.shape))
        m, k, h, wd = w.shape
        if m != k and k != 1:
            raise SurgeryError('interp: %s has %d input and %d output channels; they must be '
                               'equal (or output 1 per group)' % (name, m, k))
        if h != wd:
            raise SurgeryError('interp: %s kernel is %dx%d; bilinear kernels must be square'
                               % (name, h, wd))
        w[...] = 0
        w[np.arange(m), np.arange(k) if k == m else 0] = upsample_filt(h)
        log.info('interp %s: %d bilinear %dx%d kernels', name, m, h, h)


def expand_score(new_net, new_layer, net, layer):
    """Copy score layer ``layer`` of ``net`` (k classes) into the first k outputs
    of ``new_layer`` of ``new_net`` (k' >= k classes); the rest are left as they are."""
    old, new = net.params[layer], new_net.params[new_layer]
    old_w, new_w = old[0].data, new[0].data
    k, k_new = old_w.shape[0], new_w.shape[0]
    if k > k_new:
        raise SurgeryError('expand_score: %s has %d outputs, fewer than %s\'s %d'
                           % (new_layer, k_new, layer, k))
    if old_w[0].size != new_w[0].size:
        raise SurgeryError('expand_score: a %s filter has %d weights, a %s filter %d'
                           % (layer, old_w[0].size, new_layer, new_w[0].size))
    new_w[:k] = old_w.reshape((k,) + new_w.shape[1:])
    if len(old) > 1 and len(new) > 1:
        new[1].data.reshape(-1)[:k] = old[1].data.reshape(-1)
    log.info('expand_score %s (%d classes) -> %s (%d classes)', layer, k, new_layer, k_new)


def expand_input(new_net, new_layer, net, layer):
    """Fill convolution ``new_layer`` of ``new_net`` (O x C' x k x k, C' > C) from ``layer`` of ``net``
    (O x C x k x k): its first C input channels get the filters, each further channel their mean over
    the C channels, and the bias is copied, as the release's NYUDv2 early-fusion solve.py does for
    conv1_1_bgrd (BGR + depth) from VGG16's conv1_1."""
    old, new = net.params[layer], new_net.params[new_layer]
    old_w, new_w = old[0].data, new[0].data
    c = old_w.shape[1]
    if new_w.shape[0] != old_w.shape[0] or new_w.shape[2:] != old_w.shape[2:] or new_w.shape[1] <= c:
        raise SurgeryError('expand_input: %s is %s, which does not extend %s (%s) by input channels'
                           % (new_layer, tuple(new_w.shape), layer, tuple(old_w.shape)))
    new_w[:, :c] = old_w
    new_w[:, c:] = old_w.mean(axis=1, keepdims=True)
    if len(old) > 1 and len(new) > 1:
        new[1].data[...] = old[1].data
    log.info('expand_input %s (%d channels) -> %s (%d channels)', layer, c, new_layer, new_w.shape[1])


def deconv_layers(net):
    """Names of the net's Deconvolution layers that have weights (the upsampling layers)."""
    return [name for name, layer in net.layer_dict.items()
            if layer.type == 'Deconvolution' and name in net.params]


def convolutionalize(classifier_prototxt, classifier_weights, fcn_prototxt, phase=None,
                     suffix=''):
    """The FCN of ``fcn_prototxt`` initialized from a classifier, in one call.

    Loads the classifier with its weights, builds the FCN (TEST phase unless
    ``phase`` says otherwise), transplants the classifier's parameters into it
    (fc layers into their convolutional twins) and makes every Deconvolution
    a bilinear upsampler.  Returns the FCN ``caffe.Net``; save it with
    ``net.save(path)``.
    """
    phase = caffe.TEST if phase is None else phase
    classifier = caffe.Net(classifier_prototxt, classifier_weights, caffe.TEST)
    fcn = caffe.Net(fcn_prototxt, phase)
    transplant(fcn, classifier, suffix=suffix)
    interp(fcn, deconv_layers(fcn))
    return fcn
