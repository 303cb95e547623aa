"""PII masking for the corpus: emails, IP addresses, Estonian ID codes and phone numbers.

datatrove's PIIFormatter masks only emails and IPv4 addresses. This one adds IPv6, Estonian
personal identification codes (isikukood) and phone numbers, and counts masks per kind in the
step's stats (`masked_email`, `masked_ip`, `masked_id_code`, `masked_phone`).

It errs on the side of leaving text alone: an 11-digit number is masked only when it is a real
ID code (valid date and checksum), bare digit runs are phone numbers only next to a word such as
"tel" or in the usual grouped mobile format, and years, prices, dates and counts are never touched.
"""

from __future__ import annotations

import datetime
import ipaddress
import re
from typing import Callable

from datatrove.pipeline.formatters.base import BaseFormatter

# datatrove's email pattern (datatrove/pipeline/formatters/pii.py)
_EMAIL = re.compile(
    r"\b[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*@(?:(?:[A-Za-z0-9](?:["
    r"A-Za-z0-9-]*[A-Za-z0-9])?\.)+[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?|\[(?:(?:25[0-5]|2[0-4][0-9]|["
    r"01]?[0-9][0-9]?)\.){3}(?:25[0-5]|2[0-4][0-9]|[01]?[0-9][0-9]?|[A-Za-z0-9-]*[A-Za-z0-9]:)])"
)
# datatrove's IPv4 pattern, plus boundaries so version strings like 1.2.3.4.5 do not match
_IPV4 = re.compile(
    r"(?<![\w.])(?:(?:25[0-5]|2[0-4][0-9]|[01]?[0-9][0-9]?)\.){3}(?:25[0-5]|2[0-4][0-9]|[01]?[0-9][0-9]?)(?!\w|\.\d)"
)
# a loose IPv6 candidate; ipaddress decides (times like 12:30:45 and MAC addresses do not parse)
_IPV6 = re.compile(r"(?<![\w:])[0-9A-Fa-f]{1,4}(?::[0-9A-Fa-f]{0,4}){2,7}(?![\w:])")
_GLOBAL_UNICAST_V6 = ipaddress.IPv6Network("2000::/3")

# GYYMMDDSSSC, G = 1..6 (born 1800-2099). 7/8 (2100-2199) are allowed by the standard but
# nobody holds them yet, so accepting them would only add false positives.
_ID_CODE = re.compile(r"(?<![\d+.,])[1-6]\d{10}(?![\d]|[.,]\d)")

# +372 / 00372 / 372 then a 7-8 digit subscriber number (starts 3-8), single spaces or dashes between groups
_PHONE_EE = re.compile(r"(?<![\w+])(?:\(\+372\)|\+372|00372|372)[ -]?[3-8](?:[ -]?\d){6,7}(?!\d)")
# +<country><number>: 8-15 digits in all (E.164), checked in _international
_PHONE_INTL = re.compile(r"(?<![\w+])\+[1-9](?:[ .-]?(?:\(\d{1,4}\)|\d)){7,16}(?!\d)")
# local mobile in its usual grouping: 512 3456 / 5123 4567 / 5123-4567, not part of a longer number
_PHONE_EE_MOBILE = re.compile(r"(?<![\w+.,])(?<!\d[ -])5\d{2,3}[ -]\d{4}(?!\w|[ .,-]\d)")
# a local number of any grouping right after a phone word: "tel 51234567", "Mob.: 555 1234"
_PHONE_AFTER_WORD = re.compile(
    r"(?i)(\b(?:tel(?:efon[ie]?)?|mob(?:iil(?:telefon)?)?|gsm|phone)\b\.?(?:\s*nr\.?)?\s*:?\s*)"
    r"([3-8](?:[ -]?\d){6,7})(?!\d)"
)
_DIGIT = re.compile(r"\d")
_TRAILING_GROUP = re.compile(r"[ .-]*(?:\(\d+\)|\d+)$")


