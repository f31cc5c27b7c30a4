"""`textclf label` (active learning in a local web app) and `textclf review` (a second look at
label-noise suspects and confident mistakes): flags, then one call into jobs/label.py."""

from __future__ import annotations

import argparse
import getpass

from .arguments import positive_int

DEFAULT_PORT = 8765


def _server_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("-o", "--output", required=True, help="file to write (.csv or .jsonl); its journal "
                   "OUTPUT.journal.sqlite beside it makes a restart resume the session")
    p.add_argument("--overwrite", action="store_true", help="replace an existing OUTPUT that is not this session's")
    p.add_argument("--host", default="127.0.0.1", help="interface to listen on; any non-loopback one needs an API key")
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help="TCP port (0: any free one)")
    p.add_argument("--api-key", metavar="KEY", help="require 'Authorization: Bearer KEY' (default: "
                   "$TEXTCLF_API_KEY; safer than the flag, which shows in the process list)")
    p.add_argument("--annotator", default=_user(), help="name recorded with every answer")
    p.add_argument("--text-column", help="text column (default: 'text', or the model's)")
    p.add_argument("--id-column", help="id column: stable item ids in the journal and the output (default: row numbers)")


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "annotator"


def add_parser(subparsers) -> None:
    formatter = argparse.ArgumentDefaultsHelpFormatter
    text = "label texts in a local web app: the model in the loop asks what it learns most from"
    p = subparsers.add_parser("label", help=text, description=text, formatter_class=formatter)
    p.add_argument("data", metavar="DATA", help="texts to label (CSV/TSV/JSONL/Parquet; a label column is ignored)")
    labels = p.add_mutually_exclusive_group()
    labels.add_argument("--labels", help="comma-separated label names, e.g. pos,neg,neutral")
    labels.add_argument("--labels-from", metavar="MODEL", help="use a saved model's labels (and task)")
    p.add_argument("--seed-file", metavar="FILE", help="a labelled seed file (text, label): the model starts from it")
    p.add_argument("--multi-label", action="store_true", help="each text may get several labels (toggles)")
    p.add_argument("--label-column", default="label", help="label column of the --seed-file file")
    p.add_argument("--features", choices=["minilm", "tfidf"], default="minilm",
                   help="vectors for the model in the loop and for diversity: the packaged MiniLM, or TF-IDF+SVD")
    p.add_argument("--keyword", action="append", default=[], metavar="WORD",
                   help="seed keyword: texts containing it are asked first (repeatable)")
    p.add_argument("--clusters", type=positive_int, default=20, help="k-means clusters for diversity")
    p.add_argument("--refit-every", type=positive_int, default=5, help="answers between background refits")
    p.add_argument("--train-dir", metavar="DIR", help="after the app stops, train the final model on OUTPUT "
                   "with the normal pipeline into DIR")
    _server_flags(p)
    p.set_defaults(handler=run)

    text = "review label-noise suspects and a model's confident mistakes in the web app: keep, relabel or drop"
    p = subparsers.add_parser("review", help=text, description=text, formatter_class=formatter)
    p.add_argument("model", metavar="MODEL", help="saved model directory")
    p.add_argument("--data", help="labelled data to review: a file, a bundled data set, or the model's split "
                   "(default: train)")
    p.add_argument("--label-column", help="label column (default: the model's)")
    p.add_argument("--limit", type=positive_int, default=200, help="rows queued for review")
    p.add_argument("--confident", type=float, default=0.8, help="a mistake with probability >= this is confident")
    _server_flags(p)
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from ..errors import ConfigError
    from ..jobs import label as job
    from ..labelling.pool import parse_label_names
    from ..labelling.session import SessionSettings

    server = job.ServerOptions(args.host, args.port, args.api_key)
    if args.verb == "review":
        job.review(job.ReviewOptions(
            args.model, args.output, args.data, args.text_column, args.label_column, args.id_column,
            args.limit, args.confident, args.overwrite, args.annotator), server)
        return 0
    if args.clusters < 1 or args.refit_every < 1:
        raise ConfigError("--clusters and --refit-every must be at least 1")
    settings = SessionSettings(clusters=args.clusters, refit_every=args.refit_every,
                               keywords=tuple(args.keyword), annotator=args.annotator)
    options = job.LabelOptions(
        args.data, args.output, parse_label_names(args.labels) if args.labels else (), args.labels_from,
        args.seed_file, args.multi_label, args.text_column or "text", args.id_column, args.label_column,
        args.features, args.overwrite, settings)
    path = job.label(options, server)
    if args.train_dir:
        result = job.train_labelled(path, args.train_dir)
        print(f"model saved to {result.model_dir}")
    return 0
