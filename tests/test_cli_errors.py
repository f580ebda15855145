"""Every command line meets ordinary mistakes with one short message: a non-zero exit, no traceback,
at most 3 lines on stderr, and the file at fault named.  Each case is a real process."""
import os
import subprocess
import sys

import pytest

from solve_helpers import make_tiny_fcn

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

DEPLOY = '''layer { name: "input" type: "Input" top: "data" input_param { shape { dim: 1 dim: 3 dim: 8 dim: 8 } } }
layer { name: "score" type: "Convolution" bottom: "data" top: "score" convolution_param { num_output: 3 kernel_size: 1 } }
'''


@pytest.fixture(scope='module')
def files(tmp_path_factory):
    """A tiny trainable net, a deploy net, an image, and bad files of each kind."""
    tmp = tmp_path_factory.mktemp('cli')
    net_dir, ids = make_tiny_fcn(tmp)
    deploy = tmp / 'deploy-net'
    deploy.mkdir()
    (deploy / 'deploy.prototxt').write_text(DEPLOY)
    typo = tmp / 'typo-net'
    typo.mkdir()
    (typo / 'deploy.prototxt').write_text(DEPLOY.replace('kernel_size: 1', 'kernel_size 1'))
    broken_solver = tmp / 'broken-solver'
    broken_solver.mkdir()
    for f in os.listdir(net_dir):
        text = open(os.path.join(net_dir, f)).read()
        (broken_solver / f).write_text(text.replace('base_lr: 0.05', 'base_lr: 0.05 oops') if f == 'solver.prototxt'
                                       else text)
    no_data = tmp / 'no-data'
    no_data.mkdir()
    for f in os.listdir(net_dir):
        text = open(os.path.join(net_dir, f)).read()
        (no_data / f).write_text(text.replace(str(tmp / 'voc'), str(tmp / 'nowhere')))
    (tmp / 'empty.caffemodel').write_bytes(b'')
    (tmp / 'garbage.caffemodel').write_bytes(b'\xff' * 100)
    image = os.path.join(ROOT, 'tests', 'data', 'voc-2007_000129.jpg')
    return dict(tmp=str(tmp), net=net_dir, ids=ids, deploy=str(deploy), typo=str(typo),
                broken_solver=str(broken_solver), no_data=str(no_data), image=image,
                empty=str(tmp / 'empty.caffemodel'), garbage=str(tmp / 'garbage.caffemodel'))


CASES = {
    'solve: solver.prototxt typo': (['solve.py', '{broken_solver}', '--out', '{tmp}/o1'],
                                    '{broken_solver}/solver.prototxt:'),
    'solve: dataset missing': (['solve.py', '{no_data}', '--out', '{tmp}/o2'], '{tmp}/nowhere'),
    'solve: --iters below 1': (['solve.py', '{net}', '--iters', '-1'], '--iters'),
    'solve: unknown net': (['solve.py', 'no-such-net'], 'no-such-net'),
    'solve: --gpu without CUDA': (['solve.py', '{net}', '--gpu', '0', '--out', '{tmp}/o3'], 'CUDA'),
    'infer: empty caffemodel': (['infer.py', '{image}', '--net', '{deploy}', '--weights', '{empty}',
                                 '--out', '{tmp}/i1'], '{empty}'),
    'infer: not a caffemodel': (['infer.py', '{image}', '--net', '{deploy}', '--weights', '{garbage}',
                                 '--out', '{tmp}/i2'], '{garbage}'),
    'infer: missing weights': (['infer.py', '{image}', '--net', '{deploy}', '--weights', '{tmp}/none.caffemodel',
                                '--out', '{tmp}/i3'], '{tmp}/none.caffemodel'),
    'infer: prototxt typo': (['infer.py', '{image}', '--net', '{typo}', '--weights', '{empty}',
                              '--out', '{tmp}/i4'], '{typo}/deploy.prototxt:2'),
    'infer: --gpu without CUDA': (['infer.py', '{image}', '--net', '{deploy}', '--weights', '{empty}',
                                   '--gpu', '0', '--out', '{tmp}/i5'], 'CUDA'),
    'infer: --max-memory -1': (['infer.py', '{image}', '--max-memory', '-1'], '--max-memory'),
    'evaluate: no dataset': (['evaluate.py', '{no_data}', '--weights', '{empty}', '--val', '{ids}'],
                             '{tmp}/nowhere'),
    'evaluate: empty caffemodel': (['evaluate.py', '{net}', '--weights', '{empty}', '--val', '{ids}'], '{empty}'),
    'export_onnx: not a caffemodel': (['export_onnx.py', '--net', '{deploy}', '--weights', '{garbage}',
                                       '--out', '{tmp}/x.onnx'], '{garbage}'),
    'score: ids file missing': (['score.py', '--pred-dir', '{tmp}', '--gt-dir', '{tmp}', '--ids', '{tmp}/no-ids.txt'],
                                '{tmp}/no-ids.txt'),
    'download: unknown item': (['data/download.py', 'voc-fcn9s'], 'voc-fcn9s'),
    'check: no such dataset': (['data/check.py', '{tmp}/no-dataset'], '{tmp}/no-dataset'),
    'create: no such dataset': (['models/create.py', 'x-net', '--dataset', '{tmp}/no-dataset',
                                 '--models-dir', '{tmp}/m'], '{tmp}/no-dataset'),
}


@pytest.mark.parametrize('case', sorted(CASES))
def test_a_known_error_is_one_short_line_naming_the_file(case, files):
    args, named = CASES[case]
    argv = [a.format(**files) for a in args]
    env = dict(os.environ, OMP_NUM_THREADS='1', CUDA_VISIBLE_DEVICES='')
    done = subprocess.run([sys.executable, os.path.join(ROOT, argv[0])] + argv[1:], cwd=files['tmp'], env=env,
                          capture_output=True, text=True, timeout=300)
    err = done.stderr.strip()
    assert done.returncode != 0, (case, done.stdout[-500:])
    assert 'Traceback' not in err, err
    assert 1 <= len(err.splitlines()) <= 3, err
    assert named.format(**files) in err, err
