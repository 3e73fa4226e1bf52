"""The redactor against a corpus of secret shapes (every one must go) and a corpus of
ordinary code and prose (nothing may change): the detectors' two directions pinned."""

from __future__ import annotations

import json
import sysconfig
from pathlib import Path

import pytest

from ctxkit.memory import redact

R = "aB3dE5gH7jK9mN1pQ3rS5tU7vW9xY1zA2bC4dE6fG8hJ0kL2mN4pQ6rS8tU0vW2xY4z"  # filler
HEX = "0123456789abcdef" * 5

# (text, the secret that must not survive)
SECRETS: list[tuple[str, str]] = [
    ("export OPENAI_API_KEY=sk-proj-" + R[:40], R[:40]),
    ("ANTHROPIC_API_KEY=sk-ant-api03-" + R[:60], R[:60]),
    ("openrouter sk-or-v1-" + HEX[:64], HEX[:64]),
    ("stripe sk_live_" + R[:24], R[:24]),
    ("stripe restricted rk_test_" + R[:24], R[:24]),
    ("aws_access_key_id = AKIAIOSFODNN7EXAMPLE", "AKIAIOSFODNN7EXAMPLE"),
    ("aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
     "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"),
    ("creds: ASIAY34FZKBOKMUTVV7A and wJalrXUtnFEMI/K7MDENG+bPxRfiCYzEXAMPLE12",
     "wJalrXUtnFEMI/K7MDENG+bPxRfiCYzEXAMPLE12"),
    ("AWS_SECRET_ACCESS_KEY=Zx9yW8vU7tS6rQ5pO4nM3lK2jI1hG0fE9dC8bA7z", "Zx9yW8vU7tS6rQ5pO4nM3"),
    ("push with ghp_" + R[:36], R[:36]),
    ("fine-grained github_pat_11ABCDEFG0" + R[:50], R[:50]),
    ("gitlab glpat-" + R[:20], R[:20]),
    ("gitlab trigger glptt-" + HEX[:40], HEX[:40]),
    ("HF_TOKEN=hf_" + R[:34], R[:34]),
    ("npm token npm_" + R[:36], R[:36]),
    ("pypi-AgEIcHlwaS5vcmc" + R[:60], R[:60]),
    ("slack xoxb-123456789012-1234567890123-" + R[:24], R[:24]),
    ("slack app xapp-1-A0123456789-" + HEX[:30], HEX[:30]),
    ("https://hooks.slack.com/services/T00000000/B00000000/" + R[:24], R[:24]),
    ("discord https://discord.com/api/webhooks/123456789012345678/" + R[:60], R[:60]),
    ("google AIzaSy" + R[:33], R[:33]),
    ("oauth ya29." + R[:50], R[:50]),
    ("sendgrid SG." + R[:22] + "." + R[22:65], R[22:65]),
    ("twilio SK" + HEX[:32], HEX[:32]),
    ("mailgun key-" + R[:32], R[:32]),
    ("digitalocean dop_v1_" + HEX[:64], HEX[:64]),
    ("shopify shpat_" + HEX[:32], HEX[:32]),
    ("vault hvs." + R[:30], R[:30]),
    ("docker dckr_pat_" + R[:27], R[:27]),
    ("groq gsk_" + R[:52], R[:52]),
    ("replicate r8_" + R[:37], R[:37]),
    ("databricks dapi" + "abcdef0123456789" * 2, "abcdef0123456789" * 2),
    ("telegram 1234567890:AA" + R[:33], R[:33]),
    ("age AGE-SECRET-KEY-1" + "QWERTYUIOPASDFGHJKLZXCVBNM0123456789QWERTYUIOPASDFGHJ",
     "QWERTYUIOPASDF"),
    ("jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9P",
     "dozjgNryP4J3"),
    ("-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA" + R[:40]
     + "\n-----END RSA PRIVATE KEY-----", R[:40]),
    ("-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n"
     "-----END OPENSSH PRIVATE KEY-----", "b3BlbnNzaC1rZXktdjEAAAAA"),
    ('{"type": "service_account", "private_key": "-----BEGIN PRIVATE KEY-----\\nMIIEvQ'
     + R[:30] + '\\n-----END PRIVATE KEY-----\\n"}', R[:30]),
    ("-----BEGIN PGP PRIVATE KEY BLOCK-----\nlQOYBF" + R[:30], R[:30]),
    ("DB_PASSWORD=Tr0ub4dor&3", "Tr0ub4dor&3"),
    ("DB_PASS=correcthorse", "correcthorse"),
    ("REDIS_PASS='plain words here'", "plain words here"),
    ("MYSQL_PWD=qwerty123", "qwerty123"),
    ("SMTP_PASSWORD: s3cr3t!", "s3cr3t!"),
    ('{"password": "hunter2hunter2", "user": "bob"}', "hunter2hunter2"),
    ("config: password = hunter2hunter2", "hunter2hunter2"),
    ("password: 'my pass phrase'", "my pass phrase"),
    ("redis://:p4ssw0rd@cache.internal:6379/0", "p4ssw0rd"),
    ("postgres://app:s3cr3tpass@db.internal:5432/prod", "s3cr3tpass"),
    ("postgresql://admin:p@ss/w0rd@db.example.org:5432/app", "p@ss/w0rd"),
    ("mongodb+srv://root:Pa55@word@cluster0.abcde.mongodb.net/test", "Pa55@word"),
    ("amqp://guest:gu3st/pw@rabbit:5672/", "gu3st/pw"),
    ("Authorization: Basic dXNlcjpjb3JyZWN0LWhvcnNlLWJhdHRlcnk=", "dXNlcjpjb3JyZWN0LWhvcnNl"),
    ("curl -H 'Authorization: Bearer " + R[:32] + "' https://api", R[:32]),
    ("Authorization: token " + HEX[:40], HEX[:40]),
    ("curl -u admin:Sup3rS3cret https://ci.internal/api", "Sup3rS3cret"),
    ("mysql -u root -pR00tPassw0rd -h db", "R00tPassw0rd"),
    ("machine api.example.com login bob password n3tRcPw", "n3tRcPw"),
    ("--password=Hx7!kq2z --user bob", "Hx7!kq2z"),
    ("DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=" + R[:40] + "==;"
     "EndpointSuffix=core.windows.net", R[:40]),
    ("Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=Root;SharedAccessKey="
     + R[:44], R[:44]),
    ("https://acct.blob.core.windows.net/c/f?sv=2022-11-02&sig=" + R[:43] + "%3D", R[:43]),
    ("Server=tcp:db.net,1433;User ID=sa;Password=Yuk0n!Sql;Encrypt=True", "Yuk0n!Sql"),
    ("STRIPE_KEY=" + R[:32], R[:32]),
    ("x-api-key: " + R[:40], R[:40]),
    ("client_secret=" + R[:30], R[:30]),
    # zero-width characters splitting a key, a password, a token
    ("key sk-\u200bproj-" + R[:20] + "\u200d" + R[20:40], R[20:40]),
    ("AKIA\u200cIOSFODNN7\u2060EXAMPLE", "IOSFODNN7"),
    ("gh\u00adp_" + R[:36], R[:36]),
    ("pass\u200bword=Zw1dthHidden", "Zw1dthHidden"),
]


