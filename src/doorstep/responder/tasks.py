"""A workflow's steps, run by the worker: e-mail the lead, e-mail them a questionnaire, alert
the office, set the next action date. Every outcome is on the lead's timeline: sent, not sent
and why, failed with the reason, stopped and why.

A follow-up (a step with a delay) does not run once the lead has left the stage Unread, or
once the person has unsubscribed; a marketing message needs the person's consent."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from doorstep.auth import keys
from doorstep.config import get_settings
from doorstep.jobs import GiveUp, Later, Retry, handler
from doorstep.jobs.worker import Work
from doorstep.leads.contact import normalise_email, normalise_phone
from doorstep.leads.events import LeadChange
from doorstep.leads.serialize import iso, read_lead
from doorstep.models import Account, Lead, LeadEvent, Office, Suppression, User, UserOffice
from doorstep.models.base import LONDON, utcnow
from doorstep.offices.hours import HoursError, is_open, next_opening, parse_hours
from doorstep.responder import mail, questionnaire, sms
from doorstep.responder.definition import QuestionnaireStep, parse_duration
from doorstep.responder.templates import TemplateProblem, render
from doorstep.telephony import service as telephony
from doorstep.webhooks import service as webhooks

UNREAD = 50


@dataclass
class Context:
    lead: dict[str, Any]
    stage_id: int
    office: dict[str, Any]
    account: dict[str, Any]
    negotiators: list[str]
    unsubscribed_email: bool

    @property
    def variables(self) -> dict[str, Any]:
        return {"lead": self.lead, "office": self.office, "account": self.account}


def office_dict(o: Office | None) -> dict[str, Any]:
    if o is None:
        return {"id": None, "name": "", "postcode": None, "email": None, "phone": None,
                "sender_name": None, "address": None, "opening_hours": None}  # fmt: skip
    return {
        "id": o.id,
        "name": o.name,
        "postcode": o.postcode,
        "email": o.email,
        "phone": o.phone,
        "sender_name": o.sender_name,
        "address": o.address,
        "opening_hours": o.opening_hours,
    }


def load_context(session: Session, account_id: int, lead_id: int) -> Context | None:
    lead = read_lead(session, account_id, lead_id)
    if lead is None:
        return None
    stage_id = session.scalar(select(Lead.stage_id).where(Lead.id == lead_id)) or UNREAD
    office = session.get(Office, lead["office_id"]) if lead.get("office_id") else None
    account = session.get(Account, account_id)
    negotiators: list[str] = []
    if office is not None:
        negotiators = list(
            session.scalars(
                select(User.email)
                .join(UserOffice, UserOffice.user_id == User.id)
                .where(UserOffice.office_id == office.id, User.account_id == account_id)
                .order_by(User.email)
            )
        )
    # An unsubscribe by either link stops every follow-up to the person, e-mail or text.
    phone, _ = normalise_phone(lead["phone"])
    suppressed = session.scalar(
        select(Suppression.id)
        .where(
            Suppression.account_id == account_id,
            or_(
                and_(
                    Suppression.channel == "email",
                    Suppression.address == normalise_email(lead["email"]),
                ),
                and_(Suppression.channel == "sms", Suppression.address == (phone or "")),
            ),
        )
        .limit(1)
    )
    return Context(
        lead=lead,
        stage_id=stage_id,
        office=office_dict(office),
        account={"id": account_id, "name": account.name if account else ""},
        negotiators=negotiators,
        unsubscribed_email=suppressed is not None,
    )


def note(work: Work, outcome: str, detail: str | None = None, **extra: Any) -> None:
    """The step's outcome on the lead's timeline, in the job's own transaction."""
    p = work.payload
    work.session.add(
        LeadEvent(
            lead_id=work.job.lead_id,
            account_id=work.job.account_id,
            kind="responder",
            data={
                "workflow": p.get("workflow"),
                "workflow_id": p.get("workflow_id"),
                "action": p["step"]["action"],
                "outcome": outcome,
                "detail": detail,
                "job_id": work.job.id,
                **extra,
            },
        )
    )


def _failed(work: Work, reason: str) -> None:
    note(work, "failed", reason, attempts=work.job.attempts)


# -- unsubscribe links -------------------------------------------------------------------


def _unsubscribe_signer() -> URLSafeSerializer:
    return URLSafeSerializer(keys.current(), salt="doorstep.unsubscribe")


@dataclass(frozen=True)
class Unsubscribe:
    account_id: int
    lead_id: int
    channel: str
    workflow_id: int | None  # the workflow whose message carried the link


def unsubscribe_url(
    account_id: int, lead_id: int, channel: str = "email", workflow_id: int | None = None
) -> str:
    token = _unsubscribe_signer().dumps(
        {"a": account_id, "l": lead_id, "c": channel, "w": workflow_id}
    )
    return f"{get_settings().public_url.rstrip('/')}/unsubscribe/{token}"


def read_unsubscribe(token: str) -> Unsubscribe | None:
    try:
        data = _unsubscribe_signer().loads(token)
    except BadSignature:
        return None
    if not isinstance(data, dict):
        return None
    a, lead, c, w = data.get("a"), data.get("l"), data.get("c"), data.get("w")
    if not isinstance(a, int) or not isinstance(lead, int) or c not in ("email", "sms"):
        return None
    return Unsubscribe(a, lead, c, w if isinstance(w, int) else None)


# -- the step ----------------------------------------------------------------------------


def _stop_reason(work: Work, ctx: Context) -> str | None:
    p = work.payload
    step = p["step"]
    follow_up = parse_duration(step.get("after", "0s")) > timedelta(0)
    if follow_up and ctx.stage_id != UNREAD:
        return f"the lead is no longer Unread (status {ctx.lead['status']})"
    if step["action"] in ("email_lead", "sms_lead", "questionnaire"):
        if p.get("marketing") and ctx.unsubscribed_email:
            return "the person unsubscribed"
        if p.get("marketing") and not ctx.lead.get("gdpr_checkbox"):
            return (
                "a follow-up needs the person's consent (gdpr_checkbox), and they did not give it"
            )
    return None


def _render(
    source: str, ctx: Context, *, html: bool = False, extra: dict[str, Any] | None = None
) -> str:
    try:
        return render(source, ctx.variables | (extra or {}), html=html)
    except TemplateProblem as e:
        # Checked on save; a lead can still hold what the sample did not (a None in arithmetic).
        raise GiveUp(f"the template could not be rendered for this lead: {e}") from None


def _sender(ctx: Context) -> tuple[str, str]:
    settings = get_settings()
    address = ctx.office.get("email") or settings.mail_from
    name = ctx.office.get("sender_name") or ctx.office.get("name") or ctx.account["name"]
    if not address:
        raise GiveUp("no sender address: set the office's e-mail address or DOORSTEP_MAIL_FROM")
    return address, name


NO_SMTP = "no SMTP server (set DOORSTEP_SMTP_URL)"


def _no_smtp(work: Work) -> bool:
    """No SMTP server is configured: the step is recorded as not sent (the demo's case)."""
    if get_settings().smtp_url.strip():
        return False
    note(work, "not_sent", NO_SMTP)
    return True


def _message_id(work: Work, sender: str, n: int = 0) -> str:
    """The same Message-ID on every attempt of a job: an e-mail sent again after a worker
    died mid-send is recognisably the same message to the recipient's mail system."""
    domain = sender.rpartition("@")[2] or "doorstep.invalid"
    return f"<doorstep.job{work.job.id}.{n}@{domain}>"


def _send(work: Work, msg: mail.OutgoingEmail) -> bool:
    """True when sent; False when there is no SMTP server."""
    mailer = mail.mailer_from_url(get_settings().smtp_url)
    try:
        mailer.send(msg)
    except mail.NotConfigured:
        return False
    except mail.PermanentMailError as e:
        raise GiveUp(e.reason) from None
    except mail.TransientMailError as e:
        raise Retry(e.reason) from None
    return True


def _lead_email(
    work: Work, ctx: Context, *, extra: dict[str, Any] | None = None, link: str | None = None
) -> mail.OutgoingEmail:
    """The step's e-mail to the lead. ``link``: added at the end when the body (or the HTML)
    does not show it already."""
    step = work.payload["step"]
    from_address, from_name = _sender(ctx)
    marketing = bool(work.payload.get("marketing"))
    text = _render(step["body"], ctx, extra=extra)
    html = _render(step["html"], ctx, html=True, extra=extra) if step.get("html") else None
    if link and link not in text:
        text = text.rstrip("\n") + f"\n\n{link}\n"
    if link and html is not None and link not in html:
        html += f'<p><a href="{link}">Answer the questions</a></p>'
    unsubscribe = None
    if marketing:
        unsubscribe = unsubscribe_url(
            int(work.job.account_id or 0),
            int(work.job.lead_id or 0),
            workflow_id=work.payload.get("workflow_id"),
        )
        text += f"\n\n--\nNo more e-mails like this: {unsubscribe}\n"
        if html is not None:
            html += f'<p style="font-size:small"><a href="{unsubscribe}">Unsubscribe</a></p>'
    return mail.OutgoingEmail(
        message_id=_message_id(work, from_address),
        to=ctx.lead["email"],
        to_name=ctx.lead.get("full_name") or "",
        subject=_render(step["subject"], ctx, extra=extra),
        text=text,
        html=html,
        from_address=from_address,
        from_name=from_name,
        reply_to=ctx.office.get("email") or None,
        unsubscribe_url=unsubscribe,
        headers={"X-Doorstep-Lead": str(work.job.lead_id)},
    )


def _email_lead(work: Work, ctx: Context) -> None:
    if _no_smtp(work):
        return
    msg = _lead_email(work, ctx)
    if _send(work, msg):
        note(work, "sent", f"E-mail “{msg.subject}” to {msg.to}", message_id=msg.message_id)
    else:
        note(work, "not_sent", NO_SMTP, subject=msg.subject)


def _questionnaire(work: Work, ctx: Context) -> None:
    """E-mail a link to the step's questionnaire; the questionnaire is stored (as sent) only
    once the e-mail is, so every stored one is in someone's inbox."""
    if _no_smtp(work):
        return
    p = work.payload
    form = QuestionnaireStep.model_validate(p["step"])
    account_id, lead_id = int(work.job.account_id or 0), int(work.job.lead_id or 0)
    row = questionnaire.new_row(
        account_id, lead_id, p.get("workflow_id"), str(p.get("workflow") or ""),
        int(p.get("step_index") or 0), form,
    )  # fmt: skip
    url = questionnaire.link(account_id, row.key, row.expires_at)
    msg = _lead_email(work, ctx, extra={"questionnaire_url": url}, link=url)
    if not _send(work, msg):
        note(work, "not_sent", NO_SMTP, subject=msg.subject)
        return
    work.session.add(row)
    until = row.expires_at.astimezone(LONDON).strftime("%-d %b %Y, %H:%M")
    note(
        work,
        "sent",
        f"Questionnaire “{msg.subject}” to {msg.to}; the link works until {until}",
        message_id=msg.message_id,
    )


def _office_alert_text(ctx: Context, link: str) -> str:
    lead = ctx.lead
    lines = [
        f"New {lead['type']} lead from {lead['source']}: {lead['full_name']}",
        "",
        f"Phone:    {lead['phone']}",
        f"E-mail:   {lead['email']}",
    ]
    where = lead.get("advert_address") or lead.get("address")
    pc = lead.get("advert_postcode") if lead["type"] in ("sale", "let") else lead.get("postcode")
    if where or pc:
        lines.append(f"Property: {', '.join(x for x in (where, pc) if x)}")
    if lead.get("average_sale_estimation"):
        lines.append(f"Estimate: £{lead['average_sale_estimation']:,}")
    if lead.get("message"):
        lines += ["", f"Message: {lead['message']}"]
    lines += ["", f"Open the lead: {link}"]
    return "\n".join(lines) + "\n"


def _notify_office(work: Work, ctx: Context) -> None:
    step = work.payload["step"]
    to = [a for a in [ctx.office.get("email"), *ctx.negotiators] if a]
    if not to:
        note(work, "not_sent", "the office has no e-mail address and no negotiators")
        return
    if _no_smtp(work):
        return
    from_address, from_name = _sender(ctx)
    link = f"{get_settings().public_url.rstrip('/')}/leads/{work.job.lead_id}"
    lead = ctx.lead
    subject = (
        _render(step["subject"], ctx)
        if step.get("subject")
        else f"New {lead['type']} lead: {lead['full_name']} ({lead['source']})"
    )
    text = _render(step["body"], ctx) + f"\n\n{link}\n" if step.get("body") else None
    sent: list[str] = []
    for n, address in enumerate(dict.fromkeys(to)):
        msg = mail.OutgoingEmail(
            message_id=_message_id(work, from_address, n),
            to=address,
            subject=subject,
            text=text or _office_alert_text(ctx, link),
            from_address=from_address,
            from_name=f"{from_name} (Doorstep)",
            reply_to=lead["email"],
            headers={"X-Doorstep-Lead": str(work.job.lead_id)},
        )
        if not _send(work, msg):
            note(work, "not_sent", NO_SMTP, subject=subject)
            return
        sent.append(address)
    note(work, "sent", f"Office alert to {', '.join(sent)}", subject=subject)


