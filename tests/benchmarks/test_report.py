"""The report's judgement of the targets (benchmarks/report.py), on made-up figures."""
from benchmarks import report


def test_targets_say_met_or_by_how_much_they_were_missed():
    class Args:
        gpu = None
    plain = {'fwd_s': 1.0, 'fb_s': 4.0}
    lines = report.targets_section(Args, {('voc-fcn8s', '500x500', 'faithful'): ({'fwd_s': 1.02, 'fb_s': 4.4}, plain)})
    text = '\n'.join(lines)
    assert 'forward: +2.0% (target <= +5%): met' in text
    assert 'forward+backward: +10.0% (target <= +5%): missed by 5.0 points' in text
    assert "forward 2.50 s against torchcaffe's 1.32-1.55 s, torchcaffe about 1.7x faster" in text
    assert "forward+backward (score diff 1, force_backward) 6.96 s against torchcaffe's 6.02 s" in text
    assert 'BVLC Caffe (master 9b89154, CPU_ONLY, OpenBLAS, 2 threads' in text
    assert '1.02 s against' not in text          # Caffe's figures are never divided by this run's
    assert 'not measured in this run (no GPU)' in text


def test_a_refreshed_section_keeps_its_place_and_the_others(tmp_path):
    path = tmp_path / 'B.md'
    path.write_text('# Benchmarks\n\n## A\n\nold a\n\n## B\n\nold b\n')
    report.replace_section(str(path), '## A', '## A\n\nnew a\n')
    assert path.read_text() == '# Benchmarks\n\n## A\n\nnew a\n\n## B\n\nold b\n'
    report.replace_section(str(path), '## B', '## B\n\nnew b\n')
    report.replace_section(str(path), '## C', '## C\n\nc\n')
    assert path.read_text() == '# Benchmarks\n\n## A\n\nnew a\n\n## B\n\nnew b\n\n## C\n\nc\n'
