"""The pycaffe that FCN code runs on: torchcaffe by default, BVLC Caffe with FCN_BACKEND=caffe.

FCN modules do `from backend import caffe` and use only pycaffe's API, so the
same scripts run on either and their results can be compared.
"""
import importlib
import os

BACKENDS = ('torchcaffe', 'caffe')
name = os.environ.get('FCN_BACKEND', 'torchcaffe')
if name not in BACKENDS:
    raise ImportError('FCN_BACKEND=%r: choose one of %s' % (name, ', '.join(BACKENDS)))
caffe = importlib.import_module(name)