def _set_next_action(work: Work, ctx: Context) -> None:
    step = work.payload["step"]
    when = utcnow() + parse_duration(step["in"])
    lead = work.session.get(Lead, work.job.lead_id, with_for_update=True)
    if lead is None:
        return
    lead.next_action_date = when
    lead.updated_at = utcnow()
    note(work, "done", f"Next action date set to {iso(when)}", next_action_date=iso(when))


# Texts wait for the office's opening hours; an office that has not set any is taken to be
# open at the hours people expect a business to text them.
DEFAULT_TEXT_HOURS = "Mon-Fri 09:00-20:00, Sat 09:00-17:00"


def _sms_lead(work: Work, ctx: Context) -> None:
    step = work.payload["step"]
    to = sms.uk_mobile(ctx.lead["phone"])
    if to is None:
        note(work, "not_sent", f"{ctx.lead['phone']} is not a UK mobile number")
        return
    hours_text = ctx.office.get("opening_hours") or DEFAULT_TEXT_HOURS
    try:
        hours = parse_hours(hours_text)
    except HoursError:
        hours = parse_hours(DEFAULT_TEXT_HOURS)
    now = utcnow()
    if not is_open(hours, now):
        opens = next_opening(hours, now)
        if opens is None:
            note(work, "not_sent", "the office has no opening hours for texts")
            return
        raise Later(opens, f"waiting for the office to open ({hours.render()})")
    with work.reading() as s:
        settings = telephony.get(s, int(work.job.account_id or 0))
    if settings is None:
        note(work, "not_sent", "no text provider (set one with doorstep telephony set)")
        return
    text = _render(step["text"], ctx)
    if work.payload.get("marketing"):
        link = unsubscribe_url(
            int(work.job.account_id or 0),
            int(work.job.lead_id or 0),
            "sms",
            workflow_id=work.payload.get("workflow_id"),
        )
        text += f"\nStop these texts: {link}"
    sender = settings.sms_from or ctx.office.get("phone") or ""
    if not sender:
        raise GiveUp("no number to text from: set the office's phone or --sms-from")
    try:
        sid = telephony.sms_provider(settings).send(to, text, sender)
    except sms.PermanentSmsError as e:
        raise GiveUp(e.reason) from None
    except sms.TransientSmsError as e:
        raise Retry(e.reason) from None
    if settings.provider == "log":
        note(work, "logged", f"Text to {to} recorded, not sent (log-only provider)", text=text)
    else:
        note(work, "sent", f"Text to {to}", provider_id=sid, text=text[:160])


WORKFLOW_STEP_EVENT = "workflow.step"


def _call_webhook(work: Work, ctx: Context) -> None:
    """A signed delivery of the lead, as it stands now, to the account's endpoint at the
    step's URL: its secret signs it, and its retries and attempt log are the webhooks'."""
    url = work.payload["step"]["url"]
    endpoint = webhooks.endpoint_at(work.session, int(work.job.account_id or 0), url)
    if endpoint is None:
        raise GiveUp(f"{url} is no longer one of the account's webhook endpoints")
    change = LeadChange(
        WORKFLOW_STEP_EVENT,
        iso(utcnow()) or "",
        int(work.job.account_id or 0),
        int(work.job.lead_id or 0),
        ctx.lead,
    )
    webhooks.queue_deliveries(work.session, change, [endpoint])
    note(work, "sent", f"Webhook delivery to {url} queued (signed; see the Developer tab)")


ACTIONS = {
    "email_lead": _email_lead,
    "webhook": _call_webhook,
    "sms_lead": _sms_lead,
    "questionnaire": _questionnaire,
    "notify_office": _notify_office,
    "set_next_action": _set_next_action,
}


@handler("workflow.step", on_failure=_failed)
def run_step(work: Work) -> None:
    """One step of a Lead Responder workflow for one lead."""
    if work.job.account_id is None or work.job.lead_id is None:
        raise GiveUp("the job names no lead")
    with work.reading() as s:
        ctx = load_context(s, work.job.account_id, work.job.lead_id)
    if ctx is None:
        return  # the lead was deleted: nothing to answer
    stop = _stop_reason(work, ctx)
    if stop:
        note(work, "stopped", stop)
        return
    action = ACTIONS.get(work.payload["step"]["action"])
    if action is None:
        raise GiveUp(f"this version of Doorstep cannot {work.payload['step']['action']}")
    action(work, ctx)
