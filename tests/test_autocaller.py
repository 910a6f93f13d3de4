"""The autocaller as it runs: Doorstep's own HTTP server (the TwiML and callbacks), the Twilio
simulator speaking the Calls API (placing calls, fetching the TwiML, playing the negotiators
and the lead, posting signed callbacks), and a worker running the call jobs. Nothing of
Doorstep is patched; only Twilio is replaced, at its HTTP boundary."""

from __future__ import annotations

import time
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import select, update
from typer.testing import CliRunner

from doorstep import db
from doorstep.cli import app as cli
from doorstep.config import get_settings
from doorstep.models import Call, CallLeg, Job, Lead, LeadEvent
from doorstep.models.base import utcnow
from doorstep.models.status import NEW_STATUS_ID
from tests.browser import LiveServer
from tests.conftest import create_lead_api
from tests.test_responder import _drain
from tests.twilio_sim import Phone, signature, twilio_sim  # noqa: F401  (the fixture)

runner = CliRunner()
NEG1, NEG2 = "+447986000001", "+447986000002"
LEAD_PHONE = "+441623000000"
OFFICE_NUMBER = "+441159000000"
ALWAYS = "Mon-Sun 00:00-24:00"


def _invoke(*args: str) -> None:
    r = runner.invoke(cli, [*args, "--json"])
    assert r.exit_code == 0, r.output


@pytest.fixture
def phones(app, twilio_sim, owner, monkeypatch):  # noqa: F811
    """Doorstep served over HTTP at DOORSTEP_PUBLIC_URL, its account on Twilio (the
    simulator), and Nottingham's autocaller on at all hours."""
    with LiveServer(app) as server:
        monkeypatch.setenv("DOORSTEP_PUBLIC_URL", server.url)
        monkeypatch.setenv("DOORSTEP_TWILIO_API_URL", twilio_sim.base_url)
        get_settings.cache_clear()
        sid, token = twilio_sim.add_account()
        _invoke("telephony", "set", "--account", str(owner.account_id), "--provider", "twilio",
                "--account-sid", sid, "--auth-token", token)  # fmt: skip
        _invoke("offices", "autocaller", str(owner.offices["Nottingham"]), "--on",
                "--from-number", OFFICE_NUMBER, "--negotiator", NEG1, "--negotiator", NEG2,
                "--hours", ALWAYS)  # fmt: skip
        twilio_sim.server_url = server.url
        yield twilio_sim
        twilio_sim.wait_idle()
    monkeypatch.undo()
    get_settings.cache_clear()


def _calls(lead_id: int) -> list[Call]:
    with db.transaction() as s:
        return list(s.scalars(select(Call).where(Call.lead_id == lead_id).order_by(Call.id)))


def _activity(lead_id: int) -> list[dict]:
    with db.transaction() as s:
        return [
            e.data
            for e in s.scalars(
                select(LeadEvent)
                .where(LeadEvent.lead_id == lead_id, LeadEvent.kind == "call")
                .order_by(LeadEvent.id)
            )
        ]


def _call_out(engine, sim, lead_id: int, n: int = 1) -> list[dict]:
    """Run the due jobs, let the simulator play the calls, wait for the n-th outcome."""
    _drain(engine)
    sim.wait_idle()
    deadline = time.monotonic() + 10
    while len(_activity(lead_id)) < n:
        assert time.monotonic() < deadline, _activity(lead_id)
        time.sleep(0.05)
    return _activity(lead_id)


def _retry_jobs() -> list[Job]:
    with db.transaction() as s:
        return list(
            s.scalars(
                select(Job)
                .where(Job.kind == "autocaller.call", Job.state == "pending")
                .order_by(Job.id)
            )
        )


