"""The export document written as it is read: JSON for machines, HTML for people.

Both writers take the same events in the same order (see `Event`) and return the bytes of
each at once, so nothing but the current chunk of records is ever held. The JSON follows
`export.schema.json`; the HTML is one page with the same content, every value escaped, no
script and no external asset.
"""

from __future__ import annotations

import html
import json
from collections.abc import Mapping, Sequence
from importlib.resources import files
from typing import Any, Protocol

SCHEMA_ID = "https://schemas.cistech.example/privacy-export/1.json"
Doc = Mapping[str, Any]
# (kind, payload): "head" doc, "category" meta, "holding" head, "records" [record],
# "end_holding" count, "end_category" None, "list" name, "items" [item], "end_list" None,
# "tail" summary. Categories come first, then the lists (consents, requests).
Event = tuple[str, Any]


class Writer(Protocol):
    media_type: str
    extension: str

    def write(self, event: Event) -> bytes: ...


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def _members(doc: Doc) -> str:
    return ",".join(f"{_json(key)}:{_json(value)}" for key, value in doc.items())


def _bytes(text: str) -> bytes:
    return text.encode("utf-8", "replace")


class JsonWriter:
    media_type = "application/json"
    extension = "json"

    def __init__(self) -> None:
        self._started: list[bool] = []  # per open array: whether it has an element yet

    def _open(self, text: str) -> str:
        comma = "," if self._started and self._started[-1] else ""
        if self._started:
            self._started[-1] = True
        self._started.append(False)
        return comma + text

    def _close(self, text: str) -> str:
        self._started.pop()
        return text

    def write(self, event: Event) -> bytes:
        kind, payload = event
        if kind == "head":
            text = "{" + _members(payload) + ',"categories":['
            self._started = [False]
        elif kind in ("category", "holding"):
            nested = "holdings" if kind == "category" else "records"
            text = self._open("{" + _members(payload) + f',"{nested}":[')
        elif kind in ("records", "items"):
            items = ",".join(_json(item) for item in payload)
            text = ("," if self._started[-1] and items else "") + items
            self._started[-1] = self._started[-1] or bool(items)
        elif kind == "end_holding":
            text = self._close(f'],"count":{int(payload)}}}')
        elif kind == "end_category":
            text = self._close("]}")
        elif kind == "list":
            text = f"],{_json(payload)}:["
            self._started[-1] = False
        elif kind == "end_list":
            text = ""
        elif kind == "tail":
            text = f'],"summary":{_json(payload)}}}'
        else:
            raise ValueError(f"unknown export event {kind!r}")
        return _bytes(text)


_STYLE = (
    "body{font:15px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:70rem;padding:0 1rem;"
    "color:#1b1b1b}h1{font-size:1.6rem}h2{margin-top:2.5rem;border-bottom:2px solid #ccc}"
    "table{border-collapse:collapse;width:100%;margin:.5rem 0}th,td{border:1px solid #ddd;"
    "padding:.25rem .4rem;text-align:left;vertical-align:top}th{background:#f3f3f3}"
    "dt{font-weight:600}dd{margin:0 0 .5rem 1rem}code{font-size:.85em}.none{color:#888}"
    ".count{color:#555}ul{margin:.2rem 0}"
)


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


