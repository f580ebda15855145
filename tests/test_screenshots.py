"""docs/screenshots.py (make screenshots): one clear line when Chromium is missing, and a page shot
from disk, cut below its content, when it is installed."""
import importlib.util
import os
import shutil

import numpy as np
import pytest
from PIL import Image

from fcn import cli, paths

_spec = importlib.util.spec_from_file_location('screenshots', os.path.join(paths.ROOT, 'docs', 'screenshots.py'))
screenshots = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(screenshots)


def test_without_chromium_it_says_so_in_one_line(monkeypatch, capsys):
    monkeypatch.setattr(shutil, 'which', lambda name: None)
    assert cli.run(screenshots.main, [], prog='screenshots.py') == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and 'chromium is not installed' in err and 'apt-get install chromium' in err


@pytest.mark.skipif(not any(shutil.which(b) for b in screenshots.BROWSERS), reason='chromium is not installed')
def test_a_page_is_shot_from_disk_and_cut_below_its_content(tmp_path):
    page = tmp_path / 'index.html'
    Image.fromarray(np.full((300, 400, 3), (200, 0, 0), np.uint8)).save(str(tmp_path / 'red.png'))
    page.write_text('<!DOCTYPE html><html><body style="margin:0"><img src="red.png"></body></html>')
    png = screenshots.shoot(screenshots.browser(), str(page), str(tmp_path / 'shot.png'))
    with Image.open(png) as im:
        shot = np.asarray(im.convert('RGB'))
    scale = screenshots.SHOWN_WIDTH / screenshots.WIDTH
    assert shot.shape[1] == screenshots.SHOWN_WIDTH
    assert abs(shot.shape[0] - (300 + 20) * scale) <= 2              # the image and a margin, not 6000 rows
    red = (shot[..., 0] > 150) & (shot[..., 1] < 60)
    assert abs(red.sum() - 300 * 400 * scale ** 2) < 0.05 * 300 * 400 * scale ** 2