def test_negotiator_presses_1_and_the_lead_answers_connected(engine, client, owner, phones):
    phones.phones[LEAD_PHONE] = Phone(talk=75)
    lead = create_lead_api(client, owner, phone="01623 000000", advert_postcode="NG1 5FS")
    (outcome,) = _call_out(engine, phones, lead["id"])
    assert outcome["outcome"] == "connected" and outcome["duration"] == 75
    assert outcome["negotiator"] == NEG1 and outcome["to"] == LEAD_PHONE
    neg = next(c for c in phones.calls.values() if c.to == NEG1)
    # the negotiator heard who the lead is: name, type, source, area
    assert any("New sale lead" in h and "Marla Singer" in h and "N G 1" in h for h in neg.heard)
    # the lead was dialled showing the office's number; nothing recorded was played to them
    assert neg.child is not None and neg.child.to == LEAD_PHONE
    assert neg.child.from_ == OFFICE_NUMBER and neg.child.heard == []
    assert "url" not in neg.child.dial_attributes
    assert neg.from_ == OFFICE_NUMBER
    # sequential: the second negotiator was never rung
    assert [c.to for c in phones.calls.values()] == [NEG1]
    (call,) = _calls(lead["id"])
    assert call.state == "ended" and call.connected_at and call.answered_at
    # a connected call moves the lead from New to Contacted, with the status-change entry
    with db.transaction() as s:
        assert s.get(Lead, lead["id"]).status_id != NEW_STATUS_ID
        kinds = [
            e.kind for e in s.scalars(select(LeadEvent).where(LeadEvent.lead_id == lead["id"]))
        ]
    assert "status_changed" in kinds
    assert _retry_jobs() == []
    # on the lead page
    from tests.factories import make_user, sign_in

    sign_in(client, make_user(owner.account_id))
    page = client.get(f"/leads/{lead['id']}").text
    assert "Call: connected" in page and "1 min 15 s" in page


def test_no_negotiator_answers_then_retries_by_the_policy(engine, client, owner, phones):
    phones.phones[NEG1] = Phone(answers=False)
    phones.phones[NEG2] = Phone(busy=True)
    lead = create_lead_api(client, owner)
    (outcome,) = _call_out(engine, phones, lead["id"])
    assert outcome["outcome"] == "no_negotiator" and outcome["attempt"] == 1
    assert [c.to for c in phones.calls.values()] == [NEG1, NEG2]  # one after the other
    assert all(c.child is None for c in phones.calls.values())  # the lead was never dialled
    # the next attempt 10 minutes on, then 30, then no more (3 attempts)
    (job,) = _retry_jobs()
    assert timedelta(minutes=9) < job.run_at - utcnow() <= timedelta(minutes=10)
    for n, wait in ((2, 30), (3, None)):
        with db.transaction() as s:
            s.execute(update(Job).where(Job.id == job.id).values(run_at=utcnow()))
        out = _call_out(engine, phones, lead["id"], n)
        assert out[-1]["attempt"] == n and out[-1]["outcome"] == "no_negotiator"
        jobs = _retry_jobs()
        if wait is None:
            assert jobs == []
        else:
            (job,) = jobs
            assert timedelta(minutes=wait - 1) < job.run_at - utcnow() <= timedelta(minutes=wait)


def test_a_negotiator_declines(engine, client, owner, phones):
    phones.phones[NEG1] = Phone(press="2")
    phones.phones[NEG2] = Phone(press="9")
    lead = create_lead_api(client, owner)
    (outcome,) = _call_out(engine, phones, lead["id"])
    assert outcome["outcome"] == "declined"
    assert all(c.child is None for c in phones.calls.values())
    assert len(_retry_jobs()) == 1


def test_simultaneous_ringing_the_first_to_press_1_takes_it(
    engine,
    client,
    owner,
    phones,
    twilio_sim,  # noqa: F811
):
    # Slower simulated seconds: 8 of them between the two answers must outlast a loaded
    # machine's scheduling (at the default 2 ms a second they were 16 ms, and flaked).
    twilio_sim.time_scale = 0.025
    _invoke(
        "offices", "autocaller", str(owner.offices["Nottingham"]), "--ring-mode", "simultaneous"
    )
    phones.phones[NEG1] = Phone(answer_after=10)
    phones.phones[NEG2] = Phone(answer_after=2)
    lead = create_lead_api(client, owner)
    (outcome,) = _call_out(engine, phones, lead["id"])
    assert outcome["outcome"] == "connected" and outcome["negotiator"] == NEG2
    assert {c.to for c in phones.calls.values() if c.parent is None} == {NEG1, NEG2}
    slow = next(c for c in phones.calls.values() if c.to == NEG1)
    assert slow.child is None  # the colleague's phone was stopped, the lead dialled once


@pytest.mark.parametrize(
    ("lead_phone", "outcome"),
    [(Phone(busy=True), "busy"), (Phone(answers=False), "no_answer"),
     (Phone(machine=True), "machine"), (Phone(fail="Carrier unreachable"), "failed")],
)  # fmt: skip
def test_the_leads_side_outcomes(engine, client, owner, phones, lead_phone, outcome):
    phones.phones[LEAD_PHONE] = lead_phone
    lead = create_lead_api(client, owner)
    (got,) = _call_out(engine, phones, lead["id"])
    assert got["outcome"] == outcome
    with db.transaction() as s:
        assert s.get(Lead, lead["id"]).status_id == NEW_STATUS_ID  # only a connection moves it
    if outcome == "machine":
        # no repeat within 24 h after a voicemail answer
        assert _retry_jobs() == []
        with db.transaction() as s:
            s.add(Job(kind="autocaller.call", payload={"attempt": 2}, account_id=owner.account_id,
                      lead_id=lead["id"], run_at=utcnow(), state="pending", attempts=0,
                      max_attempts=3, created_at=utcnow()))  # fmt: skip
        _drain(engine)
        (job,) = _retry_jobs()
        assert job.run_at - utcnow() > timedelta(hours=23) and "voicemail" in job.last_error
        assert len(_calls(lead["id"])) == 1
    else:
        assert len(_retry_jobs()) == 1


def test_provider_down_the_attempt_fails_with_the_reason_and_is_retried(
    engine, client, owner, phones
):
    phones.fail_next(503, 20503, "Service Unavailable")  # ringing the first negotiator
    phones.fail_next(503, 20503, "Service Unavailable")  # and the second
    lead = create_lead_api(client, owner)
    _drain(engine)
    (got,) = _activity(lead["id"])
    assert got["outcome"] == "failed" and "20503" in got["reason"]
    assert len(_retry_jobs()) == 1
    with db.transaction() as s:
        assert s.get(Lead, lead["id"]) is not None  # the lead is as it was


def test_a_number_that_is_not_callable_is_never_dialled(engine, client, owner, phones):
    lead = create_lead_api(client, owner, phone="+1 202 555 0123")
    _drain(engine)
    (got,) = _activity(lead["id"])
    assert got["outcome"] == "not_called" and "not a valid UK number" in got["reason"]
    assert phones.calls == {} and _calls(lead["id"]) == []


def test_outside_calling_hours_the_call_waits_and_the_oldest_goes_first(
    engine, client, owner, phones
):
    from doorstep.offices.hours import DAYS, UK

    other = DAYS[(utcnow().astimezone(UK).weekday() + 3) % 7]
    _invoke(
        "offices", "autocaller", str(owner.offices["Nottingham"]), "--hours", f"{other} 09:00-17:00"
    )
    first = create_lead_api(client, owner, phone="01623 000000")
    second = create_lead_api(client, owner, phone="01623 000001", email="b@b.example.com")
    _drain(engine)
    assert phones.calls == {}
    jobs = _retry_jobs()
    assert [j.lead_id for j in jobs] == [first["id"], second["id"]]
    assert jobs[0].attempts == 0 and "calling hours" in jobs[0].last_error
    assert jobs[0].run_at == jobs[1].run_at and jobs[0].run_at - utcnow() > timedelta(hours=12)
    # the opening comes: the oldest lead is rung first
    _invoke("offices", "autocaller", str(owner.offices["Nottingham"]), "--hours", ALWAYS)
    with db.transaction() as s:
        s.execute(update(Job).where(Job.kind == "autocaller.call").values(run_at=utcnow()))
    _call_out(engine, phones, first["id"])
    _call_out(engine, phones, second["id"])
    dialled = [c.child.to for c in phones.calls.values() if c.child is not None]
    assert dialled == ["+441623000000", "+441623000001"]


