"""Money in the lab (issue 18, P13): calls charged from the tariffs and the minute packs by the database when
they end, Kamailio refusing calls the balance or the subscription does not cover, changes with pro-rata refunds,
renewals that charge once however often and however concurrently they run, and a ledger that always adds up."""

from __future__ import annotations

import secrets
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from decimal import Decimal

import pytest

from rtcstack.domain import money
from rtcstack.domain.rows import when
from tests.conftest import rtcstack
from tests.integration import until

pytestmark = pytest.mark.integration


def _number(country: str) -> str:
    return f"+{country}{int(time.time() * 1000) % 10**9:09d}{secrets.randbelow(10)}"


def _customer_id(sip, name: str) -> int:
    return int(sip.sql(f"SELECT id FROM customers WHERE name = '{name}'")[0][0])


def _balance(sip, name: str) -> Decimal:
    return Decimal(sip.sql(f"SELECT balance FROM customers WHERE name = '{name}'")[0][0])


def _ledger_adds_up(sip) -> None:
    assert sip.sql("SELECT customer_id, balance, ledger_sum FROM ledger_mismatches") == []


def _call_to_number(sip, caller, callee, number: str, seconds: float = 1.5):
    """caller dials `number` (a DID routed to callee); the callee answers, the caller hangs up after `seconds`."""
    with sip.agent(callee) as answering:
        answering.register()
        with sip.agent(caller) as a:
            call = a.call("00" + number[1:])
            if call.answered:
                time.sleep(seconds)
                call.hangup()
    return call


def _customer_calling_a_number(sip) -> tuple[str, tuple[str, str], tuple[str, str], str]:
    """A customer allowed international calls, two of its accounts, and a UK number (0.12 a minute) routed to the
    second: (customer name, caller, callee, number)."""
    name = sip.customer(international=True)
    caller, callee = sip.accounts(name, 2)
    number = _number("4420")
    rtcstack("numbers", "add", sip.inventory, number, callee[0])
    return name, caller, callee, number


def _cdr(sip, call_id: str) -> dict:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        rows = sip.sql(f"SELECT duration_seconds, billable_seconds, pack_seconds, cost, price_per_minute, end_time "
                       f"FROM cdrs WHERE call_id = '{call_id}'")
        if rows and rows[0][5]:
            r = rows[0]
            return {"duration": int(r[0]), "billable": int(r[1]), "pack": int(r[2]), "cost": Decimal(r[3]),
                    "price": Decimal(r[4])}
        time.sleep(0.3)
    raise AssertionError(f"no finished CDR for {call_id}")


def test_a_call_is_charged_from_the_tariff_and_booked_in_the_ledger(lab_only):
    """A 1.5 s call to a UK number (0.12 a minute) costs one started minute: 0.12, on the CDR and as a ledger
    entry of the call; the balance is the ledger's sum."""
    sip = lab_only
    name, caller, callee, number = _customer_calling_a_number(sip)
    before = _balance(sip, name)
    call = _call_to_number(sip, caller, callee, number)
    assert call.answered, (call.status, call.reason)
    cdr = _cdr(sip, call.call_id)
    expected = money.call_charge(cdr["duration"], cdr["price"], sip.deployment.billing.increment_seconds)
    assert cdr["price"] == Decimal("0.12")
    assert (cdr["billable"], cdr["pack"], cdr["cost"]) == (expected.billable_seconds, 0, expected.cost)
    assert cdr["cost"] > 0
    entries = sip.sql(f"SELECT amount, kind FROM ledger_entries l JOIN cdrs c ON c.id = l.cdr_id "
                      f"WHERE c.call_id = '{call.call_id}'")
    assert [(Decimal(a), k) for a, k in entries] == [(-cdr["cost"], "call")]
    assert _balance(sip, name) == before - cdr["cost"]
    _ledger_adds_up(sip)


