"""Is a mail's sender vouched for by the university's receiving server?

Owns reading the ``Authentication-Results`` headers (RFC 8601, parsed by ``authres``) of the
one authserv-id named by ``[mailin] require_auth`` — every other header, whoever wrote it, is
ignored — and deciding: ``dkim=pass`` with a signing domain (``header.d``) aligned with the
From domain, or ``spf=pass`` with an envelope sender (``smtp.mailfrom``, else
``Return-Path``) aligned with it. Aligned means the same domain or one a subdomain of the
other (relaxed alignment, as DMARC's). The receiving server removes headers of its own
authserv-id that came with the mail (RFC 8601 section 5); of several, the topmost (the one it
added last) counts.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from email.utils import parseaddr
from typing import Final

import authres

log = logging.getLogger("resultat.mailin")

HEADER: Final = "Authentication-Results"


def domain_of(address: str) -> str:
    """The domain of an address (or of a bare domain), lower case, without a trailing dot."""
    _, parsed = parseaddr(address)
    text = parsed or address
    return text.rpartition("@")[2].strip().strip(".").lower()


def aligned(one: str, other: str) -> bool:
    """The same domain, or one a subdomain of the other (both with at least one dot)."""
    if not one or not other or "." not in one or "." not in other:
        return False
    return one == other or one.endswith("." + other) or other.endswith("." + one)


def _ours(headers: Sequence[str], authserv_id: str) -> authres.AuthenticationResultsHeader | None:
    wanted = authserv_id.strip().lower()
    for value in headers:
        try:
            parsed = authres.AuthenticationResultsHeader.parse(f"{HEADER}: {value}")
        except Exception:  # authres raises its own SyntaxError and others on odd input
            continue
        if str(parsed.authserv_id or "").lower() == wanted:
            return parsed
    return None


def vouched(
    headers: Sequence[str], authserv_id: str, from_address: str, return_path: str = ""
) -> bool:
    """Do ``headers`` (the values of every ``Authentication-Results`` header, topmost first)
    vouch for ``from_address`` through ``authserv_id``?"""
    from_domain = domain_of(from_address)
    found = _ours(headers, authserv_id)
    if found is None:
        return False
    for result in found.results:
        method = str(result.method or "").lower()
        if str(result.result or "").lower() != "pass":
            continue
        props = {f"{p.type}.{p.name}".lower(): str(p.value or "") for p in result.properties or []}
        if method == "dkim" and aligned(domain_of(props.get("header.d", "")), from_domain):
            return True
        if method == "spf":
            envelope = props.get("smtp.mailfrom") or return_path
            if aligned(domain_of(envelope), from_domain):
                return True
    log.info("mail from domain %s not vouched for by %s", from_domain, authserv_id)
    return False
