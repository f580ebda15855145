"""With FCN_BACKEND=caffe, nothing on the way to training, inference, evaluation, surgery or the
data layers imports torchcaffe: BVLC's pycaffe and torchcaffe each register a caffe_pb2, and the
two cannot share a process.  A bare module named `caffe`, which answers every attribute, stands in
for pycaffe here, so that any import of torchcaffe can only come from the FCN code itself."""
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

FAKE_CAFFE = '''
class Layer:
    pass


class _Anything:
    def __getattr__(self, name):
        return _Anything()

    def __call__(self, *args, **kwargs):
        return _Anything()


def __getattr__(name):
    return _Anything()
'''

MODULES = ['fcn.training', 'fcn.evaluation', 'fcn.inference', 'fcn.weights', 'fcn.dataset', 'fcn.download',
           'fcn.cli', 'models.records', 'models.common', 'models.custom', 'surgery', 'score', 'vis', 'plots',
           'layers.voc', 'layers.nyud', 'layers.siftflow', 'layers.pascalcontext', 'layers.folder']
SCRIPTS = ['solve.py', 'evaluate.py', 'infer.py', 'score.py', 'demo.py', 'export_onnx.py']


def test_the_fcn_code_imports_no_torchcaffe_on_the_caffe_backend(tmp_path):
    (tmp_path / 'caffe').mkdir()
    (tmp_path / 'caffe' / '__init__.py').write_text(FAKE_CAFFE)
    code = ('import importlib, runpy, sys\n'
            'for m in %r: importlib.import_module(m)\n'
            'for s in %r: runpy.run_path(s, run_name="imported")\n'
            'print(sorted(m for m in sys.modules if m.split(".")[0] == "torchcaffe"))\n'
            % (MODULES, [os.path.join(ROOT, s) for s in SCRIPTS]))
    env = dict(os.environ, FCN_BACKEND='caffe', PYTHONPATH=os.pathsep.join([str(tmp_path), ROOT]))
    done = subprocess.run([sys.executable, '-c', code], env=env, cwd=str(tmp_path), capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().splitlines()[-1] == '[]'
