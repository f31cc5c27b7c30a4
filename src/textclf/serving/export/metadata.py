"""What an ONNX export carries besides its graph: the labels, their type, how texts are cut, and
the decision policy (calibration, thresholds, min_labels), so the file means what the model meant.

The same record is written twice: as the graph's `metadata_props` (key `textclf`, one JSON value,
readable by any ONNX tool: `onnx.load(path).metadata_props`, or ONNX Runtime's
`session.get_modelmeta().custom_metadata_map`) and as `export.json` beside it, which the export's
README.md explains. textclf itself decides with the directory's `policy.json` (a later
`textclf calibrate` on the export updates that); the record is the policy at export time.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ...artifacts import policy_json
from ...errors import ModelError
from ...fileio import jsonable
from ...version import __version__

METADATA_KEY = "textclf"
SIDECAR_FILE = "export.json"
README_FILE = "README.md"
RECORD_FORMAT = "textclf-onnx-export/1"


def export_record(clf, inputs: dict[str, str], max_length: int | None, tokenizer: str) -> dict[str, Any]:
    """The meaning of an export of `clf` whose graph reads `inputs` (name -> "dtype[shape]")."""
    label_map = clf.label_map
    return {
        "format": RECORD_FORMAT,
        "textclf_version": __version__,
        "source_type": clf.model_.type_name(),
        "labels": list(label_map.labels),
        "label_kind": label_map.kind,  # labels come back as this Python type (str, int, bool, ...)
        "multi_label": bool(label_map.multi_label),
        "inputs": inputs,
        "output": "logits float32[batch, labels]: softmax (single-label) or sigmoid (multi-label), "
                  "then the policy's calibration and thresholds",
        "tokenizer": tokenizer,
        "max_length": max_length,  # tokens per text, special tokens included; None: whole texts
        "truncation_side": "right" if max_length is not None else None,  # the head of a long text is kept
        "policy": policy_json(clf.policy),
    }


def graph_inputs(path: Path) -> dict[str, str]:
    """name -> "dtype[dims]" of an ONNX graph's inputs, as the record lists them."""
    import onnx

    graph = onnx.load(str(path), load_external_data=False).graph
    initializers = {i.name for i in graph.initializer}
    out = {}
    for value in graph.input:
        if value.name in initializers:
            continue
        kind = value.type.tensor_type
        dims = ", ".join(d.dim_param or str(d.dim_value) for d in kind.shape.dim)
        out[value.name] = f"{onnx.helper.tensor_dtype_to_np_dtype(kind.elem_type).name}[{dims}]"
    return out


def set_tokenizer_truncation(folder: Path, max_length: int) -> bool:
    """Make the Hugging Face tokenizer files in `folder` cut texts at `max_length` tokens (right
    side): truncation inside tokenizer.json (the `tokenizers` library applies it as it loads) and
    model_max_length / truncation_side in tokenizer_config.json (transformers, with truncation=True).
    False when the folder holds no tokenizer.json (textclf's own tokenizers carry max_length in config)."""
    path = folder / "tokenizer.json"
    if not path.is_file():
        return False
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(path))
    tokenizer.enable_truncation(max_length=int(max_length), direction="right")
    tokenizer.save(str(path))
    config_path = folder / "tokenizer_config.json"
    config = json.loads(config_path.read_text(encoding="utf-8")) if config_path.is_file() else {}
    config.update(model_max_length=int(max_length), truncation_side="right")
    config_path.write_text(json.dumps(config, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return True


def stamp_graph(path: Path, record: dict) -> None:
    """Write `record` into the ONNX file's metadata_props (replacing an earlier textclf entry)."""
    import onnx

    model = onnx.load(str(path))
    kept = [p for p in model.metadata_props if p.key != METADATA_KEY]
    del model.metadata_props[:]
    model.metadata_props.extend(kept)
    entry = model.metadata_props.add()
    entry.key, entry.value = METADATA_KEY, json.dumps(record, ensure_ascii=False, default=jsonable)
    onnx.save(model, str(path))


def read_graph_record(path: str | Path) -> dict:
    """The record an export stamped into `path` (an .onnx file); ModelError when it has none."""
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    for prop in model.metadata_props:
        if prop.key == METADATA_KEY:
            return json.loads(prop.value)
    raise ModelError(f"{path}: no textclf metadata (exported by textclf before labels were carried; export again)")


def write_sidecar(directory: Path, record: dict, graph_files: list[str]) -> None:
    """export.json (the record) and README.md (what the directory holds and how to use it)."""
    (directory / SIDECAR_FILE).write_text(json.dumps(record, indent=2, ensure_ascii=False, default=jsonable) + "\n",
                                          encoding="utf-8")
    (directory / README_FILE).write_text(readme(record, graph_files), encoding="utf-8")


TFIDF_NOTE = """
  `tfidf_features.json` gives, per input block b, the analyzer (word, char_wb or char), n-gram range,
  lowercasing, token pattern and vocabulary: count a text's n-grams as scikit-learn's
  TfidfVectorizer analyzer finds them and pass each vocabulary id and its count."""


def readme(record: dict, graph_files: list[str]) -> str:
    inputs = "\n".join(f"  - `{name}`: {kind}" for name, kind in record["inputs"].items())
    policy = record["policy"]
    cut = ("whole texts (no truncation)" if record["max_length"] is None else
           f"the first {record['max_length']} tokens (special tokens included; truncation side "
           f"{record['truncation_side']})")
    return f"""# textclf ONNX export

Exported from a `{record['source_type']}` model by textclf {record['textclf_version']}.
This directory is itself a textclf model: `textclf predict DIR texts.csv --backend onnx` and
`textclf serve DIR --backend onnx` give the same labels and calibrated probabilities as the
source model.

- Graphs: {', '.join(f'`{f}`' for f in graph_files)}; output `logits`, float32 [batch, {len(record['labels'])}].
- Inputs:
{inputs}
- Tokenizer: `{record['tokenizer']}`; the model reads {cut}.{TFIDF_NOTE if record['tokenizer'] == 'tfidf' else ''}
- Labels, in logit column order: {', '.join(f'`{label}`' for label in record['labels'])}
  (Python type `{record['label_kind']}`; {'multi-label: sigmoid per label' if record['multi_label']
                                             else 'single-label: softmax'}).
- Decision policy: calibration {json.dumps((policy.get('calibration') or {}).get('method'))}, thresholds
  {json.dumps(policy.get('thresholds'))}, min_labels {policy.get('min_labels')}.

`export.json` holds all of this as JSON; the same record is in each graph's `metadata_props`
under the key `textclf`. To decide outside textclf: probabilities from the logits as above,
then the policy's calibration (`textclf.evaluation.calibration`), then its thresholds
(binary: the positive class at `thresholds[0]`; multi-label: per label, else 0.5; otherwise argmax).
`policy.json` is what textclf applies; it may have been re-fitted after export.
"""


def _plain(value: Any) -> Any:
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
