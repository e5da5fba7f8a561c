"""The sipp injection file's [authentication] field: values quoted, and what a field cannot carry refused."""

import pytest

from rtcstack.protocols.sip.sipp import authentication


def test_a_password_that_starts_with_0x_is_quoted_so_sipp_does_not_read_it_as_hex():
    assert authentication("alice", "0x1fAb-_9") == '[authentication username="alice" password="0x1fAb-_9"]'


def test_quotes_and_backslashes_are_escaped_the_way_sipp_unescapes_them():
    assert authentication("bob", 'a"b\\c') == '[authentication username="bob" password="a\\"b\\\\c"]'


@pytest.mark.parametrize("password, named", [("a;b", "field separator"), ("a]b", "end of sipp"),
                                             ("a\nb", "line break")])
def test_a_password_a_field_cannot_carry_is_refused_naming_why(password, named):
    with pytest.raises(ValueError, match=named) as refused:
        authentication("carol", password)
    assert "password" in str(refused.value) and password not in str(refused.value)