def test_never_past_the_cap_of_calls_in_24_hours(engine, client, owner, phones):
    _invoke("offices", "autocaller", str(owner.offices["Nottingham"]), "--daily-cap", "2",
            "--attempts", "5", "--retry-minutes", "1")  # fmt: skip
    phones.phones[NEG1] = phones.phones[NEG2] = Phone(answers=False)
    lead = create_lead_api(client, owner)
    for n in (1, 2):
        with db.transaction() as s:
            s.execute(update(Job).where(Job.kind == "autocaller.call").values(run_at=utcnow()))
        _call_out(engine, phones, lead["id"], n)
    with db.transaction() as s:
        s.execute(update(Job).where(Job.kind == "autocaller.call").values(run_at=utcnow()))
    _drain(engine)
    assert len(_calls(lead["id"])) == 2
    (job,) = _retry_jobs()
    assert "the office's cap" in job.last_error and job.run_at - utcnow() > timedelta(hours=23)


def test_forged_and_replayed_callbacks_are_refused(engine, client, owner, phones):
    lead = create_lead_api(client, owner)
    _call_out(engine, phones, lead["id"])
    sent = [c for c in phones.callbacks if c.url.endswith("/status")]
    assert sent and all(c.status == 204 for c in sent)
    one = sent[0]
    # the same callback again: refused as a replay
    r = httpx.post(one.url, data=one.params, headers=one.headers)
    assert r.status_code == 409
    # a changed field under the old signature: refused
    forged = {**one.params, "CallStatus": "completed", "SequenceNumber": "99"}
    r = httpx.post(one.url, data=forged, headers=one.headers)
    assert r.status_code == 403 and "Signature" in r.text
    # signed with another key: refused
    r = httpx.post(
        one.url, data=forged, headers={"X-Twilio-Signature": signature("0" * 32, one.url, forged)}
    )
    assert r.status_code == 403
    # no signature: refused
    assert httpx.post(one.url, data=forged).status_code == 403
    # a stale one, properly signed: refused
    token = phones.accounts[one.params["AccountSid"]]
    stale = {**forged, "Timestamp": "Mon, 16 Aug 2010 03:45:01 +0000"}
    r = httpx.post(
        one.url, data=stale, headers={"X-Twilio-Signature": signature(token, one.url, stale)}
    )
    assert r.status_code == 403 and "stale" in r.text
    # a forged "key pressed" cannot connect anyone
    key_url = one.url.replace("/status", "/key")
    r = httpx.post(key_url, data={**one.params, "Digits": "1"}, headers=one.headers)
    assert r.status_code == 403
    assert len(_activity(lead["id"])) == 1  # nothing more was recorded


def test_a_worker_killed_mid_call_loses_no_outcome(engine, client, owner, phones):
    """The outcome arrives by callback to the web app: with the worker gone once the call
    is placed (its job never recorded as done), the outcome is still recorded, and the job
    run again does not ring anyone twice."""
    from doorstep.jobs import queue
    from doorstep.jobs.worker import Worker

    lead = create_lead_api(client, owner)
    first = Worker(engine, 1, name="first")
    for j in queue.claim(engine, first.name, 50, timedelta(seconds=60)):
        first.run_one(j)  # the lead.event: the call job is written
    w = Worker(engine, 1, name="doomed")
    (job,) = [
        j
        for j in queue.claim(engine, w.name, 50, timedelta(seconds=1))
        if j.kind == "autocaller.call"
    ]
    from doorstep.autocaller.tasks import call_lead
    from doorstep.jobs.worker import Work

    work = Work(engine, job, w.name)
    call_lead(work)  # the call is placed...
    work.close()  # ...and the worker dies before recording the job as done
    phones.wait_idle()
    (got,) = _call_out(engine, phones, lead["id"])
    assert got["outcome"] == "connected"
    time.sleep(1.1)  # the dead worker's lease runs out; another worker takes the job again
    _drain(engine)
    phones.wait_idle()
    assert len(_calls(lead["id"])) == 1 and len(phones.calls) == 1
    with db.transaction() as s:
        assert s.get(Job, job.id).state == "done"


