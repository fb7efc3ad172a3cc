"""The portal's autopay pages say by when a cancellation stops which withdrawal (Regulation
E's cut-off, 3 business days before a draft), and, past a draft's cut-off, that it still
happens: English and Spanish, from the autopay answer payments gives."""
from __future__ import annotations

from tests.gateway import fakes
from tests.gateway.test_portal import login

BEFORE = {"cancel_by": "2030-12-17", "stops_draft_date": "2030-12-23", "still_drafted_on": None}
PAST = {"cancel_by": "2031-01-17", "stops_draft_date": "2031-01-22", "still_drafted_on": "2030-12-23"}


def _mandate(cancellation: dict) -> dict:
    return {"mandate_id": "md-1", "status": "active", "next_draft_date": "2030-12-23",
            "method": {"type": "checking", "last4": "6789"}, "created_at": "2030-11-20T10:00:00Z",
            "cancellation": cancellation, "drafts_in_flight": []}


async def test_the_autopay_page_states_the_cut_off(gw_no_captcha, upstream):
    gw = gw_no_captcha
    await login(gw, upstream)
    upstream.autopay[fakes.BAN_A] = _mandate(BEFORE)
    page = await (await gw.get(f"/accounts/{fakes.BAN_A}/autopay?lang=en")).text()
    assert "Cancel by December 17, 2030 to stop the December 23, 2030 withdrawal." in page
    assert "still happens" not in page
    es = await (await gw.get(f"/accounts/{fakes.BAN_A}/autopay?lang=es")).text()
    assert "Cancele a más tardar el 17 de diciembre de 2030 para detener el retiro del 23 de diciembre de 2030." in es


async def test_past_the_cut_off_the_pages_say_which_withdrawal_still_happens(gw_no_captcha, upstream):
    gw = gw_no_captcha
    await login(gw, upstream)
    upstream.autopay[fakes.BAN_A] = _mandate(PAST)
    page = await (await gw.get(f"/accounts/{fakes.BAN_A}/autopay?lang=en")).text()
    assert "The December 23, 2030 withdrawal is past its cancellation deadline" in page
    assert "Cancel by January 17, 2031 to stop the January 22, 2031 withdrawal." in page
    confirm = await (await gw.get(f"/accounts/{fakes.BAN_A}/autopay/cancel")).text()
    assert 'id="cancel-still"' in confirm and "December 23, 2030 withdrawal is past" in confirm
    assert "The withdrawal planned for January 22, 2031 will not be made" in confirm
    es = await (await gw.get(f"/accounts/{fakes.BAN_A}/autopay/cancel?lang=es")).text()
    assert "El retiro del 23 de diciembre de 2030 ya pasó su plazo de cancelación" in es
    assert "No se hará el retiro previsto para el 22 de enero de 2031" in es
