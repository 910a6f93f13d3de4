"""A workflow's JSON form (AUTOMATION.md), checked as a whole: every problem is named with
where it is (``steps[2].after: ...``), and nothing of a file with a problem is imported.

Top-level keys beyond these are kept as they are (a description, a version of your own); a
key that ``when`` or a step does not know is refused, since a misspelt filter would
otherwise match every lead.

A ``questionnaire`` step (pre-qualification) e-mails a link to a short hosted form: its
questions (choices, or free text), questions asked only after a given answer (``ask_if``),
and rules on the answers that create a linked lead (``rules``). The references between them
are checked on the raw JSON, so they are named even when something else is wrong too."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from doorstep.geo import postcodes
from doorstep.leads.schemas import SOURCES, LeadType, compact_size
from doorstep.responder import templates

TRIGGERS = ("lead.created", "lead.status_changed")
_DURATION = re.compile(r"^(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")
MAX_DELAY = timedelta(days=365)


def parse_duration(value: str) -> timedelta:
    """``"0s"``, ``"90s"``, ``"5m"``, ``"2h"``, ``"2d"``, ``"1w"``, ``"1d12h"``; ValueError."""
    text = value.strip().lower().replace(" ", "") if isinstance(value, str) else ""
    m = _DURATION.match(text)
    if not text or not m or not any(m.groups()):
        raise ValueError(
            f"{value!r} is not a duration: write a number and a unit, s, m, h, d or w "
            '(e.g. "0s", "10m", "2d", "1d12h").'
        )
    w, d, h, mi, s = (int(g or 0) for g in m.groups())
    delta = timedelta(weeks=w, days=d, hours=h, minutes=mi, seconds=s)
    if delta > MAX_DELAY:
        raise ValueError(f"{value!r} is more than a year.")
    return delta


def format_duration(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds == 0:
        return "0s"
    out = ""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        n, seconds = divmod(seconds, size)
        if n:
            out += f"{n}{unit}"
    return out


Duration = Annotated[str, Field(description='e.g. "0s", "10m", "2d"')]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


def _as_list(v: Any) -> Any:
    return [v] if isinstance(v, str | int) and not isinstance(v, bool) else v


class When(_Strict):
    type: list[LeadType] | None = None
    source: list[str] | None = None
    office_id: list[int] | None = None
    meta: dict[str, str] | None = None
    postcode_area: list[str] | None = None
    postcode_district: list[str] | None = None
    consent: bool | None = None
    # lead.status_changed: the status the lead moved to (names, any case).
    status: list[str] | None = None

    _lists = field_validator(
        "type", "source", "office_id", "postcode_area", "postcode_district", "status",
        mode="before",
    )(_as_list)  # fmt: skip

    @field_validator("source")
    @classmethod
    def _sources(cls, v: list[str] | None) -> list[str] | None:
        if v is None:
            return v
        bad = [s for s in v if s.strip().lower() not in SOURCES]
        if bad:
            raise ValueError(f"Unknown source {', '.join(bad)}; sources: {', '.join(SOURCES)}.")
        return [s.strip().lower() for s in v]

    @field_validator("postcode_area")
    @classmethod
    def _areas(cls, v: list[str] | None) -> list[str] | None:
        if v is None:
            return v
        out = [a.strip().upper() for a in v]
        bad = [a for a in out if not re.fullmatch(r"[A-Z]{1,2}", a)]
        if bad:
            raise ValueError(f"Not a postcode area: {', '.join(bad)} (e.g. NG, SW).")
        return out

    @field_validator("postcode_district")
    @classmethod
    def _districts(cls, v: list[str] | None) -> list[str] | None:
        if v is None:
            return v
        out = [d.strip().upper() for d in v]
        bad = [d for d in out if postcodes.classify(d) != ("district", d)]
        if bad:
            raise ValueError(f"Not a postcode district: {', '.join(bad)} (e.g. NG1, SW19).")
        return out


class _Step(_Strict):
    after: Duration = "0s"

    @field_validator("after")
    @classmethod
    def _after(cls, v: str) -> str:
        return format_duration(parse_duration(v))

    @property
    def delay(self) -> timedelta:
        return parse_duration(self.after)

    @property
    def is_follow_up(self) -> bool:
        return self.delay > timedelta(0)


class EmailLead(_Step):
    action: Literal["email_lead"]
    subject: str = Field(min_length=1, max_length=300)
    body: str = Field(min_length=1, max_length=20_000)
    html: str | None = Field(None, max_length=100_000)
    # Marketing messages need the person's consent (gdpr_checkbox) and carry an unsubscribe
    # link. Default: a follow-up is marketing; the instant reply to an enquiry is not.
    marketing: bool | None = None


class SmsLead(_Step):
    action: Literal["sms_lead"]
    text: str = Field(min_length=1, max_length=640)
    marketing: bool | None = None


class NotifyOffice(_Step):
    action: Literal["notify_office"]
    subject: str | None = Field(None, max_length=300)
    body: str | None = Field(None, max_length=20_000)


class SetNextAction(_Step):
    action: Literal["set_next_action"]
    # From the moment the step runs: "1h", "1d".
    in_: Duration = Field(alias="in")

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    @field_validator("in_")
    @classmethod
    def _in(cls, v: str) -> str:
        return format_duration(parse_duration(v))


class CallWebhook(_Step):
    action: Literal["webhook"]
    url: str = Field(max_length=2000)

    @field_validator("url")
    @classmethod
    def _url(cls, v: str) -> str:
        if not re.match(r"^https?://[^\s/]+", v, re.IGNORECASE):
            raise ValueError("Must be an http:// or https:// address.")
        return v


_QUESTION_ID = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,39}$")
FREE_TEXT_DEFAULT_LENGTH = 500
# A lead's questionnaire holds at most this (CONTRACT.md); a form whose answers could not fit
# would leave the person with answers nobody can store.
QUESTIONNAIRE_BYTES = 2048
Answer = Annotated[str, Field(min_length=1, max_length=100)]
# {question id: the answer, or a list of answers any of which will do}
Condition = dict[str, str | list[str]]


class Question(_Strict):
    id: str = Field(max_length=40)
    text: str = Field(min_length=1, max_length=300)
    # The choices, or null for a free-text answer (at most max_length characters).
    answers: list[Answer] | None = Field(None, max_length=12)
    max_length: int | None = Field(None, ge=1, le=1000)
    # Asked only when every named earlier question got (one of) the given answer(s).
    ask_if: Condition | None = None
    required: bool = True

    @field_validator("id")
    @classmethod
    def _id(cls, v: str) -> str:
        if not _QUESTION_ID.match(v):
            raise ValueError(
                f"{v!r} is not a question id: a letter, then letters, digits or _ "
                '(e.g. "has_property").'
            )
        return v

    @field_validator("answers")
    @classmethod
    def _answers(cls, v: list[str] | None) -> list[str] | None:
        if v is None:
            return v
        if not v:
            raise ValueError("give at least one answer, or null for a free-text question")
        seen: set[str] = set()
        twice: list[str] = []
        for a in v:
            if a.casefold() in seen:
                twice.append(a)
            seen.add(a.casefold())
        if twice:
            raise ValueError(f"the same answer twice: {', '.join(twice)}")
        return v

    @property
    def free_text(self) -> bool:
        return self.answers is None

    @property
    def limit(self) -> int:
        return self.max_length or FREE_TEXT_DEFAULT_LENGTH


class CreateLead(_Strict):
    type: LeadType

    @field_validator("type", mode="before")
    @classmethod
    def _type(cls, v: Any) -> Any:
        return v.strip().lower() if isinstance(v, str) else v


class Rule(_Strict):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, populate_by_name=True)

    if_: Condition = Field(alias="if", min_length=1)
    create_lead: CreateLead


class QuestionnaireStep(_Step):
    action: Literal["questionnaire"]
    subject: str = Field(min_length=1, max_length=300)
    # ``{{ questionnaire_url }}`` is the link; a body without it gets the link appended.
    body: str = Field(min_length=1, max_length=20_000)
    html: str | None = Field(None, max_length=100_000)
    marketing: bool | None = None
    # How long the link works.
    expires: Duration = "14d"
    # Shown above the questions on the page (plain text).
    intro: str | None = Field(None, max_length=1000)
    questions: list[Question] = Field(min_length=1, max_length=20)
    rules: list[Rule] = Field(default_factory=list, max_length=10)

    @field_validator("expires")
    @classmethod
    def _expires(cls, v: str) -> str:
        delta = parse_duration(v)
        if delta < timedelta(hours=1):
            raise ValueError(f"{v!r} is too short for a link a person opens later: 1h at least.")
        return format_duration(delta)

    @property
    def lifetime(self) -> timedelta:
        return parse_duration(self.expires)

    def question(self, qid: str) -> Question | None:
        return next((q for q in self.questions if q.id == qid), None)


Step = Annotated[
    EmailLead | SmsLead | NotifyOffice | SetNextAction | CallWebhook | QuestionnaireStep,
    Field(discriminator="action"),
]
ACTIONS = (
    "email_lead",
    "sms_lead",
    "notify_office",
    "set_next_action",
    "webhook",
    "questionnaire",
)


class Definition(BaseModel):
    model_config = ConfigDict(extra="allow", str_strip_whitespace=True)

    name: str = Field(min_length=1, max_length=200)
    enabled: bool = True
    trigger: Literal["lead.created", "lead.status_changed"] = "lead.created"
    when: When = Field(default_factory=When)
    steps: list[Step] = Field(min_length=1, max_length=20)

    def is_marketing(self, step: EmailLead | SmsLead | QuestionnaireStep) -> bool:
        return step.is_follow_up if step.marketing is None else step.marketing


def _where(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part in ACTIONS:
            continue  # the discriminated union's branch name
        else:
            out += ("." if out else "") + str(part)
    return out or "workflow"


def _message(err: Any) -> str:
    if err["type"] == "union_tag_invalid":
        return f"unknown action {err['input'].get('action')!r}; actions: {', '.join(ACTIONS)}"
    if err["type"] == "union_tag_not_found":
        return f"every step needs an action ({', '.join(ACTIONS)})"
    if err["type"] == "extra_forbidden":
        return "not a known key here"
    return str(err["msg"]).removeprefix("Value error, ")


class DefinitionErrors(ValueError):
    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def parse(data: Any) -> Definition:
    """The checked definition, or DefinitionErrors naming every problem."""
    if not isinstance(data, dict):
        raise DefinitionErrors(["workflow: must be a JSON object"])
    problems: list[str] = []
    d: Definition | None = None
    try:
        d = Definition.model_validate(data)
    except ValidationError as e:
        problems = [f"{_where(err['loc'])}: {_message(err)}" for err in e.errors()]
    if d is not None and d.trigger == "lead.created" and d.when.status:
        problems.append("when.status: only for the trigger lead.status_changed")
    # The templates are checked even when something else is wrong: one pass names it all.
    steps = data.get("steps")
    for i, step in enumerate(steps if isinstance(steps, list) else []):
        if not isinstance(step, dict):
            continue
        extra = {"questionnaire_url": SAMPLE_QUESTIONNAIRE_URL}
        variables = extra if step.get("action") == "questionnaire" else None
        for key in ("subject", "body", "text", "html"):
            source = step.get(key)
            if isinstance(source, str) and source.strip():
                problem = templates.check(source, html=key == "html", extra=variables)
                if problem:
                    problems.append(f"steps[{i}].{key}: {problem}")
        if step.get("action") == "questionnaire":
            problems += [f"steps[{i}].{p}" for p in _questionnaire_references(step)]
    if d is not None:
        for i, s in enumerate(d.steps):
            if isinstance(s, QuestionnaireStep):
                size = _largest_answers(s)
                if size > QUESTIONNAIRE_BYTES:
                    problems.append(
                        f"steps[{i}].questions: the answers could take {size} bytes, more than "
                        f"the {QUESTIONNAIRE_BYTES} a lead's questionnaire holds; shorten the "
                        "questions or the free-text max_length"
                    )
    if problems or d is None:
        raise DefinitionErrors(problems)
    return d


SAMPLE_QUESTIONNAIRE_URL = "https://doorstep.example.com/q/sample-link"


def _answer_problem(
    where: str, qid: str, want: Any, choices: dict[str, list[str] | None], later: set[str]
) -> str:
    if qid not in choices:
        if qid in later:
            return f"{where}.{qid}: {qid} is asked later; ask_if can name only earlier questions"
        return f"{where}: unknown question {qid!r} (questions: {', '.join(choices) or 'none'})"
    answers = choices[qid]
    if answers == []:
        return ""  # named already: the question has no answers
    if answers is None:
        return f"{where}.{qid}: {qid} is a free-text question; only choices can be tested"
    wanted = want if isinstance(want, list) else [want]
    bad = [w for w in wanted if not isinstance(w, str) or w.strip() not in answers]
    if bad or not wanted:
        shown = ", ".join(repr(b) for b in bad) or "no answer"
        return f"{where}.{qid}: {shown} is not an answer of {qid} ({', '.join(answers)})"
    return ""


def _questionnaire_references(step: dict[str, Any]) -> list[str]:
    """Question ids: unique; ``ask_if`` names only earlier choice questions and their
    answers; a rule's ``if`` names only choice questions and their answers."""
    problems: list[str] = []
    raw = step.get("questions")
    questions: list[Any] = raw if isinstance(raw, list) else []
    ids = {
        q["id"].strip() for q in questions if isinstance(q, dict) and isinstance(q.get("id"), str)
    }
    choices: dict[str, list[str] | None] = {}
    for j, q in enumerate(questions):
        if not isinstance(q, dict):
            continue
        qid = q.get("id")
        qid = qid.strip() if isinstance(qid, str) else qid
        ask_if = q.get("ask_if")
        if isinstance(ask_if, dict):
            for ref, want in ask_if.items():
                if ref == qid:
                    problems.append(f"questions[{j}].ask_if.{ref}: a question cannot follow itself")
                    continue
                p = _answer_problem(f"questions[{j}].ask_if", ref, want, choices, ids)
                if p:
                    problems.append(p)
        if not isinstance(qid, str):
            continue
        if qid in choices:
            problems.append(f"questions[{j}].id: {qid!r} is the id of an earlier question too")
            continue
        answers = q.get("answers")
        if isinstance(answers, list):
            choices[qid] = [a.strip() for a in answers if isinstance(a, str)]
        else:
            choices[qid] = None
    rules = step.get("rules")
    for k, rule in enumerate(rules if isinstance(rules, list) else []):
        cond = rule.get("if") if isinstance(rule, dict) else None
        if isinstance(cond, dict):
            for ref, want in cond.items():
                p = _answer_problem(f"rules[{k}].if", ref, want, choices, set())
                if p:
                    problems.append(p)
    return problems


def _largest_answers(step: QuestionnaireStep) -> int:
    """The bytes of the longest possible answers, as the lead's questionnaire pairs."""
    pairs = [
        [q.text, "x" * q.limit if q.free_text else max(q.answers or [""], key=len)]
        for q in step.questions
    ]
    return compact_size(pairs)


def to_json(d: Definition) -> dict[str, Any]:
    return d.model_dump(mode="json", by_alias=True, exclude_none=True)
