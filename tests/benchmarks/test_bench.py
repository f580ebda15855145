"""`make bench` end to end on a tiny size: every measurement runs and lands in the
report, and the engine and its plain-PyTorch yardstick agree (no timing is asserted)."""
import re

from benchmarks import bench, folder, report


def table_rows(text, mode):
    section = text.split('## %s mode' % mode)[1].split('##')[0]
    return [line for line in section.splitlines() if line.startswith('| voc-')]


def test_bench_writes_a_report_for_both_modes(tmp_path):
    out = tmp_path / 'B.md'
    bench.main(['--nets', 'voc-fcn-alexnet', '--sizes', '96x64', '--reps', '1', '--warmup', '0',
                '--train-steps', '1', '--iter-size', '1', '--skip', 'deviation', '--out', str(out)])
    text = out.read_text()
    assert text.startswith('# Benchmarks')
    assert re.search(r' cores, \w+, (native|no native|unknown) bfloat16 ', text.splitlines()[2])   # what the CPU computes
    for mode in ('faithful', 'fast'):
        rows = table_rows(text, mode)
        assert len(rows) == 1
        cells = [c.strip() for c in rows[0].strip('|').split('|')]
        assert cells[:2] == ['voc-fcn-alexnet', '96x64']
        assert float(cells[3]) > 0 and float(cells[7]) > 0           # engine fwd, fwd+bwd seconds
        its, images = (float(c.strip('()')) for c in cells[12].split())    # train it/s (images/s)
        # 1 image an iteration: equal up to printing (images/s to 2 decimals, it/s to 3)
        assert its > 0 and abs(images - its) <= 0.005 + 0.0005 + 1e-9 and cells[13].endswith('%')
        same = float(cells[11])
        assert same < (1e-4 if mode == 'faithful' else 0.1), same
    assert 'with iter_size 1 for every net (--iter-size), so one iteration is 1 image.' in text
    assert re.search(r'Peak used for the % column: [0-9.]+ TFLOP/s \(measured, best dense kernel: float32 ', text)
    for mode in ('faithful', 'fast'):                 # the per-layer profile of a training pass
        section = text.split('## Where the time goes: voc-fcn-alexnet 96x64, %s mode' % mode)[1].split('##')[0]
        shares = [float(line.split('|')[5].strip(' %')) for line in section.splitlines()
                  if line.startswith('| ') and line.split('|')[1].strip() not in ('layer',)]
        assert 10 <= len(shares) <= 11 and 50 < sum(shares) <= 100.5, shares
    assert '## Targets' in text and 'not part of this run' in text
    bookkeeping = text.split(report.BOOKKEEPING_TITLE)[1].split('##')[0]
    rows = [line for line in bookkeeping.splitlines() if line.startswith('| forward')]
    assert len(rows) == 2 and 'the 25 layers voc-fcn-alexnet trains with' in bookkeeping   # 26, less its data layer
    for row in rows:
        cells = [c.strip() for c in row.strip('|').split('|')]
        assert float(cells[1]) > 0 and float(cells[2]) > 0    # engine, plain microseconds per layer
    compiled = text.split(report.COMPILED_TITLE)[1].split('##')[0]
    rows = [line for line in compiled.splitlines() if line.startswith('| voc-')]
    assert len(rows) == 1
    cells = [c.strip() for c in rows[0].strip('|').split('|')]
    assert float(cells[2]) > 0 and float(cells[3]) > 0 and float(cells[4]) > 0
    assert float(cells[6]) < 0.1          # compiled scores stay those of fast mode, up to rounding
    dropout = text.split(report.DROPOUT_TITLE)[1].split('##')[0]
    assert 'voc-fcn-alexnet 96x64' in dropout and 'drop6, drop7' in dropout
    rows = [line for line in dropout.splitlines() if line.startswith(('| training pass', '| masks alone'))]
    assert len(rows) == 2
    for row in rows:
        cells = [c.strip() for c in row.strip('|').split('|')]
        assert float(cells[1]) > 0 and float(cells[2]) > 0    # torch's generator, Caffe's stream
    rows = [line for line in text.split(folder.TITLE)[1].split('##')[0].splitlines()
            if line.startswith('| voc-fcn-alexnet |')]
    assert [r.split('|')[2].strip() for r in rows] == ['faithful', 'fast']
    for row in rows:
        cells = [c.strip() for c in row.strip('|').split('|')]
        assert float(cells[2]) > 0 and float(cells[4]) > 0        # forward s, images/s