class HtmlWriter:
    """A readable page: a section per category, a table per kind of record."""

    media_type = "text/html"
    extension = "html"

    def __init__(self) -> None:
        self._subject = ""
        self._columns: tuple[str, ...] = ()
        self._others: tuple[str, ...] = ()
        self._section = ""

    def write(self, event: Event) -> bytes:
        kind, payload = event
        return _bytes(getattr(self, f"_{kind}")(payload))

    def _head(self, doc: Doc) -> str:
        subject, request = doc["subject"], doc["request"]
        self._subject = str(subject["id"])
        return (
            '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width,initial-scale=1">'
            f"<title>Your personal data at CISTECH</title><style>{_STYLE}</style></head><body>"
            "<header><h1>Your personal data at CISTECH</h1>"
            f"<p>Account {_e(subject['id'])} ({_e(subject['kind'])}, "
            f"{_e(subject['jurisdiction'])}). Generated {_e(doc['generatedAt'])} under privacy "
            f"policy {_e(doc['policyVersion'])}, for request {_e(request['id'])}.</p>"
            "<p>Everything the platform holds on you, grouped by kind of data: for each, where "
            "it comes from, why it is processed and on what legal basis, who sees it and how, "
            "and how long it is kept. Other people appear as the platform shows them to you. "
            "The same content as JSON, with its JSON Schema: ask for the export in JSON.</p>"
            "</header><main>"
        )

    def _category(self, meta: Doc) -> str:
        purposes = ", ".join(
            f"{_e(p['purpose'])} ({_e(p['lawfulBasis'])}"
            + ("; you may withdraw your consent" if p["withdrawable"] else "")
            + ")"
            for p in meta["purposes"]
        )
        recipients = "".join(
            f"<li>{_e(r['who'])} <code>{_e(r['viewer'])}</code>: {_e(_access(r))}</li>"
            for r in meta["recipients"]
        )
        kept = "".join(f"<li>{_e(_retention(r))}</li>" for r in meta["retention"])
        after = ", ".join(
            f"{_e(r['who'])} <code>{_e(r['viewer'])}</code>" for r in meta["afterDeletion"]
        )
        return (
            f'<section class="category"><h2>{_e(meta["title"])} '
            f"<code>{_e(meta['category'])}</code></h2><dl>"
            f"<dt>Where it comes from</dt><dd>{_e(meta['origin']['text'])}</dd>"
            f"<dt>Why, and on what legal basis</dt><dd>{purposes or 'not processed'}</dd>"
            f"<dt>Who sees it, and how</dt><dd><ul>{recipients or '<li>nobody but you</li>'}"
            "</ul></dd>"
            f"<dt>How long it is kept</dt><dd><ul>{kept}</ul>"
            + (f"After your account is deleted still readable by: {after}." if after else "")
            + "</dd></dl>"
        )

    def _holding(self, head: Doc) -> str:
        self._columns = tuple(head["fields"])
        self._others = tuple(other["field"] for other in head["others"])
        mine = "".join(f"<th>{_e(name)}</th>" for name in self._columns)
        theirs = "".join(
            f"<th>{_e(other['field'])} <small>({_e(other['of'])}, as you see it)</small></th>"
            for other in head["others"]
        )
        return (
            f"<h3>{_e(head['type'])}: you as {_e(head['as'])}</h3><table><thead><tr>"
            f"<th>id</th><th>about it</th>{mine}{theirs}</tr></thead><tbody>"
        )

    def _records(self, records: Sequence[Doc]) -> str:
        rows = []
        for record in records:
            about = {**record["details"], **record.get("refs", {})}
            values, others = record["values"], record.get("others", {})
            cells = "".join(f"<td>{self._value(values.get(name))}</td>" for name in self._columns)
            cells += "".join(f"<td>{self._value(others.get(name))}</td>" for name in self._others)
            rows.append(f"<tr><td>{_e(record['id'])}</td><td>{_pairs(about)}</td>{cells}</tr>")
        return "".join(rows)

    def _end_holding(self, count: int) -> str:
        return f'</tbody></table><p class="count">{count} in all</p>'

    def _end_category(self, _: None) -> str:
        return "</section>"

    def _list(self, name: str) -> str:
        self._section = name
        if name == "consents":
            return (
                "<section><h2>Your consent history</h2><table><thead><tr><th>when</th>"
                "<th>purpose</th><th>granted</th><th>notice version</th><th>how</th></tr>"
                "</thead><tbody>"
            )
        return (
            "<section><h2>Your privacy requests</h2><table><thead><tr><th>id</th><th>kind</th>"
            "<th>status</th><th>received</th><th>due</th><th>completed</th><th>what</th>"
            "<th>outcome</th><th>history</th></tr></thead><tbody>"
        )

    def _items(self, items: Sequence[Doc]) -> str:
        if self._section == "consents":
            return "".join(
                f"<tr><td>{_e(c['recordedAt'])}</td><td>{_e(c['purpose'])}</td>"
                f"<td>{'yes' if c['granted'] else 'withdrawn'}</td>"
                f"<td>{_e(c['noticeVersion'])}</td><td>{_e(c['channel'])}</td></tr>"
                for c in items
            )
        return "".join(_request_row(r) for r in items)

    def _end_list(self, _: None) -> str:
        return "</tbody></table></section>"

    def _tail(self, summary: Doc) -> str:
        return f"</main><footer><p>{_pairs(summary)}</p></footer></body></html>"

    def _value(self, value: Any) -> str:
        if value is None:
            return '<span class="none">none</span>'
        if isinstance(value, bool):
            return "yes" if value else "no"
        if isinstance(value, list):
            return (
                "<ul>" + "".join(f"<li>{self._value(v)}</li>" for v in value) + "</ul>"
                if value
                else "nobody"
            )
        if isinstance(value, dict):
            if "count" in value:
                return _e(f"{value['count']} {value['type']} records (listed in this section)")
            if set(value) == {"type", "id"}:
                you = value["type"] == "User" and str(value["id"]) == self._subject
                return "you" if you else _e(f"{value['type']} {value['id']}")
            return _pairs(value)
        return _e(value)


