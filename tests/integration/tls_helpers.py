"""Certificates for TLS integration tests, made with the real `openssl`
command at test time in the test's temp dir (nothing is checked in).

    pki = TestPki(tmp_path / "pki")             # a fresh CA
    cert = pki.issue("mx.test", sans=("DNS:mx.test", "IP:127.0.0.1"))
    server = etrnd_factory(flags=tls_flags(cert))
    ... --tls_ca_file=pki.ca_cert for a verifying client ...

Also: openssl s_client in STARTTLS mode (s_client_starttls) and the
certificate it was shown (serial, subject).
"""

import pathlib
import random
import subprocess

OPENSSL = "openssl"
OPENSSL_TIMEOUT_S = 30
CERT_DAYS = 30


def _run(argv, input_bytes=None, timeout=OPENSSL_TIMEOUT_S):
    proc = subprocess.run(argv, input=input_bytes, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, timeout=timeout)
    if proc.returncode != 0:
        raise AssertionError("%s failed (%d): %s" % (" ".join(map(str, argv)), proc.returncode,
                                                     proc.stderr.decode(errors="replace")))
    return proc.stdout.decode(errors="replace")


class Cert:
    """A PEM certificate and its key (files), and its serial as openssl prints it."""

    def __init__(self, cert, key, serial, common_name):
        self.cert = pathlib.Path(cert)
        self.key = pathlib.Path(key)
        self.serial = serial            # upper-case hex, e.g. "3A9F01"
        self.common_name = common_name


class TestPki:
    """A throw-away CA (EC P-256: fast to make) that issues server certificates."""

    __test__ = False  # not a pytest class

    def __init__(self, directory, ca_name="etrnd test CA"):
        self.dir = pathlib.Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.ca_cert = self.dir / "ca.pem"
        self.ca_key = self.dir / "ca.key"
        _run([OPENSSL, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
              "-nodes", "-keyout", str(self.ca_key), "-out", str(self.ca_cert),
              "-days", str(CERT_DAYS), "-subj", "/CN=" + ca_name,
              "-addext", "basicConstraints=critical,CA:TRUE",
              "-addext", "keyUsage=critical,keyCertSign,cRLSign"])

    def issue(self, common_name, sans=None, stem=None):
        """A server certificate for `sans` (openssl syntax, e.g. "DNS:mx.test",
        "IP:127.0.0.1"; default: DNS:<common_name>) with a random serial."""
        sans = list(sans or ["DNS:" + common_name])
        stem = stem or common_name.replace("*", "star")
        key = self.dir / (stem + ".key")
        csr = self.dir / (stem + ".csr")
        cert = self.dir / (stem + ".pem")
        ext = self.dir / (stem + ".ext")
        ext.write_text("basicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n"
                       "subjectAltName=%s\n" % ",".join(sans))
        serial = "%X" % random.getrandbits(63)
        _run([OPENSSL, "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
              "-nodes", "-keyout", str(key), "-out", str(csr), "-subj", "/CN=" + common_name])
        _run([OPENSSL, "x509", "-req", "-in", str(csr), "-CA", str(self.ca_cert),
              "-CAkey", str(self.ca_key), "-set_serial", "0x" + serial, "-days", str(CERT_DAYS),
              "-extfile", str(ext), "-out", str(cert)])
        return Cert(cert, key, serial, common_name)


def tls_flags(cert, ciphers=None):
    """etrnd flags that turn STARTTLS on with `cert`."""
    flags = ["--tls_cert=%s" % cert.cert, "--tls_key=%s" % cert.key]
    if ciphers:
        flags.append("--tls_ciphers=%s" % ciphers)
    return flags


def s_client_starttls(port, commands=b"QUIT\r\n", extra_args=(), host="127.0.0.1"):
    """Runs `openssl s_client -starttls smtp` against port, sends `commands`
    after the handshake; returns (exit code, stdout)."""
    argv = [OPENSSL, "s_client", "-connect", "%s:%d" % (host, port), "-starttls", "smtp",
            "-ign_eof", "-showcerts"] + list(extra_args)
    proc = subprocess.run(argv, input=commands, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, timeout=OPENSSL_TIMEOUT_S)
    return proc.returncode, proc.stdout.decode(errors="replace")


def served_certificate(port):
    """(serial hex, subject) of the certificate etrnd presents after STARTTLS."""
    _, out = s_client_starttls(port)
    begin = out.find("-----BEGIN CERTIFICATE-----")
    end = out.find("-----END CERTIFICATE-----")
    assert begin >= 0 and end > begin, out
    pem = out[begin:end + len("-----END CERTIFICATE-----")] + "\n"
    text = _run([OPENSSL, "x509", "-noout", "-serial", "-subject"], input_bytes=pem.encode())
    fields = dict(line.split("=", 1) for line in text.splitlines() if "=" in line)
    return fields["serial"].strip().upper().lstrip("0"), fields["subject"].strip()
