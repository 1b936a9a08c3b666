#!/usr/bin/env python3
"""The differential CSR corpus (issue #7 item 6).

Generates CSRs that cover names (IDN, reserved labels, wildcards, case, length limits,
public suffixes, internal names, IP addresses), keys (sizes, curves, exponents, weak
keys: ROCA form, close primes, small factors, a Debian-list key, non-canonical
encodings) and subjects, and writes a manifest saying for each whether Shomei must issue
it or refuse it with which message key.

    gen.py OUT_DIR            the corpus: OUT_DIR/cases/*.csr, OUT_DIR/manifest.json,
                              OUT_DIR/weak-keys/test.list (the Debian-list fixture)
    gen.py --fixtures DIR     only the weak-key CSRs the Rust tests use

A new finding joins the corpus as one more entry in cases().
Needs the `cryptography` package (installed with pkilint).
"""
import hashlib
import ipaddress
import json
import os
import secrets
import sys

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.x509.oid import NameOID

# --- numbers ---------------------------------------------------------------------


def is_probable_prime(n, rounds=40):
    if n < 2:
        return False
    for p in SMALL_PRIMES[:60]:
        if n % p == 0:
            return n == p
    d, s = n - 1, 0
    while d % 2 == 0:
        d //= 2
        s += 1
    for _ in range(rounds):
        a = secrets.randbelow(n - 3) + 2
        x = pow(a, d, n)
        if x in (1, n - 1):
            continue
        for _ in range(s - 1):
            x = pow(x, 2, n)
            if x == n - 1:
                break
        else:
            return False
    return True


def primes_below(n):
    sieve = bytearray([1]) * n
    sieve[0:2] = b"\x00\x00"
    for i in range(2, int(n ** 0.5) + 1):
        if sieve[i]:
            sieve[i * i :: i] = bytearray(len(sieve[i * i :: i]))
    return [i for i in range(n) if sieve[i]]


SMALL_PRIMES = primes_below(2000)


def random_prime(bits):
    while True:
        c = secrets.randbits(bits) | (3 << (bits - 2)) | 1
        if is_probable_prime(c):
            return c


def next_prime(n):
    n |= 1
    while not is_probable_prime(n):
        n += 2
    return n


def roca_prime(bits):
    """A prime of the form k*M + (65537^a mod M), M the primorial of the first 126
    primes: the structure the Infineon library produced (CVE-2017-15361)."""
    m = 1
    for p in SMALL_PRIMES[:126]:
        m *= p
    while True:
        a = secrets.randbelow(2 ** 60)
        k_bits = bits - m.bit_length()
        k = secrets.randbits(k_bits) | (3 << (k_bits - 2))
        c = k * m + pow(65537, a, m)
        if c.bit_length() == bits and is_probable_prime(c):
            return c


def rsa_from_primes(p, q, e=65537):
    n = p * q
    phi = (p - 1) * (q - 1)
    d = pow(e, -1, phi)
    pub = rsa.RSAPublicNumbers(e, n)
    priv = rsa.RSAPrivateNumbers(
        p, q, d, d % (p - 1), d % (q - 1), pow(q, -1, p), pub
    )
    return priv.private_key(unsafe_skip_rsa_key_validation=True)