def _pairs(doc: Doc) -> str:
    return "; ".join(f"{_e(key)}: {_e('none' if v is None else v)}" for key, v in doc.items())


def _access(recipient: Doc) -> str:
    access = {"SHOWN": "shown", "MASKED": "masked", "PARTLY": "partly hidden"}[recipient["access"]]
    masks = recipient["masks"]
    return access + (f" ({', '.join(masks)})" if masks else "")


_PERIOD_TEXT = {
    "UNTIL_ACCOUNT_DELETION": "until your account is deleted",
    "DETACHED_AT_DELETION": "kept when your account is deleted, no longer linked to you",
    "KEPT_AFTER_DELETION": "kept after your account is deleted",
}


def _retention(rule: Doc) -> str:
    fields = ", ".join(rule["fields"])
    if rule["period"] == "LEGAL_HOLD":
        then = ", then wiped" if rule["afterHold"] == "ANONYMIZE" else ""
        text = (
            f"kept {rule['years']} years after the end of the record's year once your account "
            f"is deleted ({rule['basis']}){then}"
        )
    else:
        text = _PERIOD_TEXT[rule["period"]]
    return f"{fields}: {text}" + (f" ({rule['why']})" if rule["why"] else "")


def _request_row(r: Doc) -> str:
    history = "".join(
        f"<li>{_e(h['occurredAt'])} {_e(h['event'])} "
        f"{_e(h['fromStatus'] or '')}→{_e(h['toStatus'])} by {_e(h['actor'])}"
        + (f": {_e(h['note'])}" if h["note"] else "")
        + "</li>"
        for h in r["history"]
    )
    what = "; ".join(_e(v) for v in (r["target"], r["details"], r["proposedValue"]) if v)
    return (
        f"<tr><td>{_e(r['id'])}</td><td>{_e(r['kind'])}</td><td>{_e(r['status'])}</td>"
        f"<td>{_e(r['receivedAt'])}</td><td>{_e(r['dueAt'])}</td>"
        f"<td>{_e(r['completedAt'] or '')}</td><td>{what}</td><td>{_e(r['outcome'] or '')}</td>"
        f"<td><ul>{history}</ul></td></tr>"
    )


WRITERS: Mapping[str, type[JsonWriter] | type[HtmlWriter]] = {
    "JSON": JsonWriter,
    "HTML": HtmlWriter,
}


def json_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of the JSON export, as shipped in the package."""
    text = files(__package__).joinpath("export.schema.json").read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema
