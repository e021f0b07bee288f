"""Users and e-signatures through the CLI on the real database and a real video: bootstrap admin,
passwords, lockout, sign -> rate refused -> unlock with a reason -> the signature void in the
history and on the PDF; a signed session edited behind the app's back is named by db verify."""

import shutil
import sqlite3
import subprocess

import pytest

from engine.cli import main
from engine.store import Store


def run(capsys, *argv, password=None, user=None, monkeypatch=None):
    if monkeypatch is not None:
        monkeypatch.setenv("AQA_PASSWORD", password or "")
        if user:
            monkeypatch.setenv("AQA_USER", user)
        else:
            monkeypatch.delenv("AQA_USER", raising=False)
    code = main([str(a) for a in argv])
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture
def record(capsys, monkeypatch, vtest_video):
    """An admin (boss), a rater (drR) and a session with a recording of the real vtest video."""

    def as_user(name, password):
        def call(*argv):
            return run(capsys, *argv, password=password, user=name, monkeypatch=monkeypatch)

        return call

    boss = as_user(None, "boss-pw")
    assert boss("user", "add", "boss", "--role", "admin", "--full-name", "Dr Boss")[0] == 0
    boss = as_user("boss", "boss-pw")
    assert boss("subject", "add", "SIG-1", "--birth-year", "2015", "--sex", "F")[0] == 0
    assert boss("session", "new", "--subject", "SIG-1", "--protocol", "cmas")[0] == 0
    assert boss("recording", "add", 1, vtest_video, "--item", "pick_up")[0] == 0
    # a rater is added by the admin: the admin's password, then the new one, as a script would
    code, out, err = run(capsys, "user", "add", "drR", "--role", "rater", "--full-name", "Dr Rae",
                         password="boss-pw", user="boss", monkeypatch=monkeypatch)  # fmt: skip
    assert code == 0, err
    # (AQA_PASSWORD served both questions: drR's password is the same text here)
    return {"boss": boss, "rater": as_user("drR", "boss-pw"), "as": as_user}


def test_first_user_needs_no_login_later_ones_need_an_admin(capsys, monkeypatch):
    code, _, err = run(capsys, "user", "add", "ex", "--role", "examiner", password="pw-ex",
                       monkeypatch=monkeypatch)  # fmt: skip
    assert code == 2 and "The first account must be an admin" in err
    assert run(capsys, "user", "add", "adm", "--role", "admin", password="pw-adm",
               monkeypatch=monkeypatch)[0] == 0  # fmt: skip
    code, _, err = run(capsys, "user", "add", "ex", "--role", "examiner", password="pw-ex",
                       monkeypatch=monkeypatch)  # fmt: skip
    assert code == 2 and "log in to change it" in err
    code, _, err = run(capsys, "subject", "add", "S-1", password="pw", monkeypatch=monkeypatch)
    assert code == 2 and "log in to change it" in err
    code, _, err = run(capsys, "subject", "add", "S-1", password="wrong", user="adm",
                       monkeypatch=monkeypatch)  # fmt: skip
    assert code == 2 and err.strip() == "aqa: The user name or password is wrong."
    code, out, _ = run(capsys, "user", "list", "--json", password="pw-adm", user="adm",
                       monkeypatch=monkeypatch)  # fmt: skip
    assert code == 0 and "scrypt" not in out and '"role": "admin"' in out
    with Store() as store:
        stored = store.db.execute("select password from users").fetchone()[0]
    assert stored.startswith("scrypt$16384$8$1$") and "pw-adm" not in stored


def test_lockout_after_five_failures(capsys, monkeypatch):
    run(capsys, "user", "add", "adm", "--role", "admin", password="pw-adm", monkeypatch=monkeypatch)
    for _ in range(5):
        code, _, err = run(capsys, "subject", "add", "S-1", password="nope", user="adm",
                           monkeypatch=monkeypatch)  # fmt: skip
        assert code == 2 and "password is wrong" in err
    code, _, err = run(capsys, "subject", "add", "S-1", password="pw-adm", user="adm",
                       monkeypatch=monkeypatch)  # fmt: skip
    assert code == 2 and "is locked after 5 failed logins, until" in err


def test_sign_rate_refused_unlock_voids_the_signature(record, tmp_path):
    boss, rater = record["boss"], record["rater"]
    assert rater("rate", 1, 2, "--reason", "picked up twice")[0] == 0
    code, _, err = record["as"]("boss", "wrong")("sign", 1, "--meaning", "approved")
    assert code == 2 and "password is wrong" in err
    code, out, _ = boss("sign", 1, "--meaning", "approved")
    assert code == 0 and "approved by Dr Boss" in out and "locked" in out
    code, _, err = boss("rate", 1, 1)
    assert code == 2 and "Session 1 is signed (approved by Dr Boss" in err
    assert "an admin must unlock it with a reason first" in err
    assert boss("db", "verify")[0] == 0
    code, out, _ = boss("unlock", 1, "--reason", "grade entered for the wrong item")
    assert code == 0 and "is now VOID" in out
    assert boss("rate", 1, 1, "--reason", "corrected")[0] == 0
    pdf = tmp_path / "r.pdf"
    assert boss("report", 1, "--pdf", pdf)[0] == 0
    if shutil.which("pdftotext"):
        text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True).stdout
        flat = " ".join(text.split())
        assert "VOID — Signed (approved) by Dr Boss" in flat
        assert "grade entered for the wrong item" in flat
        assert "pick_up: 1 by Dr Boss" in flat and "corrected" in flat
        assert "age 11 at the exam" in flat or "age 10 at the exam" in flat
        assert "sex F" in flat
    with Store() as store:
        actions = [a["action"] for a in store.audit_log(10)]
        assert "void" in actions and "sign" in actions
        (sig,) = store.signatures(1)
        assert sig["voided_by"] == "boss" and sig["void_reason"].startswith("grade entered")
        assert store.verify() == []


def test_a_signed_session_edited_behind_the_app_is_named(record, aqa_home):
    boss = record["boss"]
    assert boss("rate", 1, 2)[0] == 0
    assert boss("sign", 1, "--meaning", "reviewed")[0] == 0
    conn = sqlite3.connect(aqa_home / "aqa.sqlite")
    conn.execute("DROP TRIGGER ratings_no_update")
    conn.execute("UPDATE ratings SET grade = 0")
    conn.commit()
    conn.close()
    code, out, _ = boss("db", "verify")
    assert code == 3
    assert "problem: ratings row 1 was edited outside the audit log (grade)" in out
    assert (
        "problem: signature 1 (reviewed by Dr Boss) no longer matches the content of session 1"
        in out
    )
    conn = sqlite3.connect(aqa_home / "aqa.sqlite")
    with pytest.raises(sqlite3.IntegrityError, match="only be voided"):
        conn.execute("UPDATE signatures SET meaning = 'approved'")
    conn.close()


def test_password_stdin_for_scripts(record, monkeypatch):
    """A script signs with --password-stdin: the login's line, then the signature's line."""
    import sys
    from pathlib import Path

    monkeypatch.delenv("AQA_USER")
    monkeypatch.delenv("AQA_PASSWORD")
    exe = str(Path(sys.executable).with_name("aqa"))
    argv = [exe, "--user", "boss", "--password-stdin", "sign", "1", "--meaning", "reviewed"]
    wrong = subprocess.run(argv, input="boss-pw\nnope\n", capture_output=True, text=True)
    assert wrong.returncode == 2 and "password is wrong" in wrong.stderr
    done = subprocess.run(argv, input="boss-pw\nboss-pw\n", capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "reviewed by Dr Boss" in done.stdout