def is_valid_id_code(code: str) -> bool:
    """Estonian personal identification code (EVS 585): date of birth and check digit."""
    if not (len(code) == 11 and code.isdigit() and code[0] in "123456"):
        return False
    year = 1800 + 100 * ((int(code[0]) - 1) // 2) + int(code[1:3])
    try:
        datetime.date(year, int(code[3:5]), int(code[5:7]))
    except ValueError:
        return False
    return id_code_check_digit(code[:10]) == int(code[10])


def id_code_check_digit(first_ten: str) -> int:
    digits = [int(c) for c in first_ten]
    for weights in ((1, 2, 3, 4, 5, 6, 7, 8, 9, 1), (3, 4, 5, 6, 7, 8, 9, 1, 2, 3)):
        remainder = sum(d * w for d, w in zip(digits, weights)) % 11
        if remainder != 10:
            return remainder
    return 0


def _is_ip(candidate: str, public_only: bool) -> bool:
    try:
        ip = ipaddress.ip_address(candidate)
    except ValueError:
        return False
    if not public_only:
        return True
    if ip.version == 6 and ip not in _GLOBAL_UNICAST_V6:
        return False
    return ip.is_global


# a mask turns a match into its replacement, or None to leave it as it is
_Mask = Callable[[re.Match, str], "str | None"]


def _whole(match: re.Match, token: str) -> str:
    return token


def _whole_if(valid: Callable[[str], bool]) -> _Mask:
    return lambda match, token: token if valid(match.group(0)) else None


def _international(match: re.Match, token: str) -> str | None:
    # the greedy pattern may swallow a following number ("+44 20 7946 0958 1990"): drop trailing groups
    number = match.group(0)
    while len(_DIGIT.findall(number)) > 15 and (cut := _TRAILING_GROUP.search(number)) and cut.start() > 0:
        number = number[: cut.start()]
    if not 8 <= len(_DIGIT.findall(number)) <= 15:
        return None
    return token + match.group(0)[len(number) :]


class PIIFormatter(BaseFormatter):
    """Masks emails, IPs, Estonian ID codes and phone numbers with fixed tokens.

    Like datatrove, only public IPs are masked by default (`only_public_ips`): private, loopback,
    documentation and other reserved addresses identify nobody and are common in technical text.
    For IPv6 "public" means global unicast (2000::/3).
    """

    name = "🕵 PII (emails, IPs, ID codes, phones)"

    def __init__(
        self,
        mask_emails: bool = True,
        mask_ips: bool = True,
        mask_id_codes: bool = True,
        mask_phones: bool = True,
        only_public_ips: bool = True,
        email_token: str = "<EMAIL>",
        ip_token: str = "<IP>",
        id_code_token: str = "<ID_CODE>",
        phone_token: str = "<PHONE>",
    ):
        super().__init__()
        self.only_public_ips = only_public_ips
        self.tokens = {"email": email_token, "ip": ip_token, "id_code": id_code_token, "phone": phone_token}
        is_ip = lambda text: _is_ip(text, only_public_ips)  # noqa: E731
        # order matters: emails before IPs ("a@[1.2.3.4]"), ID codes before phones
        steps: list[tuple[str, re.Pattern, _Mask]] = []
        if mask_emails:
            steps.append(("email", _EMAIL, _whole))
        if mask_ips:
            steps += [("ip", _IPV4, _whole_if(is_ip)), ("ip", _IPV6, _whole_if(is_ip))]
        if mask_id_codes:
            steps.append(("id_code", _ID_CODE, _whole_if(is_valid_id_code)))
        if mask_phones:
            steps += [
                ("phone", _PHONE_EE, _whole),
                ("phone", _PHONE_INTL, _international),
                ("phone", _PHONE_EE_MOBILE, _whole),
                ("phone", _PHONE_AFTER_WORD, lambda match, token: match.group(1) + token),
            ]
        self._steps = steps

    def format(self, text: str) -> str:
        for kind, pattern, mask in self._steps:
            token, masked = self.tokens[kind], 0

            def substitute(match: re.Match) -> str:
                nonlocal masked
                replacement = mask(match, token)
                if replacement is None:
                    return match.group(0)
                masked += 1
                return replacement

            text = pattern.sub(substitute, text)
            if masked:
                self.stat_update(f"masked_{kind}", value=masked)
        return text