def test_minute_packs_pay_for_calls_to_the_destinations_they_cover(lab_only):
    """With a minute pack, a call to a US number (a pack destination) takes pack seconds and costs nothing."""
    sip = lab_only
    name = sip.customer(international=True)
    customer = _customer_id(sip, name)
    # the fixture bought 5 channels today: let that purchase be two days old, so today's change is allowed
    sip.sql(f"UPDATE channel_subscriptions SET starts_at = starts_at - interval '2 days', "
            f"ends_at = ends_at - interval '2 days' WHERE customer_id = {customer}")
    rtcstack("subscriptions", "change", sip.inventory, "--customer", name, "--channels", "5", "--packs", "1")
    caller, callee = sip.accounts(name, 2)
    number = _number("1202")
    rtcstack("numbers", "add", sip.inventory, number, callee[0])
    before = _balance(sip, name)
    call = _call_to_number(sip, caller, callee, number)
    assert call.answered, (call.status, call.reason)
    cdr = _cdr(sip, call.call_id)
    assert cdr["pack"] == cdr["billable"] > 0 and cdr["cost"] == 0, cdr
    left = int(sip.sql(f"SELECT pack_seconds_left FROM active_terms WHERE customer_id = {customer}")[0][0])
    assert left == money.PACK_MINUTES * 60 - cdr["pack"]
    assert _balance(sip, name) == before
    _ledger_adds_up(sip)


def test_a_customer_without_money_is_refused_chargeable_calls_with_a_reason(lab_only):
    """Balance plus credit limit at 0: a priced call gets 402 with a reason that says so; a call to an account of
    the platform (free) still goes through."""
    sip = lab_only
    name = sip.customer(international=True)
    caller, callee = sip.accounts(name, 2)
    left = _balance(sip, name)
    rtcstack("balance", "correct", sip.inventory, "--customer", name, "--amount", str(-left), "--reason", "test: spend it all")
    assert _balance(sip, name) == 0
    with sip.agent(caller) as a:
        call = a.call("00441234567890")
        assert call.status == 402 and "Balance exhausted" in call.reason, (call.status, call.reason)
    with sip.agent(callee) as answering:
        answering.register()
        with sip.agent(caller) as a:
            call = a.call(callee[0])
            assert call.answered, (call.status, call.reason)
            call.hangup()
    _ledger_adds_up(sip)


def _age_term(sip, customer: int, days: float) -> None:
    """Move a customer's terms `days` into the past (the lab's clock cannot wait for them)."""
    sip.sql(f"UPDATE channel_subscriptions SET starts_at = starts_at - interval '{days} days', "
            f"ends_at = ends_at - interval '{days} days' WHERE customer_id = {customer}")


def test_a_change_the_next_day_refunds_the_unused_part_and_starts_a_new_term(lab_only):
    """Bought 5 channels (125.00) two days ago; changing to 8 today refunds 28/30 of 125.00 and charges 200.00;
    a second change the same day is refused naming the next possible time."""
    sip = lab_only
    name = sip.customer()
    customer = _customer_id(sip, name)
    _age_term(sip, customer, 2)
    term = sip.sql(f"SELECT starts_at, ends_at, channel_price FROM channel_subscriptions WHERE customer_id = {customer}")[0]
    before = _balance(sip, name)
    out = rtcstack("subscriptions", "change", sip.inventory, "--customer", name, "--channels", "8").stdout
    refund = Decimal(sip.sql(f"SELECT amount FROM ledger_entries WHERE customer_id = {customer} AND kind = 'refund'")[0][0])
    changed_at = when(sip.sql(f"SELECT starts_at FROM channel_subscriptions WHERE customer_id = {customer} "
                              f"AND kind = 'change'")[0][0])
    assert refund == money.refund(Decimal(term[2]), when(term[0]), when(term[1]), changed_at)
    assert Decimal("116.00") < refund < Decimal("117.00")  # 28 of 30 days of 125.00
    assert f"refunded {money.round_money(refund)} " in out
    assert _balance(sip, name) == before + refund - Decimal("200.00")
    channels = sip.sql(f"SELECT channels FROM sip_subscribers s JOIN sip_accounts a ON a.id = s.account_id "
                       f"WHERE a.customer_id = {customer}") or [["8"]]
    assert channels[0][0] == "8"
    again = rtcstack("subscriptions", "change", sip.inventory, "--customer", name, "--channels", "9", check=False)
    assert again.returncode != 0 and "once a day" in again.stdout + again.stderr
    _ledger_adds_up(sip)


