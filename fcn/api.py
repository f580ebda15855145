"""One call to segment an image from Python, as infer.py does from the command line.

    from fcn import segment
    labels = segment('photo.jpg', net='voc-fcn8s')                  # H x W uint8 class indices
    labels, probs = segment('photo.jpg', net='voc-fcn8s', scores=True, tta='flip')

The same record-driven inputs, memory budget, tiling and test-time
augmentation as infer.py (fcn/inference.py), which is a command line over it.
"""
from fcn import device, inference, weights
from models import records

_SEGMENTERS = {}


def segment(image, net='voc-fcn8s', weights_path=None, depth=None, hha=None, max_memory=None, tile=None,
            resize=False, scores=False, tta=None, scales=(1.0,), gpu=None, allow_partial=False):
    """Segment one image file with a net (name, alias or folder) and its weights (default
    weights/<net>.caffemodel).

    Returns the H x W uint8 label map (a list of them, one per output, for nets with several outputs
    such as SIFT Flow's), and with scores=True a pair (labels, probabilities), the probabilities
    C x H x W float16 (a list per output likewise).  max_memory: bytes or a size such as '2G'
    (default: half the memory available); tile: None (tiles only when the whole pass does not fit),
    0 (the largest tiles that fit) or the kept side in pixels; resize: shrink a pass that does not fit
    instead of tiling; tta: None or 'flip'; scales: factors whose softmax is averaged; depth, hha:
    the extra inputs of NYUDv2 nets.  The net is loaded once per (net, weights, budget, device).

    Raises the project's errors (fcn.errors: NetNotFound, MissingFile, InputError, OverBudget, ...;
    fcn.readers.DataError for an unreadable image).
    """
    record = records.get(net)
    path = weights.locate(record.name, weights_path)
    budget = inference.parse_memory(max_memory) if isinstance(max_memory, str) else max_memory
    budget = budget or inference.default_budget()
    if tta not in (None, 'flip'):
        raise inference.InputError('tta=%r: the augmentation is None or \'flip\'' % (tta,))
    options = inference.Options(tile=tile, resize=resize, scores=scores, flip=tta == 'flip',
                                scales=tuple(float(s) for s in scales))
    key = (record.folder, path, budget, gpu, allow_partial)
    if key not in _SEGMENTERS:
        device.use(gpu)
        _SEGMENTERS.clear()
        _SEGMENTERS[key] = inference.Segmenter(record, path, budget, allow_partial=allow_partial)
    seg = _SEGMENTERS[key]
    seg.check(options)
    plan = inference.inputs_of([str(image)], record, {'depth': depth, 'hha': hha})
    result = seg.segment(plan[str(image)], options)
    labels = result.labels[0] if len(result.labels) == 1 else result.labels
    if not scores:
        return labels
    return labels, (result.probs[0] if len(result.probs) == 1 else result.probs)