def rsa_with_exponent(bits, e):
    while True:
        p, q = random_prime(bits // 2), random_prime(bits // 2)
        if (p * q).bit_length() == bits and all(
            __import__("math").gcd(e, x - 1) == 1 for x in (p, q)
        ):
            return rsa_from_primes(p, q, e)


# --- DER -------------------------------------------------------------------------


def tlv(tag, content):
    n = len(content)
    if n < 0x80:
        head = bytes([tag, n])
    else:
        b = n.to_bytes((n.bit_length() + 7) // 8, "big")
        head = bytes([tag, 0x80 | len(b)]) + b
    return head + content


def read_tlv(buf, i):
    tag = buf[i]
    n = buf[i + 1]
    j = i + 2
    if n & 0x80:
        k = n & 0x7F
        n = int.from_bytes(buf[j : j + k], "big")
        j += k
    return tag, j, j + n


def children(buf):
    out, i = [], 0
    while i < len(buf):
        _, s, e = read_tlv(buf, i)
        out.append(buf[i:e])
        i = e
    return out


def content(der):
    _, s, e = read_tlv(der, 0)
    return der[s:e]


def resign_with_spki(csr_der, key, new_spki):
    """The same CSR with its SubjectPublicKeyInfo replaced by `new_spki` (another
    encoding of the same key) and signed again with `key`."""
    cri, sig_alg, _sig = children(content(csr_der))
    version, subject, _spki, attrs = children(content(cri))
    new_cri = tlv(0x30, version + subject + new_spki + attrs)
    if isinstance(key, rsa.RSAPrivateKey):
        sig = key.sign(new_cri, padding.PKCS1v15(), hashes.SHA256())
    else:
        sig = key.sign(new_cri, ec.ECDSA(hashes.SHA256()))
    return tlv(0x30, new_cri + sig_alg + tlv(0x03, b"\x00" + sig))


def der_int(v, pad=0):
    b = v.to_bytes((v.bit_length() + 8) // 8, "big")
    return tlv(0x02, b"\x00" * pad + b)


RSA_OID = bytes.fromhex("06092a864886f70d010101")


def rsa_spki_without_null(key):
    n = key.public_key().public_numbers()
    body = tlv(0x30, der_int(n.n) + der_int(n.e))
    return tlv(0x30, tlv(0x30, RSA_OID) + tlv(0x03, b"\x00" + body))


def rsa_spki_padded_modulus(key):
    n = key.public_key().public_numbers()
    body = tlv(0x30, der_int(n.n, pad=1) + der_int(n.e))
    return tlv(0x30, tlv(0x30, RSA_OID + b"\x05\x00") + tlv(0x03, b"\x00" + body))


def ec_spki_compressed(key):
    pub = key.public_key()
    point = pub.public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.CompressedPoint
    )
    alg = tlv(0x30, bytes.fromhex("06072a8648ce3d0201") + bytes.fromhex("06082a8648ce3d030107"))
    return tlv(0x30, alg + tlv(0x03, b"\x00" + point))


# --- CSRs ------------------------------------------------------------------------

_P256 = None


def p256():
    global _P256
    if _P256 is None:
        _P256 = ec.generate_private_key(ec.SECP256R1())
    return _P256


def csr(key, cn=None, dns=(), ips=(), emails=(), uris=(), subject_extra=()):
    attrs = [x509.NameAttribute(NameOID.COUNTRY_NAME, "JP")]
    attrs += list(subject_extra)
    if cn is not None:
        attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, cn))
    b = x509.CertificateSigningRequestBuilder().subject_name(x509.Name(attrs))
    gns = [x509.DNSName(d) for d in dns]
    gns += [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]
    gns += [x509.RFC822Name(e) for e in emails]
    gns += [x509.UniformResourceIdentifier(u) for u in uris]
    if gns:
        b = b.add_extension(x509.SubjectAlternativeName(gns), critical=False)
    algo = None if isinstance(key, ed25519.Ed25519PrivateKey) else hashes.SHA256()
    return b.sign(key, algo).public_bytes(serialization.Encoding.DER)


def pem(der):
    import base64

    b = base64.b64encode(der).decode()
    lines = [b[i : i + 64] for i in range(0, len(b), 64)]
    return "-----BEGIN CERTIFICATE REQUEST-----\n" + "\n".join(lines) + "\n-----END CERTIFICATE REQUEST-----\n"


def debian_fingerprint(key):
    n = key.public_key().public_numbers().n
    return hashlib.sha1(("Modulus=%X\n" % n).encode()).hexdigest()


