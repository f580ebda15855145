"""The FCN toolkit's library: what the command lines (solve.py, infer.py, evaluate.py,
score.py, export_onnx.py, demo.py, data/download.py) call.

    fcn.segment    segment one image from Python: labels = fcn.segment('photo.jpg', net='voc-fcn8s')
    fcn.api        where fcn.segment lives
    fcn.paths      where nets, datasets, weights and outputs live
    fcn.errors     the exceptions the library raises for problems a user can fix
    fcn.cli        the boundary every command line goes through: a known error is one line
    fcn.training   the paper's training: initialization, solving, seg tests, snapshots, resume
    fcn.inference  segmenting images with a deploy net within a memory budget
    fcn.tiling     tiles whose scores are the whole image's: the net's pooling grid and reach
    fcn.evaluation scoring a net on its benchmark split against the published figures
    fcn.weights    which caffemodel a net loads, checked against the net before copy_from
    fcn.readers    reading images, label maps, depth, HHA, .mat files and palettes
    fcn.dataset    a user's own dataset: its layouts, reading, and every problem before training
    fcn.class_weights  per-class loss weights from a train split's pixels (median or inverse frequency)
    fcn.report     the report pages: evaluation, dataset check, training run
    fcn.download   the datasets and published weights, fetched only when asked
    fcn.device     the CPU or a CUDA device for the nets
    fcn.files      files written whole (temporary file, then rename)

Per-net facts live in one record per net (models/records.py), which all of these read.
Library modules raise; they never print for the user or exit.
"""


def __getattr__(name):
    """fcn.segment (fcn.api.segment), imported on first use: importing fcn stays light."""
    if name == 'segment':
        from fcn.api import segment
        return segment
    raise AttributeError('module %r has no attribute %r' % (__name__, name))