def test_renewal_run_twice_or_concurrently_charges_once(lab_only):
    """A term that ended is renewed for 30 days from the balance: three runs, two of them at once, book one
    renewal entry and one new term."""
    sip = lab_only
    name = sip.customer()
    customer = _customer_id(sip, name)
    _age_term(sip, customer, 30.01)
    before = _balance(sip, name)
    with ThreadPoolExecutor(2) as pool:
        list(pool.map(lambda _: rtcstack("subscriptions", "renew", sip.inventory), range(2)))
    rtcstack("subscriptions", "renew", sip.inventory)
    renewals = sip.sql(f"SELECT amount FROM ledger_entries WHERE customer_id = {customer} AND kind = 'renewal'")
    assert [Decimal(r[0]) for r in renewals] == [Decimal("-125.00")]
    terms = sip.sql(f"SELECT kind FROM channel_subscriptions WHERE customer_id = {customer} ORDER BY starts_at")
    assert [t[0] for t in terms] == ["purchase", "renewal"]
    assert _balance(sip, name) == before - Decimal("125.00")
    _ledger_adds_up(sip)


def test_renewal_without_money_ends_the_term_and_the_channels_with_it(lab_only):
    """A term that ended with the balance short of the renewal lapses: the next call is refused with the
    subscription's own reason."""
    sip = lab_only
    name = sip.customer()
    customer = _customer_id(sip, name)
    caller, callee = sip.accounts(name, 2)
    rtcstack("balance", "correct", sip.inventory, "--customer", name, "--amount", str(-_balance(sip, name)), "--reason", "test")
    _age_term(sip, customer, 30.01)
    out = rtcstack("subscriptions", "renew", sip.inventory).stdout
    assert f"customer {customer}: lapsed" in out
    with sip.agent(caller) as a:
        call = a.call(callee[0])
        assert call.status == 403 and "expired unpaid" in call.reason, (call.status, call.reason)
    show = rtcstack("subscriptions", "show", sip.inventory, "--customer", name).stdout
    assert "lapsed unpaid" in show
    _ledger_adds_up(sip)


def test_the_ledger_is_append_only(lab_only):
    """An entry cannot be changed or removed, only corrected by another entry."""
    sip = lab_only
    name = sip.customer()
    customer = _customer_id(sip, name)
    for statement in (f"UPDATE ledger_entries SET amount = 0 WHERE customer_id = {customer}",
                      f"DELETE FROM ledger_entries WHERE customer_id = {customer}"):
        with pytest.raises(Exception, match="append-only"):
            sip.sql(statement)
    _ledger_adds_up(sip)


def test_each_sip_profile_has_its_own_channel_limit(lab_only):
    """A second profile with 1 channel: its account's second call at once is refused with the channel limit,
    while an account of the first profile (5 channels) still calls."""
    sip = lab_only
    name = sip.customer()
    rtcstack("profiles", "add", sip.inventory, "--customer", name, "night")
    rtcstack("subscriptions", "buy", sip.inventory, "--customer", name, "--profile", "night", "--channels", "1")
    callee, day = sip.accounts(name, 2)
    path = sip.tmp / f"{name}-night.csv"
    night = (f"{name}-night", secrets.token_urlsafe(12) + "aA1!")
    path.write_text(f"customer,username,password,international,max_rate,profile\n{name},{night[0]},{night[1]},,,night\n")
    rtcstack("accounts", "import", sip.inventory, str(path))
    with sip.agent(callee) as b, sip.agent(night) as n, sip.agent(day) as d:
        assert b.register().status == 200
        first = n.call(callee[0])
        second = n.call(callee[0])
        other = d.call(callee[0])
        try:
            assert first.answered, (first.status, first.reason)
            assert second.status == 403 and "Channel limit" in second.reason, (second.status, second.reason)
            assert other.answered, (other.status, other.reason)
        finally:
            for call in (first, second, other):
                call.hangup()


