"""The Twilio simulator (doorstep.telephony.simulator) as a pytest fixture.

def test_it_texts(twilio_sim):
    sid, token = twilio_sim.add_account()
    sms = TwilioSms(sid, token, api_url=twilio_sim.base_url)
    sms.send("+447986000000", "Hi", "+441159000000")
    assert twilio_sim.messages[0]["To"] == "+447986000000"
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from doorstep.telephony.simulator import (
    Phone,
    TwilioSimulator,
    running_twilio_sim,
    signature,
    twilio_error,
)

__all__ = ["Phone", "TwilioSimulator", "running_twilio_sim", "signature", "twilio_error"]


@pytest.fixture
def twilio_sim() -> Iterator[TwilioSimulator]:
    with running_twilio_sim() as sim:
        yield sim
