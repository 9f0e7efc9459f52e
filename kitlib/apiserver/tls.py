"""The embedded API server's TLS material and its kubeconfig.

At every start a fresh CA and a server certificate for ``127.0.0.1`` and
``localhost`` are made (ECDSA P-256, valid for a year) and kept in a private
directory (mode 0700, key files 0600) that is removed at exit. The kubeconfig
carries the CA (so kubectl verifies the server) and a random bearer token (256
bits from ``secrets``, new at every start); it is written atomically with mode
0600 — through a temporary file created exclusively and without following
symlinks, so a file planted at that name cannot receive the token — and the
directories kitlib makes for it are 0700.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import ipaddress
import os
import secrets
import tempfile
from dataclasses import dataclass
from pathlib import Path

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = ["TOKEN_BYTES", "TlsMaterial", "make_tls", "new_token", "write_kubeconfig"]


@dataclass(frozen=True)
class TlsMaterial:
    directory: Path
    ca_pem: bytes
    cert_file: Path
    key_file: Path


#: Random bytes in a bearer token (256 bits; Kubernetes asks for at least 128).
TOKEN_BYTES = 32


def new_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "kitlib embedded cluster")])


def _certificate(subject: str, issuer: str, public_key: ec.EllipticCurvePublicKey,
                 signer: ec.EllipticCurvePrivateKey, *, ca: bool) -> x509.Certificate:
    now = dt.datetime.now(dt.UTC)
    builder = (x509.CertificateBuilder().subject_name(_name(subject)).issuer_name(_name(issuer))
               .public_key(public_key).serial_number(x509.random_serial_number())
               .not_valid_before(now - dt.timedelta(minutes=5))
               .not_valid_after(now + dt.timedelta(days=365))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if ca:
        builder = builder.add_extension(
            x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                          content_commitment=False, key_encipherment=False,
                          data_encipherment=False, key_agreement=False, encipher_only=False,
                          decipher_only=False), critical=True)
    else:
        builder = builder.add_extension(x509.SubjectAlternativeName([
            x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False).add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
    return builder.sign(signer, hashes.SHA256())


def make_tls() -> TlsMaterial:
    directory = Path(tempfile.mkdtemp(prefix="kitlib-tls-"))
    os.chmod(directory, 0o700)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = _certificate("kitlib-ca", "kitlib-ca", ca_key.public_key(), ca_key, ca=True)
    key = ec.generate_private_key(ec.SECP256R1())
    cert = _certificate("kitlib-apiserver", "kitlib-ca", key.public_key(), ca_key, ca=False)
    cert_file, key_file = directory / "apiserver.crt", directory / "apiserver.key"
    _write_private(cert_file, cert.public_bytes(serialization.Encoding.PEM)
                   + ca_cert.public_bytes(serialization.Encoding.PEM))
    _write_private(key_file, key.private_bytes(serialization.Encoding.PEM,
                                               serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))
    return TlsMaterial(directory, ca_cert.public_bytes(serialization.Encoding.PEM),
                       cert_file, key_file)


def _write_private(path: Path, data: bytes) -> None:
    """Write a new file readable by its owner only (never through a symlink, never into a
    file that already exists with wider permissions)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


def _make_private_dirs(directory: Path) -> None:
    """``mkdir -p`` with mode 0700 for every directory made (existing ones are left)."""
    missing = []
    while not directory.exists():
        missing.append(directory)
        directory = directory.parent
    for path in reversed(missing):
        path.mkdir(mode=0o700, exist_ok=True)


def write_kubeconfig(path: Path, *, server: str, token: str, ca_pem: bytes | None,
                     name: str = "kitlib") -> None:
    """Write a kubeconfig for the embedded cluster (atomically, mode 0600)."""
    cluster: dict[str, object] = {"server": server}
    if ca_pem is not None:
        cluster["certificate-authority-data"] = base64.b64encode(ca_pem).decode()
    config = {
        "apiVersion": "v1", "kind": "Config", "preferences": {},
        "clusters": [{"name": name, "cluster": cluster}],
        "users": [{"name": name, "user": {"token": token}}],
        "contexts": [{"name": name, "context": {"cluster": name, "user": name,
                                                "namespace": "default"}}],
        "current-context": name,
    }
    _make_private_dirs(path.parent)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    _write_private(tmp, yaml.safe_dump(config, sort_keys=False).encode())
    os.replace(tmp, path)
