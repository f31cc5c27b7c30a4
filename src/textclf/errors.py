"""One exception type per kind of user mistake. The CLI prints their message on one line, exit 2."""


class TextclfError(Exception):
    """Base class of every error caused by user input rather than by a bug in textclf."""


class DataError(TextclfError):
    """Bad data: a missing file or column, an empty text, undecodable bytes, an unknown label."""


class ConfigError(TextclfError):
    """A configuration value that is missing, misspelled or out of range."""


class ModelError(TextclfError):
    """A saved model directory that is missing, corrupt, or from an incompatible version."""


def where(path: object, row: int | None = None, column: str | None = None) -> str:
    """Format a location as 'file, row N, column "c"' for error messages (rows count from 1)."""
    parts = [str(path)]
    if row is not None:
        parts.append(f"row {row}")
    if column is not None:
        parts.append(f'column "{column}"')
    return ", ".join(parts)


def not_a_string(value: object) -> str:
    """Why a text that is not a string is refused (its repr would be classified instead)."""
    shown = repr(value)
    return f"text is not a string but {type(value).__name__} {shown[:40]}{'...' if len(shown) > 40 else ''}"


def summarise(values: object, noun: str, limit: int = 3) -> str:
    """A long list for a one-line message: '50,000 distinct labels, e.g. 'a', 'b', 'c', ...' (every
    value named when there are at most `limit`; each shown value cut by `brief`)."""
    items = list(values)  # type: ignore[call-overload]
    shown = [brief(value) for value in items[:limit]]
    plural = noun if len(items) == 1 else noun + "s"
    if len(items) <= limit:
        return f"{len(items):,} {plural}: {', '.join(shown)}" if items else f"no {plural}"
    return f"{len(items):,} {plural}, e.g. {', '.join(shown)}, ..."


def brief(value: object, width: int = 40) -> str:
    """repr(value) cut to `width` characters, for naming a value that may be a whole text."""
    text = repr(value)
    return text if len(text) <= width else text[: width - 3] + "..."