def test_two_changes_at_once_apply_one_and_refuse_the_other_whole(lab_only):
    """Two changes of one profile started together: one term and one refund are booked, the other change is
    refused without writing anything; the ledger adds up."""
    sip = lab_only
    name = sip.customer()
    customer = _customer_id(sip, name)
    _age_term(sip, customer, 2)
    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(lambda n: rtcstack("subscriptions", "change", sip.inventory, "--customer", name,
                                                    "--channels", str(n), check=False), (6, 7)))
    assert sorted(r.returncode == 0 for r in results) == [False, True], [r.stdout + r.stderr for r in results]
    kinds = sip.sql(f"SELECT kind FROM channel_subscriptions WHERE customer_id = {customer} ORDER BY starts_at")
    assert [k[0] for k in kinds] == ["purchase", "change"]
    refunds = sip.sql(f"SELECT count(*) FROM ledger_entries WHERE customer_id = {customer} AND kind = 'refund'")
    assert refunds == [["1"]]
    _ledger_adds_up(sip)


def test_a_customers_cdrs_are_indexed_once_by_customer_newest_first(lab_only):
    """Each call's CDR updates the indexes of cdrs: customer_id has one (with start_time, newest first, migration
    0015), and a customer's billing history is read through it."""
    sip = lab_only
    indexes = {name for (name,) in sip.sql("SELECT indexname FROM pg_indexes WHERE tablename = 'cdrs'")}
    assert "cdrs_customer_start" in indexes and "ix_cdrs_customer_id" not in indexes
    plan = "\n".join(row[0] for row in sip.sql(
        "SET enable_seqscan = off; EXPLAIN SELECT * FROM cdrs WHERE customer_id = 0 ORDER BY start_time DESC LIMIT 50"))
    assert "cdrs_customer_start" in plan


def test_a_call_whose_bye_is_accounted_before_its_answer_is_still_ended_and_charged(lab_only):
    """The registrar writes a call's two accounting rows from two processes (the 200's and the BYE's): a BYE right
    after the answer can commit first. Written in that order here, with the registrar's own columns, the call still
    gets one CDR with its end, its duration and its charge in the ledger (migration 0016)."""
    sip = lab_only
    name = sip.customer(international=True)
    (caller, _), = sip.accounts(name, 1)
    customer = _customer_id(sip, name)
    account = sip.sql(f"SELECT id FROM sip_accounts WHERE username = '{caller}'")[0][0]
    call_id, number = f"bye-first-{secrets.token_hex(6)}@198.18.10.1", _number("4420")
    columns = "method, from_tag, to_tag, callid, sip_code, sip_reason, time, src_user, dst_user, destination, " \
              "customer_id, account_id, start_time, price_units"
    (instant,), = sip.sql("SELECT localtimestamp(0) - interval '65 seconds'")
    answered = f"timestamp '{instant}'"  # one instant for both rows (two statements may straddle a second)
    sip.sql(f"INSERT INTO acc ({columns}) VALUES ('BYE', 'a1', 'b1', '{call_id}', '200', 'OK', "
            f"{answered} + interval '61 seconds', '{caller}', '', '', '', '', '', '')")
    assert sip.sql(f"SELECT count(*) FROM cdrs WHERE call_id = '{call_id}'") == [["0"]]
    sip.sql(f"INSERT INTO acc ({columns}) VALUES ('INVITE', 'a1', 'b1', '{call_id}', '200', 'OK', {answered}, "
            f"'{caller}', '{number}', '{number}', '{customer}', '{account}', "
            f"to_char({answered} - interval '2 seconds', 'YYYY-MM-DD HH24:MI:SS'), '1200')")
    cdr = _cdr(sip, call_id)
    expected = money.call_charge(61, Decimal("0.12"), sip.deployment.billing.increment_seconds)
    assert (cdr["duration"], cdr["price"]) == (61, Decimal("0.12"))
    assert (cdr["billable"], cdr["cost"]) == (expected.billable_seconds, expected.cost) and cdr["cost"] > 0
    entries = sip.sql(f"SELECT amount FROM ledger_entries l JOIN cdrs c ON c.id = l.cdr_id WHERE c.call_id = '{call_id}'")
    assert [Decimal(a) for a, in entries] == [-expected.cost]
    _ledger_adds_up(sip)


