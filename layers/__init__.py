"""FCN's Python data layers, one module per dataset.

Each layer is a `caffe.Layer` (pycaffe's API, through `backend`) that a
prototxt names as

    layer { type: "Python" top: "data" top: "label"
            python_param { module: "layers.voc" layer: "VOCSegDataLayer"
                           param_str: "{'voc_dir': ..., 'split': ..., 'mean': (...)}" } }

with the repository root on sys.path.  The class names and the param_str keys
are those of the original FCN release, so its prototxts' param_str strings work
as they are.

    layers.voc            VOCSegDataLayer, SBDDSegDataLayer
    layers.siftflow       SIFTFlowSegDataLayer
    layers.nyud           NYUDSegDataLayer
    layers.pascalcontext  PASCALContextSegDataLayer
    layers.common         what they share: param_str parsing, split files, ordering,
                          batches, prefetching (files are read through fcn.readers)
    layers.augment        random mirror, scale and crop (param_str keys, off by default)

The package imports nothing itself, so `import layers.voc` pulls in only what
that layer needs.
"""