def weak_key_cases():
    """(name, der, expected key or None, private key) for the weak keys."""
    out = []
    roca = rsa_from_primes(roca_prime(1024), roca_prime(1024))
    out.append(("rsa2048-roca", csr(roca, dns=["roca.example.jp"]), "csr.weak_roca"))
    p = random_prime(1024)
    fermat = rsa_from_primes(p, next_prime(p + 2 ** 200 + secrets.randbits(64)))
    out.append(("rsa2048-fermat", csr(fermat, dns=["fermat.example.jp"]), "csr.weak_fermat"))
    e3 = rsa_with_exponent(2048, 3)
    out.append(("rsa2048-e3", csr(e3, dns=["e3.example.jp"]), "csr.rsa_exponent"))
    e17 = rsa_with_exponent(2048, 17)
    out.append(("rsa2048-e17", csr(e17, dns=["e17.example.jp"]), "csr.rsa_exponent"))
    debian = rsa.generate_private_key(65537, 2048)
    out.append(("rsa2048-debian-listed", csr(debian, dns=["debian.example.jp"]), "csr.weak_debian"))
    canon = rsa.generate_private_key(65537, 2048)
    canon_der = csr(canon, dns=["canonical.example.jp"])
    out.append(("rsa2048-canonical", canon_der, None))
    out.append(
        (
            "rsa2048-no-null",
            resign_with_spki(canon_der, canon, rsa_spki_without_null(canon)),
            "csr.non_canonical_key",
        )
    )
    out.append(
        (
            "rsa2048-padded-modulus",
            resign_with_spki(canon_der, canon, rsa_spki_padded_modulus(canon)),
            "csr.non_canonical_key",
        )
    )
    k = ec.generate_private_key(ec.SECP256R1())
    out.append(
        (
            "p256-compressed",
            resign_with_spki(csr(k, dns=["compressed.example.jp"]), k, ec_spki_compressed(k)),
            "csr.non_canonical_key",
        )
    )
    return out, debian_fingerprint(debian)


