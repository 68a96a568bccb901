#!/usr/bin/env python3
"""Writes vectors.txt: password hashes made by tools independent of usher and of the Rust crates it
uses, to check that usher verifies imported hashes as-is. Run ONCE by hand; the output is committed
and the tools need not be present in CI. Salts are random, so a re-run gives different hashes.

Needs (Debian 12 + PyPI, as used for the committed file):
  apt-get install whois argon2 apache2-utils openssl   # mkpasswd (libxcrypt), argon2 CLI, htpasswd
  python3 -m venv v && v/bin/pip install passlib bcrypt argon2-cffi
  v/bin/python generate_vectors.py > vectors.txt
"""
import base64, hashlib, importlib.metadata as md, os, re, subprocess, sys

import argon2
import bcrypt
from passlib import hash as ph


def run(*args, stdin=None):
    return subprocess.run(args, input=stdin, capture_output=True, check=True).stdout.decode().strip()


def deb(pkg):
    return f"{pkg} {run('dpkg-query', '-W', '-f=${Version}', pkg)}"


def pip(pkg):
    return f"python {pkg} {md.version(pkg)}"


OPENSSL = run("openssl", "version").split(" (")[0]
MKPASSWD = f"mkpasswd ({deb('whois')}, {deb('libcrypt1')})"
ARGON2_CLI = f"argon2 CLI ({deb('argon2')})"
HTPASSWD = f"htpasswd ({deb('apache2-utils')})"
PY = f"python {sys.version.split()[0]}"

ASCII = "correct horse battery staple"
UNI = "pässwörd € 𝄞 ünïcödé"  # 1-, 2-, 3- and 4-byte UTF-8 characters
SHORT = "hunter2!"

rows = []


def add(fmt, tool, password, h):
    assert "\t" not in password and "\n" not in password
    rows.append((fmt, tool, password, h))


def b64s(b):  # standard Base64 without padding (the PHC "B64" encoding)
    return base64.b64encode(b).decode().rstrip("=")


def until(pred, make):
    """Some vectors must exercise a particular Base64 character: retry until they do."""
    for _ in range(200):
        h = make()
        if pred(h):
            return h
    raise SystemExit("could not make a vector with the wanted property")


# --- bcrypt -----------------------------------------------------------------------------------
add("bcrypt", pip("bcrypt"), ASCII, bcrypt.hashpw(ASCII.encode(), bcrypt.gensalt(10)).decode())
add("bcrypt", pip("bcrypt") + " prefix=2a", UNI, bcrypt.hashpw(UNI.encode(), bcrypt.gensalt(5, prefix=b"2a")).decode())
add("bcrypt", pip("bcrypt"), "x" * 72, bcrypt.hashpw(b"x" * 72, bcrypt.gensalt(4)).decode())
add("bcrypt", MKPASSWD + " -m bcrypt -R 6", SHORT, run("mkpasswd", "-m", "bcrypt", "-R", "6", SHORT))
add("bcrypt", MKPASSWD + " -m bcrypt-a -R 5", UNI, run("mkpasswd", "-m", "bcrypt-a", "-R", "5", UNI))
add("bcrypt", HTPASSWD + " -B -C 5", ASCII, run("htpasswd", "-nbB", "-C", "5", "u", ASCII).split(":", 1)[1])
add("bcrypt", HTPASSWD + " -B -C 4", UNI, run("htpasswd", "-nbB", "-C", "4", "u", UNI).split(":", 1)[1])

# --- argon2 -----------------------------------------------------------------------------------
A2 = pip("argon2-cffi") + f" (argon2-cffi-bindings {md.version('argon2-cffi-bindings')})"
add("argon2id", A2 + " defaults", ASCII, argon2.PasswordHasher().hash(ASCII))
add("argon2id", A2 + " m=19456,t=2,p=1", UNI,
    argon2.PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1).hash(UNI))
add("argon2i", A2 + " type=I m=8192,t=3,p=2", SHORT,
    argon2.PasswordHasher(time_cost=3, memory_cost=8192, parallelism=2, type=argon2.Type.I).hash(SHORT))