def _rtpengine_query(sip, call_id: str) -> str:
    """rtpengine's answer to an ng `query` for the call, asked from the registrar (the relay takes control
    commands from registrars only)."""
    media = sip.deployment.hosts_with("media")[0]
    command = f"d7:call-id{len(call_id)}:{call_id}7:command5:querye"
    cookie = secrets.token_hex(8)  # (rtpengine answers a cookie it has seen with its cached reply)
    script = (f"import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(3); "
              f"s.sendto(b'{cookie} {command}', ('{media.private_address}', {sip.deployment.media.control_port})); "
              f"print(s.recv(65535).decode(errors='replace'))")
    return sip.on_registrar(f'python3 -c "{script}"')


def test_a_call_still_up_at_the_time_limit_is_ended_on_both_sides_accounted_and_charged(lab_only):
    """registrar.max_call_seconds ends a call nobody hung up: Kamailio sends BYE to both phones when the dialog
    times out, accounts the end (the CDR gets its end and duration, the charge reaches the ledger) and releases the
    call's media session. Before, the timeout only forgot the dialog: the phones talked on and the CDR stayed open,
    never charged. Here the limit is 4 s."""
    sip = lab_only
    name, caller, callee, number = _customer_calling_a_number(sip)
    before = _balance(sip, name)
    with sip.kamailio_with(dialog__default_timeout=4):
        with sip.agent(callee) as b, sip.agent(caller) as a:
            assert b.register().status == 200
            caller_bye = threading.Event()
            a.on_bye = lambda message: caller_bye.set() or True
            call = a.call("00" + number[1:])
            assert call.answered, (call.status, call.reason)
            answered_at = time.monotonic()
            assert caller_bye.wait(10), "the registrar sent the caller no BYE"
            assert b.incoming and b.incoming[-1].ended.wait(5), "the registrar sent the callee no BYE"
            assert 3 <= time.monotonic() - answered_at <= 7
        cdr = _cdr(sip, call.call_id)
        relay = _rtpengine_query(sip, call.call_id)
    expected = money.call_charge(cdr["duration"], cdr["price"], sip.deployment.billing.increment_seconds)
    assert 3 <= cdr["duration"] <= 6, cdr
    assert (cdr["billable"], cdr["cost"]) == (expected.billable_seconds, expected.cost) and cdr["cost"] > 0
    reason = sip.sql(f"SELECT sip_reason FROM acc WHERE callid = '{call.call_id}' AND method = 'BYE'")
    assert reason == [["Call time limit"]], reason  # one row: the dialog module's two ends of it accounted once
    assert _balance(sip, name) == before - cdr["cost"]
    assert "Unknown call-id" in relay, relay  # the media session went with the call
    _ledger_adds_up(sip)


