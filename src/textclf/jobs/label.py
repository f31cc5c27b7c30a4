"""`textclf label` and `textclf review` as Python functions: build the session (pool, journal,
features, queue), serve the page until interrupted, write the outputs; and `train_labelled`,
the normal training pipeline on the labelled file."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

from ..data.io import Columns
from ..errors import DataError
from ..fileio import check_output
from ..labelling.features import FeatureKind, text_features
from ..labelling.journal import Journal
from ..labelling.output import LabelledOutput, label_studio_tasks, write_label_studio, write_labelled
from ..labelling.pool import check_label_names, load_pool
from ..labelling.session import LabelSession, SessionSettings, check_replay


@dataclass(frozen=True)
class ServerOptions:
    host: str = "127.0.0.1"
    port: int = 8765
    api_key: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class LabelOptions:
    data: str
    output: str
    labels: tuple[str, ...] = ()
    labels_from: str | None = None  # a saved model whose labels (and task) to use
    seed: str | None = None  # a labelled seed file
    multi_label: bool = False
    text_column: str = "text"
    id_column: str | None = None
    label_column: str = "label"  # of the seed file
    features: FeatureKind = "minilm"
    overwrite: bool = False
    settings: SessionSettings = SessionSettings()


def _check_fresh_output(paths: list[Path], journal: Path, overwrite: bool) -> None:
    """OUTPUT with its journal is a session to resume; OUTPUT without one is another file. The
    side files written beside OUTPUT at startup (Label Studio export, change log) are checked
    with it: without a journal they are someone else's too."""
    if not journal.exists():
        for path in paths:
            check_output(path, overwrite=overwrite)


def open_label_session(options: LabelOptions, progress: bool = True) -> tuple[LabelSession, LabelledOutput]:
    """The session `textclf label` serves (resumed from the journal beside OUTPUT when there is one)."""
    output = LabelledOutput.of(options.output)
    _check_fresh_output([output.path, output.label_studio], output.journal, options.overwrite)
    labels, multi, kind = options.labels, options.multi_label, "str"
    check_label_names(labels, multi)  # before the slow work: one line naming the label
    if options.labels_from is not None:
        from ..classifier import TextClassifier

        clf = TextClassifier.load(options.labels_from, device="cpu")
        labels, multi, kind = tuple(clf.label_map.labels), clf.multi_label, clf.label_map.kind
    columns = Columns(text=options.text_column, label=options.label_column, id=options.id_column)
    pool = load_pool(options.data, columns, labels, multi, options.seed, label_kind=kind)
    journal = Journal(output.journal, pool.identity())
    check_replay(journal.events(), pool, options.settings.mode, journal.path)  # before the slow features
    if progress:
        print(f"textclf label: {len(pool.texts)} texts; computing {options.features} features", file=sys.stderr)
    vectors = text_features(pool.texts, options.features, progress=progress)

    def write(session: LabelSession) -> None:
        write_labelled(session, output)
        write_label_studio(session, output.label_studio)

    session = LabelSession(pool, journal, vectors, options.settings, write_output=write)
    session.flush()  # a resumed session's output holds every journalled answer at once
    return session, output


def serve_session(session: LabelSession, listening, describe: str) -> None:
    """Serve the page on `listening` = labelling.server.listen(...) until Ctrl-C / SIGTERM."""
    from ..labelling.app import build_app
    from ..labelling.server import run_app

    sock, key = listening
    app = build_app(session, lambda: label_studio_tasks(session))
    session.start()

    def ready(url: str) -> None:
        print(f"textclf {session.settings.mode}: open {url}  ({describe}; Ctrl-C to stop)", flush=True)

    run_app(app, sock, key, ready, session.stop)


def label(options: LabelOptions, server: ServerOptions = ServerOptions()) -> Path:
    from ..labelling.server import listen

    listening = listen(server.host, server.port, server.api_key)
    try:
        session, output = open_label_session(options)
    except BaseException:
        listening[0].close()
        raise
    answered = len(session.standing())
    serve_session(session, listening, f"{answered} answers so far, writing {output.path}")
    print(f"textclf label: labels in {output.path}; train with: textclf train {output.path}", file=sys.stderr)
    return output.path


def train_labelled(output: str | Path, output_dir: str | Path, **options):
    """The final model: the normal training pipeline (textclf.train) on the labelled file."""
    from .train import train

    if not Path(output).exists():
        raise DataError(f"{output}: no labelled file yet")
    return train(str(output), text_column="text", label_column="label", output_dir=str(output_dir), **options)


# -- review -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ReviewOptions:
    model: str
    output: str  # the corrected data set; the change log goes beside it
    data: str | None = None  # default: the model's training split
    text_column: str | None = None
    label_column: str | None = None
    id_column: str | None = None
    limit: int = 200  # rows queued for a second look
    confident: float = 0.8  # a mistake at or above this probability is "confident"
    overwrite: bool = False
    annotator: str = "annotator"


def open_review_session(options: ReviewOptions):
    """(session, output): the queue of suspects and confident mistakes over DATA's rows."""
    from ..analysis.errors import ErrorSettings, analyze_errors
    from ..audit.label_noise import label_noise_suspects
    from ..classifier import TextClassifier
    from ..data.sources import ColumnOverrides, ModelData, load_examples
    from ..labelling.review import ReviewOutput, SourceTable, review_pool, review_queue, write_review

    output = ReviewOutput.of(options.output)
    _check_fresh_output([output.path, output.changes], output.journal, options.overwrite)
    clf = TextClassifier.load(options.model, device="cpu")
    check_label_names(clf.label_map.labels, clf.multi_label)
    columns = ColumnOverrides(text=options.text_column, label=options.label_column, id=options.id_column)
    examples = load_examples(ModelData.of(clf), options.data, columns, default_split="train")
    suspects = label_noise_suspects({"data": examples}, top=options.limit).suspects
    report = analyze_errors(clf, examples, settings=ErrorSettings(confident=options.confident, n_resamples=50))
    confident = [m for m in report.mistakes if m["kind"] == "confident"]
    queue = review_queue(examples, suspects, confident, options.limit)
    pool = review_pool(examples, queue, tuple(clf.label_map.labels), clf.label_map.kind)
    journal = Journal(output.journal, {**pool.identity(), "model": str(Path(options.model).resolve())})
    settings = SessionSettings(mode="review", annotator=options.annotator)
    source = SourceTable.of(examples)  # the corrected file keeps the input's columns and row order

    def write(session: LabelSession) -> None:
        write_review(session.pool, session.standing(), output, source)

    session = LabelSession(pool, journal, None, settings, write_output=write, order=[e.index for e in queue])
    for entry in queue:
        session.suggested[entry.index], session.confidence[entry.index] = entry.suggested, entry.confidence
    session.flush()
    return session, output


def review(options: ReviewOptions, server: ServerOptions = ServerOptions()) -> Path:
    from ..labelling.server import listen

    listening = listen(server.host, server.port, server.api_key)
    try:
        session, output = open_review_session(options)
    except BaseException:
        listening[0].close()
        raise
    queued = sum(session.pool.asked)
    serve_session(session, listening, f"{queued} rows queued, writing {output.path} and {output.changes.name}")
    print(f"textclf review: corrected data in {output.path}, decisions in {output.changes}", file=sys.stderr)
    return output.path