salt = b64s(os.urandom(12))
add("argon2id", ARGON2_CLI + " -id -t 2 -k 19456 -p 1", ASCII,
    run("argon2", salt, "-id", "-t", "2", "-k", "19456", "-p", "1", "-e", stdin=ASCII.encode()))
add("argon2i", ARGON2_CLI + " -i -t 3 -k 4096 -p 2 -l 24", UNI,
    run("argon2", salt, "-i", "-t", "3", "-k", "4096", "-p", "2", "-l", "24", "-e", stdin=UNI.encode()))
v10 = run("argon2", salt, "-i", "-t", "2", "-k", "4096", "-p", "1", "-v", "10", "-e", stdin=SHORT.encode())
add("argon2i", ARGON2_CLI + " -i -v 10", SHORT, v10)
# libargon2 before 20160406 wrote version 1.0 hashes without a v= field: same hash, field removed.
add("argon2i", ARGON2_CLI + " -i -v 10, v=16 field removed (pre-1.3 encoding)", SHORT, v10.replace("$v=16$", "$", 1))

# --- scrypt (PHC, passlib's encoding: standard Base64 without padding) -------------------------
SC = pip("passlib") + f" scrypt (hashlib.scrypt, {PY}, {OPENSSL})"
add("scrypt", SC + " defaults ln=16,r=8,p=1", ASCII, ph.scrypt.hash(ASCII))
add("scrypt", SC + " ln=10,r=4,p=2", UNI, until(lambda h: re.search(r"[+/]", h), lambda: ph.scrypt.using(rounds=10, block_size=4, parallelism=2).hash(UNI)))
salt = os.urandom(16)
dk = hashlib.scrypt(SHORT.encode(), salt=salt, n=2**12, r=8, p=1, maxmem=64 << 20, dklen=64)
add("scrypt", f"hashlib.scrypt ({PY}, {OPENSSL}) composed as PHC, 64-byte output", SHORT,
    f"$scrypt$ln=12,r=8,p=1${b64s(salt)}${b64s(dk)}")

# --- PBKDF2 -----------------------------------------------------------------------------------
# passlib's own form: $pbkdf2-sha256$<rounds>$<ab64 salt>$<ab64 checksum>, ab64 = Base64 with '.'
# for '+' and no padding.
PB = pip("passlib")
add("pbkdf2-sha256", PB + " pbkdf2_sha256 defaults", ASCII, ph.pbkdf2_sha256.hash(ASCII))
add("pbkdf2-sha256", PB + " pbkdf2_sha256 rounds=1000", UNI,
    until(lambda h: "." in h, lambda: ph.pbkdf2_sha256.using(rounds=1000).hash(UNI)))
add("pbkdf2-sha512", PB + " pbkdf2_sha512 defaults", ASCII, ph.pbkdf2_sha512.hash(ASCII))
add("pbkdf2-sha512", PB + " pbkdf2_sha512 rounds=5000 salt_size=24", UNI,
    until(lambda h: "." in h, lambda: ph.pbkdf2_sha512.using(rounds=5000, salt_size=24).hash(UNI)))
# The PHC form of RustCrypto's pbkdf2 crate: $pbkdf2-sha256$i=<rounds>,l=<len>$<B64 salt>$<B64 hash>.
for digest, l, rounds, pw in (("sha256", 32, 10000, SHORT), ("sha512", 64, 3000, UNI)):
    def make():
        salt = os.urandom(16)
        dk = hashlib.pbkdf2_hmac(digest, pw.encode(), salt, rounds, l)
        return f"$pbkdf2-{digest}$i={rounds},l={l}${b64s(salt)}${b64s(dk)}"
    add(f"pbkdf2-{digest}", f"hashlib.pbkdf2_hmac ({PY}, {OPENSSL}) composed as PHC", pw,
        until(lambda h: re.search(r"[+/]", h), make))

