"""fcn.readers: images in every mode, unreadable files, grayscale and label images, label checks."""
import os
import re

import numpy as np
import pytest
from PIL import Image

from fcn import readers
from fcn.readers import DataError

WHO = 'TestLayer'


def read_back(tmp_path, im, fmt, name='im'):
    path = str(tmp_path / name)
    im.save(path, fmt)
    return path, readers.read_rgb(path, 'image', WHO)


def test_read_rgb_modes(tmp_path):
    rng = np.random.RandomState(0)
    rgb = rng.randint(0, 256, (5, 6, 3)).astype(np.uint8)
    gray = rng.randint(0, 256, (5, 6)).astype(np.uint8)

    _, got = read_back(tmp_path, Image.fromarray(rgb), 'PNG')
    assert got.dtype == np.uint8 and got.shape == (5, 6, 3)
    np.testing.assert_array_equal(got, rgb)

    _, got = read_back(tmp_path, Image.fromarray(gray), 'PNG')  # L: replicated
    np.testing.assert_array_equal(got, np.repeat(gray[:, :, None], 3, axis=2))

    rgba = np.concatenate([rgb, rng.randint(0, 256, (5, 6, 1)).astype(np.uint8)], axis=2)
    _, got = read_back(tmp_path, Image.fromarray(rgba), 'PNG')  # RGBA: alpha dropped
    np.testing.assert_array_equal(got, rgb)

    pal = Image.fromarray(gray)
    pal.putpalette(rng.randint(0, 256, 768).astype(np.uint8).tolist())
    path, got = read_back(tmp_path, pal, 'PNG')  # P: palette looked up
    np.testing.assert_array_equal(got, np.array(Image.open(path).convert('RGB')))

    cmyk = Image.fromarray(rgb).convert('CMYK')
    path, got = read_back(tmp_path, cmyk, 'JPEG')
    with Image.open(path) as im:
        assert im.mode == 'CMYK'
        want = np.array(im.convert('RGB'))
    np.testing.assert_array_equal(got, want)

    wide = (rng.randint(0, 65536, (5, 6))).astype(np.uint16)
    path, got = read_back(tmp_path, Image.fromarray(wide), 'PNG')  # 16-bit: scaled, not clipped
    with Image.open(path) as im:
        assert im.mode.startswith('I')
    want = np.rint(wide / 257.0).astype(np.uint8)
    np.testing.assert_array_equal(got, np.repeat(want[:, :, None], 3, axis=2))


def test_unreadable_and_missing_images(tmp_path):
    bad = tmp_path / 'bad.jpg'
    bad.write_bytes(b'this is not an image')
    with pytest.raises(DataError, match=re.escape(str(bad))):
        readers.read_rgb(str(bad), 'image', WHO)
    truncated = tmp_path / 'trunc.jpg'
    Image.fromarray(np.zeros((64, 64, 3), np.uint8) + 90).save(str(truncated), 'JPEG')
    truncated.write_bytes(truncated.read_bytes()[:200])
    with pytest.raises(DataError, match=re.escape(str(truncated))):
        readers.read_rgb(str(truncated), 'image', WHO)
    missing = tmp_path / 'nope.jpg'
    with pytest.raises(FileNotFoundError, match='TestLayer: image not found: ' + re.escape(str(missing))):
        readers.read_rgb(str(missing), 'image', WHO)


def test_read_gray_and_label_png(tmp_path):
    depth = np.arange(1, 31, dtype=np.uint16).reshape(5, 6) * 1000
    Image.fromarray(depth).save(str(tmp_path / 'd.png'))
    got = readers.read_gray(str(tmp_path / 'd.png'), 'depth', WHO)
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, depth)
    Image.fromarray(np.zeros((2, 2, 3), np.uint8)).save(str(tmp_path / 'c.png'))
    with pytest.raises(DataError, match="mode 'RGB'; expected a single-channel"):
        readers.read_gray(str(tmp_path / 'c.png'), 'depth', WHO)
    with pytest.raises(DataError, match="must hold class indices"):
        readers.read_label_png(str(tmp_path / 'c.png'), 'label', WHO)


# -- labels --------------------------------------------------------------------------


def test_check_labels():
    ok = np.array([[0, 20], [255, 3]], dtype=np.uint8)
    got = readers.check_labels(ok, 0, 20, (255,), 'x.png', WHO, 'classes 0..20 or void 255')
    assert got.dtype == np.int64
    np.testing.assert_array_equal(got, ok)
    with pytest.raises(DataError, match=r'TestLayer: label x.png has values \[21, 77\] outside classes'):
        readers.check_labels(np.array([[0, 21], [77, 21]]), 0, 20, (255,), 'x.png', WHO, 'classes 0..20 or void 255')
    with pytest.raises(DataError, match=r'non-integer values \[1.5\]'):
        readers.check_labels(np.array([[0, 1.5]]), 0, 20, (), 'x.mat', WHO, 'classes')
    with pytest.raises(DataError, match='2-D'):
        readers.check_labels(np.zeros((2, 2, 3)), 0, 20, (), 'x.mat', WHO, 'classes')


def _project_imports(path, modules):
    """The project modules a file imports, at its top level or inside a function, except in a
    module's own __getattr__ (PEP 562), which runs only when an attribute is asked of the module
    already imported (fcn.segment)."""
    import ast
    tree = ast.parse(open(path).read())
    lazy = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == '__getattr__']
    skipped = {id(n) for f in lazy for n in ast.walk(f)}
    found = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module] + ['%s.%s' % (node.module, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):  # relative: within a package
            package = os.path.basename(os.path.dirname(path))
            base = package + ('.' + node.module if node.module else '')
            names = [base] + ['%s.%s' % (base, a.name) for a in node.names]
        else:
            continue
        found.update(n for n in names if n in modules)
    return found


def test_no_import_cycle_and_no_reading_through_layers():
    """fcn.readers stands on nothing of the project; the library, the records and infer.py read files
    through it, never through the data layers' package; the imports of fcn/, models/, layers/ and
    the root scripts (a function's own included) form no cycle."""
    import glob
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    files = {}
    for pattern in ('fcn/*.py', 'models/*.py', 'layers/*.py', '*.py'):
        for path in glob.glob(os.path.join(root, pattern)):
            rel = os.path.relpath(path, root)[:-3].replace(os.sep, '.')
            files[rel[:-len('.__init__')] if rel.endswith('.__init__') else rel] = path
    graph = {m: _project_imports(p, set(files)) - {m} for m, p in files.items()}
    assert graph['fcn.readers'] == set()
    for m, deps in graph.items():
        if m.split('.')[0] in ('fcn', 'models') or m == 'infer':
            assert not any(d.split('.')[0] == 'layers' for d in deps), (m, deps)

    state = {}

    def visit(m, trail):
        if state.get(m) == 'done':
            return
        assert state.get(m) != 'open', 'import cycle: %s' % ' -> '.join(trail + [m])
        state[m] = 'open'
        for d in sorted(graph[m]):
            visit(d, trail + [m])
        state[m] = 'done'

    for m in sorted(graph):
        visit(m, [])
