"""fcn/download.py and data/download.py against a local HTTP server on 127.0.0.1: resuming a .part
(with and without Range support, after a connection lost midway), checksums, files copied in by
hand, failures that do not stop the other items, and every listed name being downloadable."""
import dataclasses
import hashlib
import importlib.util
import io
import os
import re
import subprocess
import sys
import tarfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest
from PIL import Image

from fcn import cli, download, paths
from fcn.errors import DownloadError
from models import records

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class Handler(BaseHTTPRequestHandler):
    """GET /<mode>/<name>: mode 'range' answers Range requests (206), 'plain' ignores them (200),
    'broken' sends half of what it announces and closes.  Each answer is logged (path, Range asked,
    status, bytes of body sent) before it is sent, so the log is complete when the client has it."""

    def do_GET(self):
        mode, _, name = self.path.lstrip('/').partition('/')
        data = self.server.files.get(name)
        asked = self.headers.get('Range')
        if data is None:
            self.server.log.append((self.path, asked, 404, 0))
            self.send_error(404)
            return
        start = 0
        if mode == 'range' and asked:
            start = int(re.fullmatch(r'bytes=(\d+)-', asked).group(1))
            if start >= len(data):
                self.server.log.append((self.path, asked, 416, 0))
                self.send_response(416)
                self.send_header('Content-Range', 'bytes */%d' % len(data))
                self.send_header('Content-Length', '0')
                self.end_headers()
                return
            self.send_response(206)
            self.send_header('Content-Range', 'bytes %d-%d/%d' % (start, len(data) - 1, len(data)))
        else:
            self.send_response(200)
        body = data[start:]
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        if mode == 'broken':
            body = body[:len(body) // 2]
        self.server.log.append((self.path, asked, 206 if start else 200, len(body)))
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    httpd = ThreadingHTTPServer(('127.0.0.1', 0), Handler)
    httpd.files, httpd.log = {}, []
    httpd.url = 'http://127.0.0.1:%d/' % httpd.server_address[1]
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()
    thread.join()


@pytest.fixture
def roots(tmp_path, monkeypatch):
    """A scratch data root and weights folder in place of the repository's."""
    monkeypatch.setattr(paths, 'DATA', str(tmp_path / 'data'))
    monkeypatch.setattr(paths, 'WEIGHTS', str(tmp_path / 'weights'))
    return tmp_path


def payload(size=300_000, seed=0):
    return np.random.default_rng(seed).integers(0, 256, size, dtype=np.uint8).tobytes()


def weights_item(name, url, data=None, kind='sha256'):
    checksum = (kind, hashlib.new(kind, data).hexdigest()) if data is not None else ()
    return download.Item(name, 'classifier', 'test weights', url, name + '.caffemodel', checksum)


def load_cli():
    spec = importlib.util.spec_from_file_location('download_cli', os.path.join(REPO, 'data', 'download.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_part_is_continued_with_a_range_request(server, tmp_path):
    data = payload()
    server.files['w'] = data
    dest = str(tmp_path / 'w.caffemodel')
    with open(dest + '.part', 'wb') as f:
        f.write(data[:100_000])
    said = []
    download.fetch(server.url + 'range/w', dest, ('sha256', hashlib.sha256(data).hexdigest()), say=said.append)
    assert open(dest, 'rb').read() == data
    assert not os.path.exists(dest + '.part')
    assert server.log == [('/range/w', 'bytes=100000-', 206, len(data) - 100_000)]
    assert any('continuing' in line for line in said)


def test_a_part_is_restarted_when_the_server_ignores_range(server, tmp_path):
    data = payload()
    server.files['w'] = data
    dest = str(tmp_path / 'w.caffemodel')
    with open(dest + '.part', 'wb') as f:
        f.write(b'stale bytes of another file')
    said = []
    download.fetch(server.url + 'plain/w', dest, ('md5', hashlib.md5(data).hexdigest()), say=said.append)
    assert open(dest, 'rb').read() == data
    assert [(status, sent) for _, _, status, sent in server.log] == [(200, len(data))]
    assert any('does not resume' in line for line in said)


def test_a_connection_lost_midway_keeps_the_part_and_the_next_run_continues_it(server, tmp_path):
    data = payload()
    server.files['w'] = data
    dest = str(tmp_path / 'w.caffemodel')
    checksum = ('sha1', hashlib.sha1(data).hexdigest())
    with pytest.raises(DownloadError, match='run again to continue'):
        download.fetch(server.url + 'broken/w', dest, checksum)
    assert not os.path.exists(dest)
    kept = open(dest + '.part', 'rb').read()
    assert kept == data[:len(data) // 2]
    download.fetch(server.url + 'range/w', dest, checksum)
    assert open(dest, 'rb').read() == data
    assert server.log[-1] == ('/range/w', 'bytes=%d-' % len(kept), 206, len(data) - len(kept))


def test_a_complete_part_is_verified_without_transferring_it_again(server, tmp_path):
    data = payload(50_000)
    server.files['w'] = data
    dest = str(tmp_path / 'w.caffemodel')
    with open(dest + '.part', 'wb') as f:
        f.write(data)
    download.fetch(server.url + 'range/w', dest, ('sha256', hashlib.sha256(data).hexdigest()))
    assert open(dest, 'rb').read() == data
    assert server.log == [('/range/w', 'bytes=50000-', 416, 0)]


@pytest.mark.parametrize('kind', ['md5', 'sha1', 'sha256'])
def test_a_checksum_mismatch_leaves_no_file(server, tmp_path, kind):
    data = payload(10_000)
    server.files['w'] = data
    dest = str(tmp_path / 'w.caffemodel')
    wrong = hashlib.new(kind, data + b'x').hexdigest()
    with pytest.raises(DownloadError, match='differs from the published %s' % wrong):
        download.fetch(server.url + 'range/w', dest, (kind, wrong))
    assert not os.path.exists(dest) and not os.path.exists(dest + '.part')


def test_an_unknown_checksum_kind_is_refused_before_downloading(server, tmp_path):
    server.files['w'] = payload(1000)
    with pytest.raises(DownloadError, match='kind one of md5, sha1, sha256'):
        download.fetch(server.url + 'range/w', str(tmp_path / 'w'), ('crc32', '0'))
    assert server.log == []


def test_a_verified_file_is_skipped_and_a_mismatching_one_fetched_again(server, tmp_path):
    data = payload(20_000)
    server.files['w'] = data
    dest = str(tmp_path / 'w.caffemodel')
    checksum = ('sha256', hashlib.sha256(data).hexdigest())
    with open(dest, 'wb') as f:
        f.write(data)
    said = []
    download.fetch(server.url + 'range/w', dest, checksum, say=said.append)
    assert server.log == [] and 'verified' in said[-1]
    with open(dest, 'wb') as f:
        f.write(data[:-1] + b'?')
    said.clear()
    download.fetch(server.url + 'range/w', dest, checksum, say=said.append)
    assert open(dest, 'rb').read() == data
    assert len(server.log) == 1 and any('fails its sha256 check' in line for line in said)


def test_a_file_without_checksum_gets_its_sha256_printed(server, tmp_path):
    data = payload(5000)
    server.files['w'] = data
    said = []
    download.fetch(server.url + 'range/w', str(tmp_path / 'w'), (), say=said.append)
    assert 'sha256 ' + hashlib.sha256(data).hexdigest() in said[-1]


def only(monkeypatch, *items):
    """Make the catalog hold just these items."""
    monkeypatch.setattr(download, 'DATASETS', {i.name: i for i in items if i.kind == 'dataset'})
    monkeypatch.setattr(download, 'CLASSIFIERS', {i.name: i for i in items if i.kind != 'dataset'})
    monkeypatch.setattr(download, 'net_weights', dict)


def test_a_failed_item_does_not_stop_the_next_and_the_exit_is_non_zero(server, roots, monkeypatch, capsys):
    good = payload(30_000, seed=1)
    server.files['good'] = good
    only(monkeypatch, weights_item('gone', server.url + 'range/gone'),
         weights_item('cut', server.url + 'broken/good', good),
         weights_item('good', server.url + 'range/good', good))
    rc = cli.run(load_cli().main, ['gone', 'cut', 'good'], prog='download.py')
    assert rc == 1
    assert open(paths.weights_path('good'), 'rb').read() == good
    assert not os.path.exists(paths.weights_path('gone')) and not os.path.exists(paths.weights_path('cut'))
    failed = [line for line in capsys.readouterr().err.splitlines() if line]
    assert len(failed) == 2
    assert re.match(r'\S+: failed: gone: ', failed[0]) and 'HTTP 404' in failed[0]
    assert re.match(r'\S+: failed: cut: ', failed[1]) and 'connection closed' in failed[1]


def voc2011_archive(path):
    """A VOCtrainval_25-May-2011.tar in the release's layout with one image and its label."""
    buf = io.BytesIO()
    Image.fromarray(np.zeros((8, 10, 3), np.uint8)).save(buf, 'JPEG')
    label = Image.fromarray(np.ones((8, 10), np.uint8), 'P')
    lbuf = io.BytesIO()
    label.save(lbuf, 'PNG')
    base = 'TrainVal/VOCdevkit/VOC2011/'
    members = {base + 'JPEGImages/2011_000001.jpg': buf.getvalue(),
               base + 'SegmentationClass/2011_000001.png': lbuf.getvalue(),
               base + 'ImageSets/Segmentation/val.txt': b'2011_000001\n'}
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with tarfile.open(path, 'w') as t:
        for name, content in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            t.addfile(info, io.BytesIO(content))
    return hashlib.md5(open(path, 'rb').read()).hexdigest()


def test_an_archive_copied_in_by_hand_is_unpacked_without_the_network(server, roots, monkeypatch, capsys):
    real = download.DATASETS['voc2011']
    item = dataclasses.replace(real, url=server.url + 'range/' + os.path.basename(real.url))
    md5 = voc2011_archive(item.path)
    item = dataclasses.replace(item, checksum=('md5', md5))
    only(monkeypatch, item)
    os.makedirs(paths.data_path('pascal'))
    with open(paths.data_path('pascal/seg11valid.txt'), 'w') as f:
        f.write('2011_000001\n')
    main = load_cli().main
    assert cli.run(main, ['voc2011'], prog='download.py') == 0
    assert server.log == []
    voc = paths.data_path('pascal/VOC2011')
    assert os.path.islink(voc)
    assert os.path.exists(os.path.join(voc, 'JPEGImages', '2011_000001.jpg'))
    assert open(os.path.join(voc, 'ImageSets', 'Segmentation', 'seg11valid.txt')).read() == '2011_000001\n'
    assert 'md5 verified' in capsys.readouterr().out
    assert cli.run(main, ['voc2011'], prog='download.py') == 0
    assert 'have voc2011 unpacked' in capsys.readouterr().out


def test_an_archive_in_another_layout_is_named_and_not_marked_unpacked(server, roots):
    item = download.DATASETS['voc2011']
    md5 = voc2011_archive(item.path)
    bad = dataclasses.replace(item, url=server.url + 'range/voc2011.tar', checksum=('md5', md5),
                              links=(('VOC2011', 'elsewhere/VOC2011'),), splits=())
    with pytest.raises(DownloadError, match='pascal/VOC2011/JPEGImages is missing'):
        download.get(bad)
    assert server.log == []
    assert not os.path.exists(paths.data_path('pascal/.voc2011.unpacked'))


def test_every_listed_name_is_downloadable_by_name():
    names = [line.split()[0] for line in download.listing()]
    assert {'voc2011', 'voc2012', 'sbd', 'voc2010', 'context', 'nyud', 'siftflow', 'voc', 'pascalcontext',
            'vgg16', 'caffenet', 'googlenet', 'voc-fcn8s', 'weights'} <= set(names)
    for name in names:
        assert download.resolve([name])
    with_weights = {n for n in records.names() if records.get(n).weights_url}
    assert with_weights <= set(names)
    assert set(download.groups()['weights']) == with_weights | set(download.CLASSIFIERS)


def test_a_net_by_name_or_alias_is_its_published_weights():
    (by_name,), (by_alias,) = download.resolve(['voc-fcn8s']), download.resolve(['fcn8s'])
    assert by_name == by_alias
    assert by_name.url == records.get('voc-fcn8s').weights_url
    assert by_name.path == paths.weights_path('voc-fcn8s')
    assert [i.name for i in download.resolve(['voc', 'voc2011', 'fcn8s', 'voc-fcn8s'])] == \
        ['voc2011', 'sbd', 'voc-fcn8s']


def test_a_net_without_published_weights_says_how_to_get_them():
    with pytest.raises(DownloadError, match='make train NET=voc-fcn-googlenet'):
        download.resolve(['voc-fcn-googlenet'])


def test_an_unknown_item_is_one_line_with_close_matches_and_exit_2():
    run = subprocess.run([sys.executable, os.path.join(REPO, 'data', 'download.py'), 'voc', 'voc-fcn8ss'],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 2
    assert run.stderr.count('\n') == 1
    assert run.stderr.startswith("download.py: error: unknown item 'voc-fcn8ss'") and 'voc-fcn8s' in run.stderr


def test_hint_names_the_command_that_fetches_the_weights():
    assert download.hint('fcn8s') == 'make weights NET=voc-fcn8s'
    assert download.hint(os.path.join(paths.MODELS, 'voc-fcn16s')) == 'make weights NET=voc-fcn16s'
    assert download.hint('vgg16') == 'make weights NET=vgg16'
    assert download.hint('voc-fcn-googlenet') is None
    assert download.hint('no-such-net') is None
    net = download.hint('fcn8s').split('NET=')[1]
    assert [i.path for i in download.resolve([net])] == [paths.weights_path('voc-fcn8s')]


def test_make_passes_the_item_to_download_py():
    def make(*args):
        out = subprocess.run(['make', '-n', '-C', REPO] + list(args), capture_output=True, text=True,
                             env={k: v for k, v in os.environ.items() if k != 'NET'})
        return [line for line in out.stdout.splitlines() if 'download.py' in line]
    assert make('weights')[0].endswith('data/download.py weights')
    assert make('weights', 'NET=fcn8s')[0].endswith('data/download.py fcn8s')
    assert make('data-nyud')[0].endswith('data/download.py nyud')


def test_the_readme_gives_every_item_with_its_url_and_checksum():
    readme = open(os.path.join(REPO, 'data', 'README.md')).read()
    for item in download.catalog().values():
        row = next((line for line in readme.splitlines() if line.startswith('| `%s` |' % item.name)), None)
        assert row is not None, item.name
        assert item.url in row and item.shown_path in row
        assert (item.checksum[1] if item.checksum else 'none published') in row
