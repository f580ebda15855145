# FCN on torchcaffe. `make setup` once, then `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
SHARED ?= ../shared

.PHONY: setup test test-gpu gpu-check gpu-wheels golden proto nets demo screenshots train bench weights clean

setup:
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e '.[test]'

# The whole suite, then the FCN suites again on tests/pycaffe_strict, a stand-in with exactly BVLC
# pycaffe's surface (FCN_BACKEND=caffe; a process of its own, as backend.py picks at import), less
# the tests marked torchcaffe_only. Either run failing, or collecting nothing, fails the target.
STRICT_SUITES ?= tests/layers tests/surgery tests/models tests/test_solve.py tests/test_solve_processes.py \
	tests/test_solve_signals.py tests/test_evaluate.py tests/test_score.py tests/test_plots.py tests/test_infer.py tests/test_infer_tiles.py \
	tests/test_solve_best.py tests/test_solve_augment.py \
	tests/test_demo.py tests/test_weights.py tests/test_check.py tests/test_create.py tests/test_vis.py \
	tests/test_report_pages.py tests/test_learning_rate.py tests/test_valnet.py
test:
	@status=0; \
	for run in torchcaffe strict; do \
		if [ $$run = strict ]; then \
			echo "== the FCN suites again on the strict pycaffe stand-in: $(STRICT_SUITES)"; \
			FCN_BACKEND=caffe PYTHONPATH=$(CURDIR)/tests/pycaffe_strict$${PYTHONPATH:+:$$PYTHONPATH} \
				$(PY) -m pytest -m 'not torchcaffe_only' $(STRICT_SUITES); rc=$$?; \
		else $(PY) -m pytest; rc=$$?; fi; \
		if [ $$rc -eq 5 ]; then echo "pytest collected no tests: that is a failure here"; rc=1; fi; \
		if [ $$rc -ne 0 ]; then status=$$rc; fi; \
	done; \
	exit $$status

# On a CUDA machine: the golden cases, the Caffe-trained LeNet, blob host copies and fast mode
# again, in GPU mode.
test-gpu:
	TORCHCAFFE_TEST_GPU=1 $(PY) -m pytest tests/torchcaffe/test_golden.py tests/torchcaffe/test_blob.py \
		tests/torchcaffe/test_real_model.py tests/torchcaffe/test_fast_mode.py

# make gpu-check [GPU_OUT=dir] [DRY=1]: on a CUDA machine, every GPU path run and measured into GPU_OUT
# (tests, bench, demo, NCCL, infer.py) within 8 minutes; a failed step is recorded and the rest still run.
# DRY=1 runs every step at toy size on the CPU. Uses .venv when there is one, else python3 (a GPU image).
GPU_OUT ?= out/gpu-check
GPU_PYTHON ?= $(if $(wildcard $(PY)),$(PY),python3)
gpu-check:
	$(GPU_PYTHON) -m benchmarks.gpu_check --out $(GPU_OUT) $(if $(DRY),--dry)

# Wheels (Python 3.12, x86-64 Linux) of what gpu-check needs besides torch, into gpu-wheels/ for a GPU machine
# without a package registry; GPU_WHEELS='protobuf tqdm' fetches only those (what `--probe` said is missing).
gpu-wheels:
	$(PY) -m benchmarks.gpu_check --download-wheels $(GPU_WHEELS)

# Check the engine against every case Caffe computed (../shared/caffe-golden), on a scratch copy
# because the solver cases write snapshots where they run.
golden:
	@tmp=$$(mktemp -d) && cp -r $(SHARED)/caffe-golden $$tmp/ && chmod -R u+w $$tmp && \
	$(PY) $(SHARED)/tools/check_golden.py $$tmp/caffe-golden | grep -v '^[0-9][0-9]:'; rc=$${PIPESTATUS[0]}; \
	rm -rf $$tmp; exit $$rc

proto:
	torchcaffe/proto/generate.sh

# Regenerate every net's prototxts from its NetSpec script.
nets:
	$(PY) models/generate.py

# Generate the synthetic shapes task, train a slim FCN-8s from scratch on the CPU, score, segment.
demo:
	$(PY) demo.py

# After make demo: the demo net's three report pages (dataset check, evaluation, training) shot by headless
# Chromium into docs/page-*.png; says so and fails when chromium is not installed (apt-get install chromium).
screenshots:
	$(PY) docs/screenshots.py

# make train NET=fcn8s [GPU=0 | GPUS=8] [FAST=1]: the paper's schedule (coarser nets first when their
# weights are missing); GPUS=N trains data-parallel on N local GPUs through torchrun; FAST=1 is fast mode.
NET ?= fcn8s
train:
	$(if $(GPUS),$(VENV)/bin/torchrun --standalone --nproc_per_node=$(GPUS),$(PY)) solve.py $(NET) \
		$(if $(GPU),--gpu $(GPU),$(if $(GPUS),--gpu 0)) $(if $(FAST),--fast)

# Time the VOC nets (engine vs plain PyTorch, faithful vs fast) and write BENCHMARKS.md; GPU=0 for CUDA.
bench:
	$(PY) -m benchmarks.bench $(if $(GPU),--gpu $(GPU))

# Downloads happen only here, when asked (data/README.md lists every item).
# make weights: every ILSVRC classifier and published FCN caffemodel into weights/.
# make weights NET=voc-fcn8s: that net's (or classifier's) published weights only, not what its training starts from.
weights:
	$(PY) data/download.py $(if $(filter-out file,$(origin NET)),$(NET),weights)

# make data-voc (VOC2011 + SBD), data-pascalcontext, data-nyud, data-siftflow, data-voc2012, ...: one dataset or group.
data-%:
	$(PY) data/download.py $*

clean:
	rm -rf build *.egg-info