def test_corpus_is_large_enough():
    assert len(SECRETS) >= 50


@pytest.mark.parametrize("text, secret", SECRETS, ids=[f"s{i}" for i in range(len(SECRETS))])
def test_every_secret_shape_is_redacted(text, secret):
    out = redact(text)
    assert secret not in out.text, out.text
    assert out.kinds and "[REDACTED:" in out.text


# ordinary code and prose: nothing may be taken for a secret
PROSE_AND_CODE = """\
The password policy is documented in SECURITY.md; rotate keys every 90 days.
I painted a sunrise in 2022 and went to the support group on 8 May, 2023 at 1:56 pm.
version 1.2.3-rc4, port 8080, commit 4f2a9c1, sha 3f786850e387550fdab836ed7e6dc881de23001b
order number 1234567890123 shipped; see https://example.com/docs/auth#tokens
password = getpass.getpass("Password: ")
token = tokenizer.encode(text)[0]
self.user, self.password = user, password
api_key = os.environ["OPENAI_API_KEY"]
API_KEY = settings.API_KEY
password: str | None = None
secret_key = None
DB_PASSWORD=${DB_PASSWORD}
password: <your password here>
sort_key = lambda kv: (-kv[1], kv[0])
headers = {"Authorization": f"Bearer {token}"}
auth = "Basic " + base64.b64encode(raw).decode()
git clone git@github.com:org/repo.git && cd repo
ssh://git@github.com:22/org/repo and http://localhost:8080/path@v2
The key to good caching is keeping the prefix stable; the token budget is 4000.
Keys: press Ctrl+C to stop. Basic usage is described below.
She said the passphrase rule confused everyone, so they dropped it.
x = np.zeros((4000, 384)); y = x.reshape(-1, 96)
path = "src/components/forms/LoginForm/PasswordField.tsx"
ctxkit/memory/_store.py:120: MemoryStore.flush embeds the backlog
"""


def test_ordinary_prose_and_code_are_left_alone():
    for line in PROSE_AND_CODE.splitlines():
        out = redact(line)
        assert out.text == line and out.kinds == (), (line, out.text)


def test_the_package_source_is_left_alone():
    root = Path(__file__).resolve().parents[2] / "ctxkit"
    hits = []
    for f in sorted(root.rglob("*.py")):
        if f.name == "_detectors.py":  # the patterns themselves
            continue
        for i, line in enumerate(f.read_text().splitlines(), 1):
            if redact(line, pii=False).kinds:
                hits.append(f"{f.name}:{i}: {line.strip()}")
    assert hits == []


# stdlib modules that handle passwords, tokens and auth headers: hard ordinary code
STDLIB = ["smtplib.py", "getpass.py", "ftplib.py", "netrc.py", "imaplib.py", "poplib.py",
          "http/client.py", "http/cookiejar.py", "urllib/parse.py", "urllib/request.py",
          "hashlib.py", "hmac.py", "secrets.py", "base64.py", "ssl.py", "configparser.py",
          "logging/handlers.py", "argparse.py", "subprocess.py", "json/encoder.py"]


def test_stdlib_code_about_passwords_is_left_alone():
    std = Path(sysconfig.get_paths()["stdlib"])
    hits = []
    for name in STDLIB:
        f = std / name
        if not f.exists():
            continue
        for line in f.read_text(errors="replace").splitlines():
            out = redact(line, pii=False)
            if out.kinds:
                hits.append((name, line.strip()))
    # urllib.request's docstring shows one literal example password; it must be found
    assert hits == [("urllib/request.py", "passwd='geheim$parole')")]


def test_conversation_prose_is_left_alone(evaldata: Path):
    data = evaldata / "locomo" / "locomo10.json"
    turns = [t["text"] for c in json.loads(data.read_text()) for v in c["conversation"].values()
             if isinstance(v, list) for t in v]
    assert len(turns) > 5000
    assert [t for t in turns if redact(t).kinds] == []


def test_emoji_joiners_survive_when_nothing_hides_behind_them():
    family = "our family \U0001F468\u200d\U0001F469\u200d\U0001F467 went hiking"
    assert redact(family).text == family