def cases():
    """Every corpus case: (name, der, None to be issued | message key to be refused)."""
    k = p256()
    out = []
    issued = lambda n, d: out.append((n, d, None))  # noqa: E731
    refused = lambda n, d, key: out.append((n, d, key))  # noqa: E731
    # Names.
    issued("name-plain", csr(k, dns=["www.corpus.example.jp"]))
    issued("name-cn-and-san", csr(k, cn="cn.corpus.example.jp", dns=["cn.corpus.example.jp", "b.corpus.example.jp"]))
    issued("name-cn-only", csr(k, cn="cnonly.corpus.example.jp"))
    issued("name-upper-case", csr(k, dns=["WWW.Upper.Example.JP"]))
    issued("name-wildcard", csr(k, dns=["*.wild.example.jp"]))
    issued("name-wildcard-and-base", csr(k, dns=["*.wild2.example.jp", "wild2.example.jp"]))
    issued("name-co-jp", csr(k, dns=["www.example.co.jp"]))
    issued("name-com", csr(k, dns=["www.example.com"]))
    issued("name-idn-jp", csr(k, dns=["xn--r8jz45g.jp"]))
    issued("name-idn-two-labels", csr(k, dns=["xn--eckwd4c7c.xn--zckzah.jp"]))
    issued("name-idn-latin", csr(k, dns=["www.xn--bcher-kva.example.com"]))
    issued("name-hyphen-inside", csr(k, dns=["a-b-c.example.jp"]))
    issued("name-double-hyphen-later", csr(k, dns=["abc--d.example.jp"]))
    issued("name-digits", csr(k, dns=["123.example.jp"]))
    issued("name-label-63", csr(k, dns=["a" * 63 + ".example.jp"]))
    long = ".".join(["b" * 60] * 3 + ["b" * 59]) + ".example.jp"
    assert len(long) == 253
    issued("name-long-253", csr(k, dns=[long]))
    refused("name-long-254", csr(k, dns=["b" + long]), "csr.invalid_name")
    issued("name-100-sans", csr(k, dns=[f"n{i}.many.example.jp" for i in range(100)]))
    issued("name-dup-sans", csr(k, dns=["dup.example.jp", "DUP.example.jp"]))
    issued("name-deep", csr(k, dns=["a.b.c.d.e.example.jp"]))
    issued("name-private-psl-entry-child", csr(k, dns=["foo.example.github.io"]))
    refused("name-xn-not-punycode", csr(k, dns=["xn--zz.example.jp"]), "csr.invalid_idn")
    refused("name-reserved-ldh", csr(k, dns=["ab--cd.example.jp"]), "csr.reserved_label")
    refused("name-reserved-ldh-deep", csr(k, dns=["www.zz--x.example.jp"]), "csr.reserved_label")
    refused("name-idn-disallowed-u2488", csr(k, dns=["xn--a-ecp.example.jp"]), "csr.invalid_idn")
    refused("name-idn-symbol-nv8", csr(k, dns=["xn--n3h.example.jp"]), "csr.invalid_idn")
    refused("name-xn-empty", csr(k, dns=["xn--.example.jp"]), "csr.invalid_name")
    refused("name-xn-ascii-only", csr(k, dns=["xn--abc-.example.jp"]), "csr.invalid_name")
    refused("name-label-64", csr(k, dns=["a" * 64 + ".example.jp"]), "csr.invalid_name")
    refused("name-too-long", csr(k, dns=[".".join(["c" * 63] * 4) + ".example.jp"]), "csr.invalid_name")
    refused("name-101-sans", csr(k, dns=[f"n{i}.many.example.jp" for i in range(101)]), "csr.too_many_names")
    refused("name-underscore", csr(k, dns=["under_score.example.jp"]), "csr.invalid_name")
    refused("name-leading-hyphen", csr(k, dns=["-x.example.jp"]), "csr.invalid_name")
    refused("name-trailing-hyphen", csr(k, dns=["x-.example.jp"]), "csr.invalid_name")
    refused("name-trailing-dot", csr(k, dns=["www.example.jp."]), "csr.invalid_name")
    refused("name-empty-label", csr(k, dns=["www..example.jp"]), "csr.invalid_name")
    refused("name-space", csr(k, dns=["www example.jp"]), "csr.invalid_name")
    refused("name-wildcard-middle", csr(k, dns=["www.*.example.jp"]), "csr.invalid_name")
    refused("name-wildcard-partial", csr(k, dns=["w*.example.jp"]), "csr.invalid_name")
    refused("name-wildcard-double", csr(k, dns=["*.*.example.jp"]), "csr.invalid_name")
    refused("name-wildcard-on-suffix", csr(k, dns=["*.co.jp"]), "csr.public_suffix")
    refused("name-wildcard-on-tld", csr(k, dns=["*.jp"]), "csr.public_suffix")
    refused("name-public-suffix", csr(k, dns=["co.jp"]), "csr.public_suffix")
    refused("name-public-suffix-tld", csr(k, dns=["com.example.jp", "com"]), "csr.single_label")
    refused("name-private-psl-entry", csr(k, dns=["github.io"]), "csr.public_suffix")
    refused("name-single-label", csr(k, dns=["intranet"]), "csr.single_label")
    refused("name-localhost", csr(k, dns=["localhost"]), "csr.single_label")
    refused("name-internal-local", csr(k, dns=["server.local"]), "csr.internal")
    refused("name-internal-corp", csr(k, dns=["mail.corp"]), "csr.internal")
    refused("name-internal-lan", csr(k, dns=["nas.lan"]), "csr.internal")
    refused("name-internal-internal", csr(k, dns=["app.internal"]), "csr.internal")
    refused("name-reverse-dns", csr(k, dns=["1.2.0.192.in-addr.arpa"]), "csr.internal")
    refused("name-ipv4-as-dns", csr(k, dns=["192.0.2.1"]), "csr.ip")
    refused("name-ipv4-san", csr(k, dns=["ip.example.jp"], ips=["192.0.2.1"]), "csr.ip")
    refused("name-ipv6-san", csr(k, dns=["ip6.example.jp"], ips=["2001:db8::1"]), "csr.ip")
    refused("name-cn-ip", csr(k, cn="192.0.2.7"), "csr.ip")
    refused("name-unicode-cn", csr(k, cn="例え.jp"), "csr.not_ascii")
    refused("name-email-san", csr(k, dns=["e.example.jp"], emails=["a@example.jp"]), "csr.invalid_name")
    refused("name-uri-san", csr(k, dns=["u.example.jp"], uris=["https://u.example.jp/"]), "csr.invalid_name")
    refused("name-none", csr(k), "csr.no_names")
    refused("name-cn-not-in-san", csr(k, cn="other.example.jp", dns=["a.example.jp"]), "csr.cn_not_in_names")
    refused("name-cn-not-a-name", csr(k, cn="Example Corp"), "csr.single_label")
    issued("name-upper-a-label", csr(k, dns=["XN--R8JZ45G.JP"]))
    refused("name-numeric-tld", csr(k, dns=["www.example.123"]), "csr.internal")
    refused("name-unknown-tld", csr(k, dns=["www.example.notatld"]), "csr.internal")
    # EV (names starting with ev- are applied for as EV2.0).
    issued("ev-plain", csr(k, dns=["ev.corpus.example.jp"]))
    issued("ev-two-names", csr(k, dns=["ev2.corpus.example.jp", "www.ev2.corpus.example.jp"]))
    issued("ev-idn", csr(k, dns=["xn--eckwd4c7c.example.jp"]))
    refused("ev-wildcard", csr(k, dns=["*.ev3.corpus.example.jp"]), "csr.ev_wildcard")
    # Subjects: the certificate's subject comes from validated data, never the CSR's.
    issued("subject-org-ignored", csr(k, dns=["subj.example.jp"], subject_extra=[x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Evil Corp")]))
    issued("subject-email-attr-ignored", csr(k, dns=["subj2.example.jp"], subject_extra=[x509.NameAttribute(NameOID.EMAIL_ADDRESS, "x@example.jp")]))
    issued("subject-ou-ignored", csr(k, dns=["subj3.example.jp"], subject_extra=[x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "IT")]))
    issued("subject-unicode-o-ignored", csr(k, dns=["subj4.example.jp"], subject_extra=[x509.NameAttribute(NameOID.ORGANIZATION_NAME, "テスト株式会社")]))
    # Keys: sizes, curves, exponents.
    for bits in (2048, 3072, 4096):
        issued(f"key-rsa{bits}", csr(rsa.generate_private_key(65537, bits), dns=[f"rsa{bits}.example.jp"]))
    issued("key-rsa2056", csr(rsa.generate_private_key(65537, 2056), dns=["rsa2056.example.jp"]))
    issued("key-rsa-e65539", csr(rsa_with_exponent(2048, 65539), dns=["e65539.example.jp"]))
    issued("key-p256", csr(ec.generate_private_key(ec.SECP256R1()), dns=["p256.example.jp"]))
    issued("key-p384", csr(ec.generate_private_key(ec.SECP384R1()), dns=["p384.example.jp"]))
    refused("key-rsa1024", csr(rsa.generate_private_key(65537, 1024), dns=["rsa1024.example.jp"]), "csr.rsa_small")
    refused("key-rsa2040", csr(rsa.generate_private_key(65537, 2040), dns=["rsa2040.example.jp"]), "csr.rsa_small")
    refused("key-rsa2052", csr(rsa_with_exponent(2052, 65537), dns=["rsa2052.example.jp"]), "csr.rsa_mult8")
    refused("key-rsa-e3", csr(rsa_with_exponent(2048, 3), dns=["e3b.example.jp"]), "csr.rsa_exponent")
    refused("key-rsa-e5", csr(rsa_with_exponent(2048, 5), dns=["e5.example.jp"]), "csr.rsa_exponent")
    refused("key-rsa-e257", csr(rsa_with_exponent(2048, 257), dns=["e257.example.jp"]), "csr.rsa_exponent")
    refused("key-rsa-e65535", csr(rsa_with_exponent(2048, 65535), dns=["e65535.example.jp"]), "csr.rsa_exponent")
    refused("key-p521", csr(ec.generate_private_key(ec.SECP521R1()), dns=["p521.example.jp"]), "csr.curve")
    refused("key-secp256k1", csr(ec.generate_private_key(ec.SECP256K1()), dns=["k1.example.jp"]), "csr.curve")
    refused("key-p224", csr(ec.generate_private_key(ec.SECP224R1()), dns=["p224.example.jp"]), "csr.curve")
    refused("key-ed25519", csr(ed25519.Ed25519PrivateKey.generate(), dns=["ed.example.jp"]), "csr.key_alg")
    # Weak keys.
    for _ in range(3):
        roca = rsa_from_primes(roca_prime(1024), roca_prime(1024))
        refused(f"weak-roca-{_}", csr(roca, dns=["roca.example.jp"]), "csr.weak_roca")
    for delta_bits in (16, 200, 500):
        p = random_prime(1024)
        q = next_prime(p + 2 ** delta_bits + secrets.randbits(delta_bits))
        refused(f"weak-fermat-{delta_bits}", csr(rsa_from_primes(p, q), dns=["fermat.example.jp"]), "csr.weak_fermat")
    # Primes far apart: Fermat's method needs far more than 100 rounds.
    p = random_prime(1024)
    q = next_prime(p + 2 ** 1000 + secrets.randbits(900))
    issued("key-distant-primes", csr(rsa_from_primes(p, q), dns=["distant.example.jp"]))
    p = random_prime(2048 - 13)
    if (7919 * p).bit_length() == 2048:
        refused("weak-small-factor", csr(rsa_from_primes(7919, p), dns=["small.example.jp"]), "csr.weak_small_factor")
    debian = rsa.generate_private_key(65537, 2048)
    refused("weak-debian-listed", csr(debian, dns=["debian.example.jp"]), "csr.weak_debian")
    canon = rsa.generate_private_key(65537, 2048)
    canon_der = csr(canon, dns=["canonical.example.jp"])
    issued("key-rsa-canonical", canon_der)
    refused("key-rsa-no-null", resign_with_spki(canon_der, canon, rsa_spki_without_null(canon)), "csr.non_canonical_key")
    refused("key-rsa-padded-modulus", resign_with_spki(canon_der, canon, rsa_spki_padded_modulus(canon)), "csr.malformed")
    ek = ec.generate_private_key(ec.SECP256R1())
    refused("key-p256-compressed", resign_with_spki(csr(ek, dns=["cmp.example.jp"]), ek, ec_spki_compressed(ek)), "csr.non_canonical_key")
    # Signature and encoding.
    good = csr(k, dns=["sig.example.jp"])
    bad = bytearray(good)
    bad[-5] ^= 0x55
    refused("csr-bad-signature", bytes(bad), "csr.bad_signature")
    refused("csr-truncated", good[:-10], "csr.malformed")
    return out, debian_fingerprint(debian)


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--fixtures":
        d = sys.argv[2]
        os.makedirs(d, exist_ok=True)
        fixtures, fp = weak_key_cases()
        for name, der, _key in fixtures:
            with open(os.path.join(d, name + ".csr"), "w") as f:
                f.write(pem(der))
        print(f"{len(fixtures)} fixtures in {d}; the Debian-listed key's fingerprint is {fp} (tests compute it themselves)")
        return
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    out = sys.argv[1]
    os.makedirs(os.path.join(out, "cases"), exist_ok=True)
    os.makedirs(os.path.join(out, "weak-keys"), exist_ok=True)
    all_cases, fp = cases()
    names = [c[0] for c in all_cases]
    assert len(names) == len(set(names)), "duplicate case names"
    manifest = []
    for name, der, key in all_cases:
        path = os.path.join(out, "cases", name + ".csr")
        with open(path, "w") as f:
            f.write(pem(der))
        manifest.append({"name": name, "csr": path, "expect": key or "issued"})
    with open(os.path.join(out, "weak-keys", "test.list"), "w") as f:
        f.write("# Debian weak-key list for the corpus: SHA-1 of 'Modulus=<HEX>\\n'\n" + fp + "\n")
    with open(os.path.join(out, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
    print(f"corpus: {len(manifest)} CSRs ({sum(1 for m in manifest if m['expect'] == 'issued')} to issue, "
          f"{sum(1 for m in manifest if m['expect'] != 'issued')} to refuse) in {out}")


if __name__ == "__main__":
    main()
