"""The archive PDF's seal: a PAdES signature of the system's seal certificate (pyHanko).

Owns the seal certificate (``[seal] pdf_certificate`` and ``pdf_key``, PEM; a self-issued
ECDSA P-256 certificate is made under ``var/seal/`` on first use, to be replaced by the
university's seal certificate, with its issuing chain in ``pdf_chain``), :func:`seal_pdf`
(an incremental PAdES B-B signature, so the PDF/A file and its embedded data stay as drawn)
and :func:`pdf_seal_problems` (pyHanko's validation against that certificate: intact, valid
and covering the whole file; anything appended or changed after sealing fails). Drawing the
PDF is :mod:`pipeline.lifecycle.archive_pdf`'s.
"""

from __future__ import annotations

import datetime as dt
import io
import os
from pathlib import Path
from typing import Final

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from pipeline import files
from pipeline.settings import Settings

FIELD_NAME: Final = "Sigill"
SEAL_NAME: Final = "resultat seal (self-issued)"


def ensure_certificate(settings: Settings) -> tuple[Path, Path]:
    """The seal certificate and key paths; a self-issued pair is made when both are missing."""
    cert_path = settings.seal_path("pdf_certificate")
    key_path = settings.seal_path("pdf_key")
    if cert_path.exists() or key_path.exists():
        return cert_path, key_path
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, SEAL_NAME),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "resultat"),
        ]
    )
    now = dt.datetime.now(dt.UTC)
    usage = x509.KeyUsage(
        digital_signature=True,
        content_commitment=True,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=True,
        crl_sign=False,
        encipher_only=False,
        decipher_only=False,
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=365 * 30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(usage, critical=True)
        .sign(key, hashes.SHA256())
    )
    key_path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(pem)
    files.write_bytes(cert_path, cert.public_bytes(serialization.Encoding.PEM), mode=0o644)
    return cert_path, key_path


def seal_pdf(settings: Settings, path: Path) -> Path:
    """Seal the PDF at ``path`` in place (atomically); returns ``path``."""
    # Lazy: pyHanko takes most of a second to import, and only the archive step seals.
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign import signers
    from pyhanko.sign.fields import SigSeedSubFilter

    cert_path, key_path = ensure_certificate(settings)
    chain = [str(settings.seal_path("pdf_chain"))] if settings.seal.pdf_chain else []
    signer = signers.SimpleSigner.load(  # type: ignore[no-untyped-call]
        str(key_path), str(cert_path), ca_chain_files=chain
    )
    if signer is None:
        raise ValueError(f"{cert_path}: the seal certificate or key cannot be read")
    meta = signers.PdfSignatureMetadata(
        field_name=FIELD_NAME, subfilter=SigSeedSubFilter.PADES, md_algorithm="sha256"
    )
    out = io.BytesIO()
    with path.open("rb") as fh:
        writer = IncrementalPdfFileWriter(fh)
        signers.sign_pdf(writer, meta, signer=signer, output=out)
    files.write_bytes(path, out.getvalue(), durable=True)
    return path


def pdf_seal_problems(settings: Settings, pdf: bytes) -> list[str]:
    """Why ``pdf`` is not sealed intact by the workspace's seal certificate (empty: it is)."""
    # Lazy: pyHanko takes most of a second to import, and only verify checks seals.
    from pyhanko.keys import load_cert_from_pemder
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.validation import validate_pdf_signature
    from pyhanko_certvalidator import ValidationContext

    cert_path = settings.seal_path("pdf_certificate")
    try:
        root = load_cert_from_pemder(str(cert_path))  # type: ignore[no-untyped-call]
        reader = PdfFileReader(io.BytesIO(pdf), strict=False)
        signatures = reader.embedded_signatures
    except Exception as exc:  # a broken file or certificate is a finding, not a crash
        return [f"unreadable: {exc}"]
    if not signatures:
        return ["no seal"]
    context = ValidationContext(trust_roots=[root], allow_fetching=False)
    problems = []
    for signature in signatures:
        status = validate_pdf_signature(signature, context)
        if not (status.intact and status.valid):
            problems.append("signature does not match the document")
        elif not status.trusted:
            problems.append("not sealed with the workspace's seal certificate")
        elif status.coverage is None or status.coverage.name != "ENTIRE_FILE":
            problems.append("changed after sealing")
    return problems
