"""The leaderboard `auto` writes (leaderboard.json): the candidates it compared, as a table."""

from __future__ import annotations

import html
import json
from pathlib import Path

from ..errors import ModelError


def read_leaderboard(model_dir: Path) -> list[dict]:
    path = Path(model_dir) / "leaderboard.json"
    try:
        rows = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as err:
        raise ModelError(f"{path}: cannot read the leaderboard ({err})") from None
    if isinstance(rows, dict):
        rows = rows.get("candidates", [])
    if not isinstance(rows, list):
        raise ModelError(f"{path}: expected a list of candidates")
    return rows


def _interval(row: dict) -> str:
    interval = row.get("interval")
    if isinstance(interval, (list, tuple)) and len(interval) == 2:
        return f"[{float(interval[0]):.3f}, {float(interval[1]):.3f}]"
    return ""


def _number(value, digits: int) -> str:
    return f"{value:.{digits}f}" if isinstance(value, (int, float)) else str(value if value is not None else "-")


def leaderboard_html(rows: list[dict]) -> str:
    esc = html.escape
    body = "".join(
        f"<tr><td>{i}</td><td>{esc(str(r.get('candidate', '?')))}</td><td>{esc(_number(r.get('score'), 4))}</td>"
        f"<td>{esc(_interval(r))}</td><td>{esc(_number(r.get('fit_seconds'), 1))}</td>"
        f"<td>{esc(str(r.get('status', '')))}</td>"
        f"<td><code>{esc(json.dumps(r.get('settings', {}), sort_keys=True))}</code></td></tr>"
        for i, r in enumerate(rows, 1))
    return ("<p>The candidates <code>model.type: auto</code> compared, best first, scored on training-split "
            "cross-validation or the validation split (never the test split).</p>"
            "<table><thead><tr><th>#</th><th>candidate</th><th>validation score</th><th>interval</th>"
            f"<th>fit s</th><th>status</th><th>settings</th></tr></thead><tbody>{body}</tbody></table>")
