"""PII masking: real PII goes, ordinary numbers stay."""

import pytest
from datatrove.data import Document

from llammas_core.corpus.pii import PIIFormatter, id_code_check_digit, is_valid_id_code


def make_id_code(first_ten: str) -> str:
    return first_ten + str(id_code_check_digit(first_ten))


@pytest.fixture
def pii():
    return PIIFormatter()


def test_id_code_checksum():
    assert is_valid_id_code("37605030299")  # the usual published example: 3 76 05 03 029 9
    assert make_id_code("3760503029") == "37605030299"
    assert is_valid_id_code(make_id_code("4900101000"))  # born 1990-01-01
    assert not is_valid_id_code("37605030298")  # wrong check digit
    assert not is_valid_id_code("37613030295")  # month 13
    assert not is_valid_id_code(make_id_code("7900101000"))  # century digit 7 is not accepted (born 2100+)
    assert not is_valid_id_code("12345678901")


def test_id_codes_masked_only_when_valid(pii):
    valid = make_id_code("6120229123")  # born 2012-02-29 (leap day)
    assert is_valid_id_code(valid)
    text = f"Isikukood 37605030299 ja {valid}; vale 37605030298; suvaline 12345678901."
    assert pii.format(text) == "Isikukood <ID_CODE> ja <ID_CODE>; vale 37605030298; suvaline 12345678901."
    assert pii.format(make_id_code("3990230123")) == make_id_code("3990230123")  # 30 Feb: checksum alone is not enough


def test_emails_and_ips(pii):
    text = "Kiri: mari.maasikas@firma.ee, server 93.184.216.34, LAN 192.168.1.10, v6 2a00:1450:4001:82b::200e."
    assert pii.format(text) == "Kiri: <EMAIL>, server <IP>, LAN 192.168.1.10, v6 <IP>."
    # like datatrove, only public addresses: private, loopback and documentation ranges stay
    assert pii.format("127.0.0.1 10.0.0.1 2001:db8::1 ::1") == "127.0.0.1 10.0.0.1 2001:db8::1 ::1"
    assert PIIFormatter(only_public_ips=False).format("10.0.0.1") == "<IP>"


@pytest.mark.parametrize(
    "text, expected",
    [
        ("helista +372 5123 4567", "helista <PHONE>"),
        ("helista +3725123 4567!", "helista <PHONE>!"),
        ("(+372) 612 3456 või 00372 5123 4567", "<PHONE> või <PHONE>"),
        ("mobiil 5123 4567, lauatelefon 512 3456", "mobiil <PHONE>, lauatelefon <PHONE>"),
        ("tel 51234567", "tel <PHONE>"),
        ("Tel. nr: 6123456", "Tel. nr: <PHONE>"),
        ("UK +44 20 7946 0958, US +1 (415) 555-2671", "UK <PHONE>, US <PHONE>"),
        ("+44 20 7946 0958 1990", "<PHONE> 1990"),  # a number after it is not swallowed
    ],
)
def test_phones(pii, text, expected):
    assert pii.format(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "Aastal 1976 maksis see 5 990 € ehk 5123 krooni.",
        "Kuupäevad 03.05.1976 ja 2023-05-03, kell 12:30:45.",
        "Rahvaarv 1 331 824, eelarve 51234567 eurot, +5 kraadi.",
        "Versioon 1.2.3.4.5, tellimus 12345678901, konto 5123 4567 8901.",
        "MAC 00:1a:2b:3c:4d:5e",
    ],
)
def test_ordinary_numbers_stay(pii, text):
    assert pii.format(text) == text


def test_custom_tokens_and_stats():
    pii = PIIFormatter(email_token="[e]", phone_token="[p]", mask_ips=False)
    docs = [Document(text="a@b.ee 8.8.8.8 +372 5123 4567 ja +372 612 3456", id="1")]
    (doc,) = pii.run(iter(docs))
    assert doc.text == "[e] 8.8.8.8 [p] ja [p]"
    assert pii.stats.stats["masked_email"].total == 1 and pii.stats.stats["masked_phone"].total == 2
    assert "masked_ip" not in pii.stats.stats
