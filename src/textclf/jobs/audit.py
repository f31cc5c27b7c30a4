"""Jobs on raw labelled data: audit, split, and the bundled data sets."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..data.examples import Examples
from ..data.io import Columns
from ..errors import DataError
from . import defaults


@dataclass(frozen=True)
class DataFile:
    """A labelled file (or a bundled set name, loaded raw so its duplicates show) and its columns."""

    source: str
    text_column: str = "text"
    label_column: str = "label"
    group_column: str | None = None
    time_column: str | None = None
    id_column: str | None = None
    multi_label: bool = False
    label_delimiter: str | None = None

    def columns(self) -> Columns:
        return Columns(text=self.text_column, label=self.label_column, group=self.group_column,
                       time=self.time_column, id=self.id_column, multi_label=self.multi_label,
                       label_delimiter=self.label_delimiter)

    def read(self, path: str | None = None) -> Examples:
        from ..data.bundled import DATASETS, load_bundled
        from ..data.io import read_examples

        source = path or self.source
        if path is None and source in DATASETS and not Path(source).exists():
            examples = load_bundled(source, clean=False)
            if self.group_column and examples.groups is None:
                raise DataError(f"bundled data set {source!r} has no group column")
            if self.time_column:
                raise DataError(f"bundled data set {source!r} has no time column")
            return examples
        return read_examples(source, self.columns())


@dataclass(frozen=True)
class SplitSizes:
    method: str = defaults.SPLIT_METHOD
    validation_size: float = defaults.VALIDATION_SIZE
    test_size: float = defaults.TEST_SIZE
    seed: int = defaults.SPLIT_SEED


@dataclass(frozen=True)
class AuditJob:
    data: DataFile
    validation: str | None = None  # files: DATA is then the training data, not split
    test: str | None = None
    split: SplitSizes = SplitSizes()
    fail_on: list[str] = field(default_factory=list)


def audit_splits(job: AuditJob) -> dict[str, Examples]:
    """DATA as train with --validation/--test files, or DATA split as --split says."""
    from ..data.splits import split_examples

    data = job.data.read()
    if job.test or job.validation:
        parts = {"train": data}
        for name in ("validation", "test"):
            path = getattr(job, name)
            if path:
                parts[name] = job.data.read(path)
        return parts
    s = job.split
    splits = split_examples(data, s.method, s.validation_size, s.test_size, s.seed)
    return {name: part for name, part in
            (("train", splits.train), ("validation", splits.validation), ("test", splits.test)) if part is not None}


def audit(job: AuditJob, options) -> tuple[object, list[str]]:
    """(audit.results.AuditResult, the --fail-on checks that found something)."""
    from ..audit.core import audit as run_audit
    from ..audit.core import failed_checks
    from ..audit.results import AuditResult

    failed_checks(AuditResult(sizes={}), job.fail_on)  # a misspelled check fails before the slow work
    result = run_audit(audit_splits(job), options)
    return result, failed_checks(result, job.fail_on)


SPLIT_NAMES = ("train", "validation", "test")


@dataclass(frozen=True)
class SplitJob:
    data: DataFile
    output: str  # a directory: train/validation/test.FORMAT go there
    split: SplitSizes = SplitSizes()
    file_format: str = "csv"
    keep_duplicates: bool = False
    exact_only: bool = False
    threshold: float = defaults.NEAR_DUPLICATE_THRESHOLD
    overwrite: bool = False  # replace existing split files (otherwise: DataError before any work)


def split(job: SplitJob) -> tuple[dict[str, tuple[int, Path]], int]:
    """Honest split files, written as a set (all of them or none: fileio.atomic_file_set); returns
    ({split: (rows, path)}, cross-split duplicates removed/kept)."""
    from ..audit.splitting import honest_split
    from ..data.io import examples_frame, write_frame
    from ..fileio import atomic_file_set, check_output

    names = [f"{name}.{job.file_format}" for name in SPLIT_NAMES]
    for name in names:  # before the slow work: an existing split is never replaced silently
        check_output(Path(job.output) / name, overwrite=job.overwrite)
    s = job.split
    result = honest_split(job.data.read(), s.method, s.validation_size, s.test_size, s.seed,
                          remove_duplicates=not job.keep_duplicates,
                          near_threshold=None if job.exact_only else job.threshold)
    d = job.data
    columns = Columns(text=d.text_column, label=d.label_column, group=d.group_column or "group",
                      time=d.time_column or "time", id=d.id_column or "id")
    parts = {name: getattr(result.splits, name) for name in SPLIT_NAMES}
    parts = {name: part for name, part in parts.items() if part is not None}
    written = {}
    with atomic_file_set(job.output, names, overwrite=job.overwrite) as staging:
        for name, part in parts.items():
            write_frame(examples_frame(part, columns), staging / f"{name}.{job.file_format}")
            written[name] = (len(part), Path(job.output) / f"{name}.{job.file_format}")
    return written, result.removed


def export_dataset(name: str, output: str, raw: bool = False, overwrite: bool = False) -> int:
    """Write a bundled data set to `output` (format by suffix); an existing file only with `overwrite`."""
    from ..data.bundled import load_bundled
    from ..data.io import examples_frame, write_frame
    from ..fileio import check_output

    check_output(output, overwrite=overwrite)
    examples = load_bundled(name, clean=not raw)
    write_frame(examples_frame(examples), output)
    return len(examples)
