"""The workflow editor's form, to and from a workflow's JSON form: the editor and the JSON
import share one checker (definition.parse), so both refuse the same things in the same
words."""

from __future__ import annotations

import json
import re
from typing import Any

from starlette.datastructures import FormData

from doorstep.numbers import row_id, whole

STEP_FIELDS = ("action", "after", "subject", "body", "html", "text", "in", "url", "marketing")
# Each action's own fields (the editor shows only these for a step of that action).
ACTION_FIELDS = {
    "email_lead": ("subject", "body", "html", "marketing"),
    "sms_lead": ("text", "marketing"),
    "notify_office": ("subject", "body"),
    "set_next_action": ("in",),
    "webhook": ("url",),
}
LIST_FILTERS = ("type", "source", "office_id")
TEXT_FILTERS = ("postcode_area", "postcode_district", "status")


def _split(text: str) -> list[str]:
    return [p.strip() for p in re.split(r"[,\n]", text) if p.strip()]


def to_definition(form: FormData) -> dict[str, Any]:
    """The JSON form of what the editor posted (checked afterwards by definition.parse)."""
    when: dict[str, Any] = {}
    for key in LIST_FILTERS:
        values = [str(v) for v in form.getlist(f"when-{key}") if str(v).strip()]
        if values:
            when[key] = [
                n if key == "office_id" and (n := row_id(v)) is not None else v for v in values
            ]
    for key in TEXT_FILTERS:
        values = _split(str(form.get(f"when-{key}") or ""))
        if values:
            when[key] = values
    meta_lines = [ln for ln in str(form.get("when-meta") or "").splitlines() if ln.strip()]
    if meta_lines:
        meta: dict[str, Any] = {}
        for line in meta_lines:
            key, sep, value = line.partition("=")
            meta[key.strip()] = value.strip() if sep else None
        when["meta"] = meta
    consent = str(form.get("when-consent") or "")
    if consent in ("yes", "no"):
        when["consent"] = consent == "yes"
    steps: list[dict[str, Any]] = []
    for i in range(int(str(form.get("step-count") or "0") or 0) if _is_count(form) else 0):
        action = str(form.get(f"step-{i}-action") or "").strip()
        if not action or form.get(f"step-{i}-remove"):
            continue
        kept = str(form.get(f"step-{i}-json") or "")
        if action == "questionnaire" and kept:
            try:
                steps.append({**json.loads(kept), "action": "questionnaire"})
            except ValueError:
                steps.append({"action": "questionnaire"})
            continue
        step: dict[str, Any] = {
            "after": str(form.get(f"step-{i}-after") or "0s").strip() or "0s",
            "action": action,
        }
        for key in ACTION_FIELDS.get(action, ()):
            value = str(form.get(f"step-{i}-{key}") or "")
            if key == "marketing":
                if value in ("yes", "no"):
                    step["marketing"] = value == "yes"
            elif value.strip():
                step[key] = value
        steps.append(step)
    return {
        "name": str(form.get("name") or "").strip(),
        "enabled": bool(form.get("enabled")),
        "trigger": str(form.get("trigger") or "lead.created"),
        "when": when,
        "steps": steps,
    }


def _is_count(form: FormData) -> bool:
    n = whole(str(form.get("step-count") or "0"))
    return n is not None and n <= 50


def field_of(problem: str) -> tuple[str, str]:
    """``steps[2].after: reason`` -> (``step-2-after``, reason): where the editor shows it."""
    where, _, reason = problem.partition(": ")
    m = re.fullmatch(r"steps\[(\d+)\](?:\.(\w+))?", where)
    if m:
        return f"step-{m[1]}-{m[2] or 'action'}", reason
    if where.startswith("when."):
        return "when-" + where.removeprefix("when.").split(".")[0], reason
    if where == "steps":
        return "steps", reason
    return where if where in ("name", "trigger", "enabled") else "workflow", reason


def errors_by_field(problems: list[str]) -> dict[str, list[str]]:
    """Problems keyed by the editor's field names (step numbers count the kept steps, which
    are the rows the editor shows again)."""
    out: dict[str, list[str]] = {}
    for p in problems:
        name, reason = field_of(p)
        out.setdefault(name, []).append(reason)
    return out


def kept_rows(form: FormData) -> list[int]:
    """The form rows that became steps, in order."""
    if not _is_count(form):
        return []
    return [
        i
        for i in range(int(str(form.get("step-count") or "0")))
        if str(form.get(f"step-{i}-action") or "").strip() and not form.get(f"step-{i}-remove")
    ]


def from_definition(d: dict[str, Any]) -> dict[str, Any]:
    """What the editor shows for a stored workflow."""
    when = d.get("when") or {}
    return {
        "name": d.get("name", ""),
        "enabled": d.get("enabled", True),
        "trigger": d.get("trigger", "lead.created"),
        "when": {
            **{k: [str(v) for v in when.get(k) or []] for k in LIST_FILTERS},
            **{k: ", ".join(when.get(k) or []) for k in TEXT_FILTERS},
            "meta": "\n".join(f"{k}={v}" for k, v in (when.get("meta") or {}).items()),
            "consent": _yes_no(when.get("consent")),
        },
        "steps": [
            {
                **{k: "" for k in STEP_FIELDS},
                **{k: v for k, v in s.items() if k != "marketing"},
                "marketing": _yes_no(s.get("marketing")),
                "json": json.dumps(s) if s.get("action") == "questionnaire" else "",
            }
            for s in d.get("steps") or []
        ],
    }


def from_form(form: FormData) -> dict[str, Any]:
    """The editor's fields as posted, to show them again with the errors."""
    d = to_definition(form)
    shown = from_definition(d)
    shown["when"]["meta"] = str(form.get("when-meta") or "")
    shown["steps"] = [
        {k: str(form.get(f"step-{i}-{k}") or "") for k in (*STEP_FIELDS, "json")}
        for i in kept_rows(form)
    ]
    return shown


def _yes_no(value: Any) -> str:
    return "yes" if value is True else "no" if value is False else ""