def test_call_legs_are_kept_for_each_number_rung(engine, client, owner, phones):
    phones.phones[NEG1] = Phone(answers=False)
    lead = create_lead_api(client, owner)
    _call_out(engine, phones, lead["id"])
    with db.transaction() as s:
        legs = list(s.scalars(select(CallLeg).order_by(CallLeg.id)))
    assert [(leg.role, leg.number, leg.status) for leg in legs] == [
        ("negotiator", NEG1, "unanswered"),
        ("negotiator", NEG2, "accepted"),
        ("lead", LEAD_PHONE, "completed"),
    ]


def test_reports_show_calls_per_office(engine, client, owner, phones):
    from doorstep.auth.principal import Actor
    from doorstep.reports import service as reports
    from tests.factories import make_user, sign_in

    reached = create_lead_api(client, owner)
    _call_out(engine, phones, reached["id"])
    phones.phones[NEG1] = phones.phones[NEG2] = Phone(answers=False)
    missed = create_lead_api(client, owner, phone="01623 000001", email="b@b.example.com")
    _call_out(engine, phones, missed["id"])
    create_lead_api(client, owner, phone="+1 202 555 0123", email="c@c.example.com")
    _drain(engine)
    today = utcnow().date()
    period, _ = reports.parse_period(str(today), str(today), today)
    (call,) = _calls(reached["id"])
    missed_call = _calls(missed["id"])[0]
    with db.transaction() as s:
        (row,) = reports.calls(s, Actor(owner.account_id), period)
        lead_at = s.get(Lead, reached["id"]).created_at
        missed_at = s.get(Lead, missed["id"]).created_at
    assert (row.office, row.leads, row.called, row.connected) == ("Nottingham", 3, 2, 1)
    assert row.outcomes == {"connected": 1, "no_negotiator": 1}
    expected = sorted(
        [
            (call.created_at - lead_at).total_seconds(),
            (missed_call.created_at - missed_at).total_seconds(),
        ]
    )
    assert row.median_to_call_s == pytest.approx(sum(expected) / 2)
    assert row.median_to_connection_s == pytest.approx(
        (call.connected_at - lead_at).total_seconds()
    )
    sign_in(client, make_user(owner.account_id))
    page = client.get("/reports").text
    assert "Calls, per office" in page and "connected: 1; no negotiator answered: 1" in page


def test_the_demo_calls_a_new_lead_through_the_simulator(engine, app, client, monkeypatch):
    """`make run`: the demo account's calls go to the simulator (`doorstep simulator`, the
    demo's credentials), so a newcomer creating a lead sees the call on its activity."""
    import json

    from doorstep.demo import DEMO_TWILIO_SID, DEMO_TWILIO_TOKEN
    from doorstep.telephony.simulator import TwilioSimulator, running_twilio_sim
    from tests.factories import sign_in

    sim = TwilioSimulator()
    sim.accounts[DEMO_TWILIO_SID] = DEMO_TWILIO_TOKEN
    with running_twilio_sim(0, sim), LiveServer(app) as server:
        monkeypatch.setenv("DOORSTEP_PUBLIC_URL", server.url)
        monkeypatch.setenv("DOORSTEP_TWILIO_API_URL", sim.base_url)
        get_settings.cache_clear()
        r = runner.invoke(cli, ["demo", "--json"])
        assert r.exit_code == 0, r.output
        demo = json.loads(r.stdout)
        r = client.post(
            "/api/v103/leads",
            json={"type": "sale", "first_name": "Ann", "last_name": "Lee", "email": "a@example.com",
                  "phone": "07986 123456", "advert_postcode": "NG1 5FS"},
            headers={"X-API-KEY": demo["token"]},
        )  # fmt: skip
        (got,) = _call_out(engine, sim, r.json()["id"])
        assert got["outcome"] == "connected" and got["from"] == "+441159000000"
        from tests.factories import UserInfo

        with db.transaction() as s:
            from doorstep.models import User

            admin = s.scalars(select(User).where(User.email == demo["admin_email"])).one()
            assert admin.phone  # "Call this lead" works in the demo too
            info = UserInfo(
                admin.id, admin.account_id, admin.email, demo["admin_password"], "admin"
            )
        sign_in(client, info)
        assert "Call: connected" in client.get(f"/leads/{r.json()['id']}").text
    monkeypatch.undo()
    get_settings.cache_clear()


