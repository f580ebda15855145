"""`make gpu-check DRY=1`: every step of the GPU check runs at toy size on the CPU and leaves its
log and summary entry; the step runner records a failing or overlong step and goes on."""
import argparse
import json
import sys

import pytest

from benchmarks import gpu_check
from benchmarks.gpu_check import Step


def test_the_dry_run_fills_every_section(tmp_path):
    summary = gpu_check.main(['--dry', '--out', str(tmp_path)])
    names = [e['name'] for e in summary['steps']]
    assert names == list(gpu_check.DRY_LIMITS_S)
    assert json.loads((tmp_path / 'summary.json').read_text()) == summary
    md = (tmp_path / 'summary.md').read_text()
    for entry in summary['steps']:
        assert entry['status'] == 'ok', (entry, (tmp_path / entry['log']).read_text()[-3000:])
        assert (tmp_path / entry['log']).read_text().startswith('$ ')     # each command is logged, then its output
        assert '| %s | ok | 0 |' % entry['name'] in md
    results = {e['name']: e['results'] for e in summary['steps']}
    assert results['wheels']['still_missing'] == []
    assert results['env']['torch'] and results['env']['cuda_available'] is False
    assert 'torch' in ' '.join(json.loads((tmp_path / 'env.json').read_text())['packages'])
    assert 'passed' in results['test-gpu']['pytest'] and 'failed' not in results['test-gpu']['pytest']
    nccl = results['nccl']
    assert nccl['backend'] == 'gloo' and nccl['world_size'] == 2 and nccl['identical'] is True
    assert results['infer']['images'] == ['64x48', '160x120', '3000x2250']
    assert 'does not fit in the 0.1 GiB budget' in (tmp_path / 'infer.log').read_text()   # the scaled path ran
    demo = results['demo']
    assert demo['last_iteration'] == 4 and 0 <= demo['last_mean_iu'] <= 1
    bench = (tmp_path / 'bench-voc-fcn-alexnet.md').read_text()
    assert '## faithful mode' in bench and '| voc-fcn-alexnet | 64x48 |' in bench
    assert results['bench-voc-fcn-alexnet']['targets']                   # the targets' lines were read
    assert (tmp_path / 'demo' / 'log.csv').exists() and not list(tmp_path.glob('**/snapshots'))


def python(code):
    return [sys.executable, '-c', code]


def test_a_failing_or_overlong_step_is_recorded_and_the_next_runs(tmp_path):
    marker = tmp_path / 'second-command-ran'
    steps = [Step('fails', [python('import sys; print("trying"); sys.exit(3)'),
                            python('open(%r, "w").close()' % str(marker))], 30, None, None),
             Step('hangs', [python('import time; time.sleep(60)')], 1, None, None),
             Step('after', [python('print("RESULT {\\"answer\\": 42}")')], 30, {'UNUSED': '1'},
                  gpu_check.collect_results('after'))]
    entries = gpu_check.run_steps(steps, str(tmp_path), 120)
    fails, hangs, after = entries
    assert (fails['status'], fails['exit']) == ('failed', 3)
    assert 'trying' in (tmp_path / 'fails.log').read_text()
    assert not marker.exists()                              # a step ends at its first failing command
    assert (hangs['status'], hangs['exit']) == ('timeout', None) and hangs['wall_s'] < 30
    assert 'killed after' in (tmp_path / 'hangs.log').read_text()
    assert (after['status'], after['results']) == ('ok', {'answer': 42})


def test_steps_past_the_deadline_are_recorded_as_skipped(tmp_path):
    entries = gpu_check.run_steps([Step('late', [python('pass')], 30, None, None)], str(tmp_path), 0)
    assert entries[0]['status'] == 'skipped' and 'skipped' in (tmp_path / 'late.log').read_text()


def test_the_gpu_plan_fits_8_minutes_and_asks_for_the_gpu_everywhere(tmp_path):
    args = argparse.Namespace(dry=False, gpu=0, gpus=1, out=str(tmp_path), site=str(tmp_path / 'site'))
    plan = {s.name: s for s in gpu_check.steps(args, str(tmp_path / 'scratch'))}
    assert list(plan) == list(gpu_check.LIMITS_S) and sum(s.limit_s for s in plan.values()) <= 8 * 60 - 10
    for step in plan.values():
        assert all(isinstance(a, str) for cmd in step.commands for a in cmd), step.name   # Popen takes strings
    assert plan['test-gpu'].env == {'TORCHCAFFE_TEST_GPU': '1'}
    torchrun = next(cmd for cmd in plan['nccl'].commands if 'torch.distributed.run' in cmd)
    assert torchrun[torchrun.index('--nproc_per_node') + 1] == '1' and torchrun[-1] == '0'    # one rank, GPU 0
    for name in ('infer', 'demo', 'bench-voc-fcn8s-faithful', 'bench-voc-fcn8s-fast', 'bench-voc-fcn-alexnet'):
        assert any(cmd[cmd.index('--gpu') + 1] == '0' for cmd in plan[name].commands if '--gpu' in cmd), name
    for name, modes in (('bench-voc-fcn8s-faithful', ['faithful']), ('bench-voc-fcn8s-fast', ['fast']),
                        ('bench-voc-fcn-alexnet', ['faithful', 'fast'])):
        bench = plan[name].commands[0]
        assert bench[bench.index('--sizes') + 1:][:2] == ['500x500', '500x375']
        assert (bench[bench.index('--modes') + 1:] if '--modes' in bench else ['faithful', 'fast']) == modes


def test_the_wheels_step_names_what_is_missing_when_no_wheels_came_along(tmp_path, monkeypatch):
    monkeypatch.setattr(gpu_check, 'REQUIREMENTS', [('numpy', 'numpy>=1.24'), ('no_such_module_here', 'no-such>=1')])
    assert gpu_check.missing_requirements() == ['no-such>=1']
    with pytest.raises(gpu_check.GpuCheckError, match='missing no-such>=1 and no wheels in'):
        gpu_check.child_wheels(str(tmp_path / 'wheels'), str(tmp_path / 'site'))


def test_the_check_exits_non_zero_naming_the_steps_not_ok_after_writing_the_summary(tmp_path):
    with pytest.raises(SystemExit, match=r'1 of 1 steps not ok \(env\)'):
        gpu_check.main(['--dry', '--out', str(tmp_path), '--only', 'env', '--budget', '0'])
    assert json.loads((tmp_path / 'summary.json').read_text())['steps'][0]['status'] == 'skipped'