def test_calls_that_reach_the_time_limit_together_are_each_accounted_charged_and_their_media_released(lab_only):
    """Kamailio's dialog module accounts nothing itself when it ends a call: its timer sends BYE to both phones, then
    runs event_route[dialog:end], but only if no phone's 200 to those BYEs was handled meanwhile by another process.
    When several calls end in one timer tick, the phones' answers overtake the timer process and some ends were lost:
    no CDR end, no charge, the media session kept (CI lost one this way). The registrar now accounts in the dialog's
    timeout route, before its BYEs go. The same runs found Kamailio 5.6.3 skipping the second phone's BYE (and once
    crashing) when the first phone's 200 came back in between; the registrar's reply_route now holds that 200 until
    both BYEs are out, so every callee here must get its BYE. Twelve calls of one customer reach a 4 s limit together."""
    sip = lab_only
    calls_at_once = 12
    name = sip.customer(channels=calls_at_once, international=True)
    caller, callee = sip.accounts(name, 2)
    number = _number("4420")
    rtcstack("numbers", "add", sip.inventory, number, callee[0])
    before = _balance(sip, name)
    with sip.kamailio_with(dialog__default_timeout=4):
        with sip.agent(callee) as b:
            assert b.register().status == 200
            agents = [sip.agent(caller) for _ in range(calls_at_once)]
            for agent in agents:
                agent.on_bye = lambda message: True  # (the caller's 200 to the registrar's BYE)
            try:
                with ThreadPoolExecutor(calls_at_once) as pool:
                    calls = list(pool.map(lambda a: a.call("00" + number[1:]), agents))
                assert all(c.answered for c in calls), [(c.status, c.reason) for c in calls]
                deadline = time.monotonic() + 15
                while time.monotonic() < deadline and not all(i.ended.is_set() for i in b.incoming):
                    time.sleep(0.2)
                assert all(i.ended.is_set() for i in b.incoming), ("the registrar did not end every call", [
                    (i.invite.call_id, i.answered, i.acked.is_set(), i.ended.is_set()) for i in b.incoming],
                    [c.call_id for c in calls])
            finally:
                for agent in agents:
                    agent.close()
        # (the ends reach the database from the registrar's accounting queue, about 100 ms later and more on a busy
        # host: _cdr waits for each call's finished CDR, which the trigger writes in the same statement as its end)
        cdrs = [_cdr(sip, c.call_id) for c in calls]
        ids = ", ".join(f"'{c.call_id}'" for c in calls)
        reasons = sip.sql(f"SELECT callid, sip_reason FROM acc WHERE callid IN ({ids}) AND method = 'BYE'")
        relays = [_rtpengine_query(sip, c.call_id) for c in calls]
    assert sorted(reasons) == sorted([c.call_id, "Call time limit"] for c in calls), reasons
    assert all(3 <= cdr["duration"] <= 7 and cdr["cost"] > 0 for cdr in cdrs), cdrs
    assert _balance(sip, name) == before - sum(cdr["cost"] for cdr in cdrs)
    assert all("Unknown call-id" in relay for relay in relays), [r for r in relays if "Unknown call-id" not in r]
    _ledger_adds_up(sip)


@pytest.mark.slow  # waits out an idle timer by design: not in the default run (README, Tests)
def test_a_call_whose_phone_stopped_answering_is_ended_by_the_keepalives_and_charged_until_then(lab_only):
    """registrar.call_keepalive_seconds: both phones of a call get in-dialog OPTIONS; when the callee vanishes
    without a BYE (its agent closed), the OPTIONS to it time out and the registrar ends the call: BYE to the caller,
    the end accounted, the charge in the ledger, the media session released. Here the keepalives go every 30 s (the
    dialog module's least) and a request times out after 2 s, then the dialog module ends the call 10 s later: within
    about 42 s of the phone going. Before that, a round of keepalives both phones answer leaves the call up."""
    sip = lab_only
    _, caller, callee, number = _customer_calling_a_number(sip)
    with sip.kamailio_with(dialog__ka_timer=1, dialog__ka_interval=30, tm__fr_timer=2000):
        with sip.agent(caller) as a:
            with sip.agent(callee) as b:
                assert b.register().status == 200
                caller_bye = threading.Event()
                a.on_bye = lambda message: caller_bye.set() or True
                call = a.call("00" + number[1:])
                assert call.answered, (call.status, call.reason)
                time.sleep(33)  # one round of keepalives, answered
                assert min(a.options_received, b.options_received) >= 1, (a.options_received, b.options_received)
                assert not caller_bye.is_set(), "a call whose phones answer the keepalives was ended"
            gone = time.monotonic()  # the callee's agent is closed: it answers nothing from here
            assert caller_bye.wait(60), "the registrar did not end the call of a phone that stopped answering"
            # the next round (30 s after the last, on a 1 s timer), its 2 s timeout, then Kamailio's 10 s
            assert time.monotonic() - gone <= 50
        cdr = _cdr(sip, call.call_id)
        relay = _rtpengine_query(sip, call.call_id)
    assert 33 <= cdr["duration"] <= 80 and cdr["cost"] > 0, cdr
    reason = sip.sql(f"SELECT sip_reason FROM acc WHERE callid = '{call.call_id}' AND method = 'BYE'")
    assert reason == [["No answer to keepalives"]], reason
    assert "Unknown call-id" in relay, relay
    _ledger_adds_up(sip)