def test_the_log_only_provider_records_the_call_and_rings_no_one(engine, client, owner, phones):
    _invoke("telephony", "set", "--account", str(owner.account_id), "--provider", "log")
    lead = create_lead_api(client, owner)
    _drain(engine)
    (got,) = _activity(lead["id"])
    assert got["outcome"] == "logged"
    assert (
        got["reason"]
        == f"would ring {NEG1}, {NEG2}, then dial {LEAD_PHONE} showing {OFFICE_NUMBER}"
    )
    assert phones.calls == {} and _retry_jobs() == []


def test_a_connected_call_emits_the_status_change_event(engine, client, owner, phones):
    lead = create_lead_api(client, owner)
    _call_out(engine, phones, lead["id"])
    with db.transaction() as s:
        events = [
            j.payload
            for j in s.scalars(
                select(Job).where(Job.kind == "lead.event", Job.lead_id == lead["id"])
            )
        ]
    changed = [e for e in events if e["type"] == "lead.status_changed"]
    assert len(changed) == 1 and changed[0]["detail"]["old_status"] == "New"
    assert changed[0]["detail"]["status"] == "Contacted"


def test_a_negotiators_voicemail_is_no_negotiator(engine, client, owner, phones):
    phones.phones[NEG1] = phones.phones[NEG2] = Phone(machine=True)
    lead = create_lead_api(client, owner)
    (got,) = _call_out(engine, phones, lead["id"])
    assert got["outcome"] == "no_negotiator"
    assert got["reason"] == f"voicemail answered on {NEG1}, {NEG2}"
    # nothing was said to the voicemail boxes, and the lead was never dialled
    assert all(c.heard == [] and c.child is None for c in phones.calls.values())
    assert len(_retry_jobs()) == 1


def test_a_negotiator_who_hangs_up_without_a_key_is_not_put_through(engine, client, owner, phones):
    phones.phones[NEG1] = Phone(hang_up_after=3)
    lead = create_lead_api(client, owner)
    (got,) = _call_out(engine, phones, lead["id"])
    # the second negotiator took it
    assert got["outcome"] == "connected" and got["negotiator"] == NEG2


def test_doorstep_simulator_serves_the_calls_api_for_the_demo():
    """`make run` starts `doorstep simulator`: Twilio's library places a call through it with
    the demo's credentials, and other credentials are refused."""
    import subprocess
    import sys

    from doorstep.autocaller.provider import CallError, Leg, TwilioVoice
    from doorstep.demo import DEMO_TWILIO_SID, DEMO_TWILIO_TOKEN
    from tests.live import free_port

    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-c", "from doorstep.cli import main; main()", "simulator",
         "--port", str(port)],
        stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        assert proc.stderr is not None
        assert "Twilio simulator on" in proc.stderr.readline().decode()
        base = f"http://127.0.0.1:{port}"
        leg = Leg(NEG1, OFFICE_NUMBER, "http://127.0.0.1:9/answer", "http://127.0.0.1:9/s", 20)
        assert (
            TwilioVoice(DEMO_TWILIO_SID, DEMO_TWILIO_TOKEN, api_url=base)
            .place(leg)
            .startswith("CA")
        )
        with pytest.raises(CallError, match="20003"):
            TwilioVoice("AC" + "1" * 32, "2" * 32, api_url=base).place(leg)
    finally:
        proc.terminate()
        proc.wait(10)
