"""models/records.py: every net's record agrees with its prototxts, and bad records are named."""
import json
import os

import pytest
from google.protobuf import text_format

import backend
from fcn import paths
from fcn.errors import NetNotFound, RecordError
from models import records

caffe_pb2 = __import__(backend.name + '.proto.caffe_pb2', fromlist=['caffe_pb2'])


def netparam(path):
    return text_format.Parse(open(path).read(), caffe_pb2.NetParameter())


def deploy_inputs(rec):
    """{blob: channels} of the deploy net's Input layer."""
    (layer,) = [lp for lp in netparam(rec.deploy).layer if lp.type == 'Input']
    return {top: shape.dim[1] for top, shape in zip(layer.top, layer.input_param.shape)}


def score_channels(rec, blob):
    """num_output of the layers feeding `blob` through the final crop: the class count."""
    layers = {lp.name: lp for lp in netparam(rec.deploy).layer}
    producer = {top: lp for lp in layers.values() for top in lp.top}
    lp = producer[blob]
    while not lp.convolution_param.num_output:
        lp = producer[lp.bottom[0]]
    return lp.convolution_param.num_output


@pytest.mark.parametrize('name', records.names())
def test_record_matches_the_deploy_net(name):
    rec = records.get(name)
    assert rec.name == name and rec.has_record
    assert deploy_inputs(rec) == {i.blob: i.channels for i in rec.inputs}
    for out in rec.outputs:
        assert score_channels(rec, out.blob) == len(out.class_names())


@pytest.mark.parametrize('name', records.names())
def test_record_matches_the_val_net_and_init(name):
    rec = records.get(name)
    val = netparam(rec.prototxt(rec.val_net))
    tops = {t for lp in val.layer for t in lp.top}
    for out in rec.outputs:
        assert out.blob in tops and out.label in tops
    kind, source = rec.init
    if kind == 'net':
        assert source in records.names()
    elif kind == 'classifier':
        assert os.path.isfile(os.path.join(paths.MODELS, 'ilsvrc', source, 'deploy.prototxt'))
    elif kind == 'streams':
        params = {lp.name for lp in netparam(rec.deploy).layer if lp.type == 'Convolution'}
        for suffix, net in rec.init_streams:
            assert net in records.names()
            # every convolution of the stream's net lands in this net's layer of the same name + suffix
            stream = {lp.name for lp in netparam(records.get(net).deploy).layer if lp.type == 'Convolution'}
            assert {n + suffix for n in stream if not n.startswith('score_fr')} <= params
    for new_layer, layer in rec.init_expand:
        assert new_layer in {lp.name for lp in netparam(rec.deploy).layer}
    for p in rec.published:
        assert p.output in {o.blob for o in rec.outputs} and 0 < p.value < 100 and p.source


def test_every_published_net_has_its_figures():
    """The release's and the papers' figures (models/*/README.md cites each source)."""
    want = {'voc-fcn32s': 63.6, 'voc-fcn16s': 65.0, 'voc-fcn8s': 65.5, 'voc-fcn8s-atonce': 65.4,
            'voc-fcn-alexnet': 48.0, 'nyud-fcn32s-color-hha': 32.8, 'siftflow-fcn16s': 39.5,
            'pascalcontext-fcn8s': 35.1}
    for name, miu in want.items():
        assert miu in [p.value for p in records.get(name).published if p.metric == 'mean_iu'], name
    geo = [p for p in records.get('siftflow-fcn16s').published if p.output == 'score_geo']
    assert [(p.metric, p.value) for p in geo] == [('overall_acc', 94.3)]


def test_aliases_and_folders_resolve():
    assert records.get('fcn8s').name == 'voc-fcn8s'
    assert records.get(os.path.join(paths.MODELS, 'voc-fcn8s')).name == 'voc-fcn8s'
    with pytest.raises(NetNotFound, match='no-such-net'):
        records.get('no-such-net')


def test_a_folder_without_a_record_is_a_voc_style_net(tmp_path):
    (tmp_path / 'deploy.prototxt').write_text('')
    rec = records.get(str(tmp_path))
    assert not rec.has_record and [i.blob for i in rec.inputs] == ['data'] and rec.outputs[0].blob == 'score'
    assert rec.inputs[0].modalities[0].mean == records.ILSVRC_MEAN


@pytest.mark.parametrize('edit, message', [
    (lambda d: d.pop('inputs'), "missing 'inputs'"),
    (lambda d: d['inputs'][0]['modalities'][0].update(kind='thermal'), "'thermal' is not one of"),
    (lambda d: d['inputs'][0]['modalities'][0].update(mean=[1.0]), 'a color mean has 3 values'),
    (lambda d: d['published'].append({'metric': 'miou', 'value': 1, 'split': 's', 'source': 's'}),
     "'miou' is not one of"),
    (lambda d: d.update(name='other'), 'differs from its folder'),
])
def test_a_malformed_record_is_named(tmp_path, edit, message):
    data = json.load(open(os.path.join(paths.MODELS, 'voc-fcn8s', 'record.json')))
    edit(data)
    folder = tmp_path / 'voc-fcn8s'
    folder.mkdir()
    (folder / 'record.json').write_text(json.dumps(data))
    with pytest.raises(RecordError, match=message) as e:
        records.load(str(folder))
    assert 'record.json' in str(e.value)


def test_record_that_is_not_json_names_the_line(tmp_path):
    (tmp_path / 'record.json').write_text('{\n  "name": "x",\n  oops\n}')
    with pytest.raises(RecordError, match=r'record.json:3: not valid JSON'):
        records.load(str(tmp_path))