def test_the_renewal_timer_deletes_accounting_rows_past_their_days_and_keeps_the_rest(lab_only):
    """billing.accounting_days (30): the portal host's renewal job deletes the registrar's raw accounting rows older
    than that, in acc and in missed_calls, and logs how many; newer rows and every CDR stay."""
    sip = lab_only
    tag = secrets.token_hex(6)
    old, recent = f"old-{tag}@198.18.10.1", f"recent-{tag}@198.18.10.1"
    for table in ("acc", "missed_calls"):
        # ids grow with time (the job walks them from the oldest): the old row gets an id before every other
        sip.sql(f"INSERT INTO {table} (id, method, from_tag, to_tag, callid, sip_code, sip_reason, time) VALUES "
                f"((SELECT coalesce(min(id), 2) - 1 FROM {table}), 'OPTIONS', 'a', 'b', '{old}', '200', 'OK', "
                f"localtimestamp - interval '31 days'); "
                f"INSERT INTO {table} (method, from_tag, to_tag, callid, sip_code, sip_reason, time) VALUES "
                f"('OPTIONS', 'a', 'b', '{recent}', '200', 'OK', localtimestamp - interval '29 days')")
    cdrs = int(sip.sql("SELECT count(*) FROM cdrs")[0][0])
    portal = sip.deployment.hosts_with("portal")[0].name
    sip.on_host(portal, "systemctl start rtcstack-portal-renewal.service")  # (oneshot: returns when the job is done)
    log = sip.on_host(portal, "journalctl -u rtcstack-portal-renewal.service -n 20 --no-pager -o cat")
    assert "rows past billing.accounting_days deleted" in log, log
    for table in ("acc", "missed_calls"):
        kept = sip.sql(f"SELECT callid FROM {table} WHERE callid IN ('{old}', '{recent}')")
        assert kept == [[recent]], (table, kept)
    assert int(sip.sql("SELECT count(*) FROM cdrs")[0][0]) >= cdrs


@pytest.mark.slow  # waits out an idle timer by design: not in the default run (README, Tests)
def test_an_answer_whose_ack_never_came_frees_its_channel_after_32_s(lab_only):
    """RFC 3261 13.3.1.4: a phone gives up resending its 200 after 64*T1, 32 s. A call answered but never
    acknowledged (its caller vanished once the INVITE was out, or the ACK was lost) held one of the customer's
    channels for Kamailio's noack timeout (60 s) plus its next cleaning pass (every 90 s): 82-131 s, measured after an
    overload burst. Now the registrar gives such a call 32 s from the answer, then ends it as at its time limit: BYE
    to both phones, the end accounted with its reason, the media session released, the channel free again. A call
    that is acknowledged keeps its own limit (the time-limit and keepalive tests)."""
    sip = lab_only
    name = sip.customer(channels=1, international=True)
    caller, callee = sip.accounts(name, 2)
    number = _number("4420")
    rtcstack("numbers", "add", sip.inventory, number, callee[0])
    with sip.agent(callee) as b, sip.agent(caller) as a:
        assert b.register().status == 200
        ghost = a.call("00" + number[1:], acknowledge=False)
        assert ghost.answered, (ghost.status, ghost.reason)
        answered_at = time.monotonic()
        refused = a.call("00" + number[1:])  # the customer's one channel is the unacknowledged call's
        assert refused.status == 403 and "Channel limit" in refused.reason, (refused.status, refused.reason)
        assert b.incoming[0].ended.wait(45), "the registrar did not end the unacknowledged call"
        assert 30 <= time.monotonic() - answered_at <= 38
        again = a.call("00" + number[1:])
        assert again.answered, (again.status, again.reason)
        again.hangup()
    # (the end's row is queued before the registrar's BYEs go and written within about 100 ms: route[ACC_FLUSH])
    reason = until(lambda: sip.sql(f"SELECT sip_reason FROM acc WHERE callid = '{ghost.call_id}' AND method = 'BYE'"),
                   seconds=5, step=0.1)
    assert reason == [["No ACK to the answer"]], (
        reason, sip.sql(f"SELECT method, time, sip_code, sip_reason FROM acc WHERE callid = '{ghost.call_id}'"))
    cdr = _cdr(sip, ghost.call_id)
    assert 31 <= cdr["duration"] <= 35 and cdr["cost"] > 0, cdr
    assert "Unknown call-id" in _rtpengine_query(sip, ghost.call_id)
    _ledger_adds_up(sip)