# --- sha-crypt / md5-crypt (Modular Crypt Format) ---------------------------------------------
add("sha256-crypt", OPENSSL + " passwd -5", ASCII, run("openssl", "passwd", "-5", ASCII))
add("sha256-crypt", OPENSSL + " passwd -5 -salt ab", UNI, run("openssl", "passwd", "-5", "-salt", "ab", UNI))
add("sha256-crypt", MKPASSWD + " -m sha256crypt -R 10000", SHORT, run("mkpasswd", "-m", "sha256crypt", "-R", "10000", SHORT))
add("sha256-crypt", PB + " sha256_crypt rounds=12345", UNI, ph.sha256_crypt.using(rounds=12345).hash(UNI))
add("sha512-crypt", OPENSSL + " passwd -6", ASCII, run("openssl", "passwd", "-6", ASCII))
add("sha512-crypt", OPENSSL + " passwd -6 -salt 0123456789abcdef", UNI,
    run("openssl", "passwd", "-6", "-salt", "0123456789abcdef", UNI))
add("sha512-crypt", MKPASSWD + " -m sha512crypt", SHORT, run("mkpasswd", "-m", "sha512crypt", SHORT))
add("sha512-crypt", MKPASSWD + " -m sha512crypt -R 20000", UNI, run("mkpasswd", "-m", "sha512crypt", "-R", "20000", UNI))
add("sha512-crypt", PB + " sha512_crypt rounds=10000", ASCII, ph.sha512_crypt.using(rounds=10000).hash(ASCII))
add("md5-crypt", OPENSSL + " passwd -1", ASCII, run("openssl", "passwd", "-1", ASCII))
add("md5-crypt", OPENSSL + " passwd -1 -salt x", UNI, run("openssl", "passwd", "-1", "-salt", "x", UNI))
add("md5-crypt", MKPASSWD + " -m md5crypt", SHORT, run("mkpasswd", "-m", "md5crypt", SHORT))
add("md5-crypt", PB + " md5_crypt", UNI, ph.md5_crypt.hash(UNI))

# --- formats usher must refuse (password hash not supported) ----------------------------------
U = "unsupported"
add(U, MKPASSWD + " -m yescrypt", ASCII, run("mkpasswd", "-m", "yescrypt", ASCII))
add(U, MKPASSWD + " -m scrypt ($7$)", ASCII, run("mkpasswd", "-m", "scrypt", ASCII))
add(U, MKPASSWD + " -m descrypt", ASCII, run("mkpasswd", "-m", "descrypt", ASCII))
add(U, MKPASSWD + " -m sunmd5", ASCII, run("mkpasswd", "-m", "sunmd5", ASCII))
add(U, MKPASSWD + " -m nt", ASCII, run("mkpasswd", "-m", "nt", ASCII))
add(U, HTPASSWD + " -m ($apr1$)", ASCII, run("htpasswd", "-nbm", "u", ASCII).split(":", 1)[1])
add(U, HTPASSWD + " -s ({SHA})", ASCII, run("htpasswd", "-nbs", "u", ASCII).split(":", 1)[1])
add(U, ARGON2_CLI + " -d (argon2d)", ASCII, run("argon2", "saltsaltsalt", "-d", "-e", stdin=ASCII.encode()))
add(U, PB + " sha1_crypt", ASCII, ph.sha1_crypt.using(rounds=480).hash(ASCII))
add(U, PB + " ldap_salted_sha1", ASCII, ph.ldap_salted_sha1.hash(ASCII))
add(U, PB + " django_pbkdf2_sha256", ASCII, ph.django_pbkdf2_sha256.using(rounds=1000).hash(ASCII))
add(U, PB + " pbkdf2_sha1", ASCII, ph.pbkdf2_sha1.hash(ASCII))

print("""# Password hashes made by tools independent of usher and of the Rust crates it uses; see
# password/imported.rs. Generated once by generate_vectors.py (beside this file) on Debian 12; the
# tools need not be present to run the tests.
# Columns, tab-separated: format, tool and version, password (UTF-8), hash.
# Each supported vector must verify with its password and fail with a wrong one; each
# "unsupported" one must be refused by check_importable.""")
for r in rows:
    print("\t".join(r))
