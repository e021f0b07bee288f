"""The SQLite store: schema, append-only ratings, audit trail, summaries, migrations, backups."""

import sqlite3
from pathlib import Path

import pytest

from engine.errors import InputError, NotFoundError, ProtocolError, StoreError
from engine.hashing import file_sha256
from engine.media.probe import probe
from engine.store import Store
from engine.store.schema import SCHEMA_VERSION

INJECTION = "x'); DROP TABLE subjects;--"


@pytest.fixture
def store(aqa_home):
    with Store() as s:
        yield s


@pytest.fixture
def session(store):
    store.add_subject("S-01", birth_year=2015, sex="F")
    return store.new_session("S-01", "cmas", on="2026-03-01", examiner="Dr A")


def add_video(store, session_id, video: Path, item: str):
    info = probe(video)
    return store.add_recording(session_id, item, video, file_sha256(video), info.to_dict(), "side")


def test_database_lives_in_aqa_home_with_pragmas(store, aqa_home):
    assert store.path == aqa_home / "aqa.sqlite"
    info = store.info()
    assert info["schema_version"] == SCHEMA_VERSION
    assert info["journal_mode"] == "wal"
    assert store.db.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert store.db.execute("PRAGMA busy_timeout").fetchone()[0] >= 5000


def test_injection_and_unicode_are_stored_literally(store):
    store.add_subject("INJ-1", notes=INJECTION + " Zoë — 患者 🙂")
    store.add_subject("Ünïcode-Ω")
    assert store.db["subjects"].count == 2
    assert store.subject("INJ-1")["notes"] == INJECTION + " Zoë — 患者 🙂"
    assert {s["code"] for s in store.subjects()} == {"INJ-1", "Ünïcode-Ω"}
    session = store.new_session("INJ-1", "cmas", examiner=INJECTION + ' O\'Brien "Dr"')
    assert store.session(session["id"])["examiner"] == INJECTION + ' O\'Brien "Dr"'
    with pytest.raises(InputError, match="may hold only letters, digits"):
        store.add_subject(INJECTION)


def test_bad_subject_values_are_refused(store):
    with pytest.raises(InputError, match="must not be empty"):
        store.add_subject("   ")
    with pytest.raises(InputError, match="control characters"):
        store.add_subject("A\x00B")
    with pytest.raises(InputError, match="not plausible"):
        store.add_subject("A", birth_year=1200)
    store.add_subject("A")
    with pytest.raises(InputError, match="already exists"):
        store.add_subject("A")


def test_session_validation(store):
    store.add_subject("S")
    with pytest.raises(NotFoundError, match="no subject"):
        store.new_session("nobody", "cmas")
    with pytest.raises(NotFoundError, match="no protocol"):
        store.new_session("S", "karate")
    with pytest.raises(InputError, match="not a date"):
        store.new_session("S", "cmas", on="31/03/2026")


def test_ratings_append_only_latest_is_current(store, session, vtest_video):
    rec = add_video(store, session["id"], vtest_video, "head_elevation")
    store.add_user("DrA", "admin", "pw-a", "Dr A")
    store.login("DrA", "pw-a")
    store.add_user("DrB", "rater", "pw-b", "Dr B")
    store.rate(rec["id"], 2, "first look")
    store.login("DrB", "pw-b")
    store.rate(rec["id"], 3, "re-watched the hold")
    assert [r["grade"] for r in store.ratings(rec["id"])] == [2, 3]
    assert [r["rater"] for r in store.ratings(rec["id"])] == ["DrA", "DrB"]
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        store.db.execute("UPDATE ratings SET grade = 5")
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        store.db.execute("DELETE FROM audit_log")
    rate_rows = [a for a in store.audit_log() if a["action"] == "rate"]
    assert rate_rows[0]["actor"] == "DrB"
    assert '"grade": 2.0' in rate_rows[0]["old_value"]


def test_grade_outside_range_refused_and_nothing_written(store, session, vtest_video):
    rec = add_video(store, session["id"], vtest_video, "pick_up")
    with pytest.raises(ProtocolError, match="from 0 to 2"):
        store.rate(rec["id"], 3)
    store.add_user("Adm", "admin", "pw-adm")
    with pytest.raises(InputError, match="log in to change it"):
        store.rate(rec["id"], 1)
    store.login("Adm", "pw-adm")
    store.add_user("Ex", "examiner", "pw-ex")
    store.login("Ex", "pw-ex")
    with pytest.raises(InputError, match="Ex is an examiner; only a rater or admin may rate"):
        store.rate(rec["id"], 1)
    assert store.ratings(rec["id"]) == []
    with pytest.raises(NotFoundError, match="no recording 999"):
        store.rate(999, 1)


def test_recording_item_must_belong_to_protocol(store, session, vtest_video):
    with pytest.raises(ProtocolError, match="no item 'triple_axel'"):
        add_video(store, session["id"], vtest_video, "triple_axel")
    rec = add_video(store, session["id"], vtest_video, "sit_ups")
    assert rec["sha256"] == file_sha256(vtest_video)
    assert '"fps"' in rec["media"]


def test_session_summary_total_and_completeness(store, session, vtest_video):
    a = add_video(store, session["id"], vtest_video, "head_elevation")
    b = add_video(store, session["id"], vtest_video, "sit_ups")
    c = add_video(store, session["id"], vtest_video, "sit_ups")  # a second view of one item
    store.rate(a["id"], 4)
    store.rate(b["id"], 2)
    store.rate(c["id"], 5)  # the latest rating of the item counts
    summary = store.session_summary(session["id"])
    assert summary["total"] == 9 and summary["max_total"] == 52
    assert summary["completeness"] == "9/52, 2 of 14 items rated"
    sit = next(i for i in summary["items"] if i["item"] == "sit_ups")
    assert sit["recordings"] == 2 and sit["grade"] == 5


def test_every_insert_is_audited(store, session, vtest_video):
    rec = add_video(store, session["id"], vtest_video, "leg_raise")
    store.rate(rec["id"], 1)
    actions = [(a["action"], a["table_name"]) for a in reversed(store.audit_log())]
    assert actions == [
        ("insert", "subjects"),
        ("insert", "sessions"),
        ("insert", "recordings"),
        ("rate", "ratings"),
    ]


def test_check_and_online_backup(store, session, tmp_path):
    assert store.check() == []
    target = store.backup(tmp_path / "copy.sqlite")
    with Store(target) as copy:
        assert copy.subject("S-01")["birth_year"] == 2015
        assert copy.check() == []
    with pytest.raises(StoreError, match="already exists"):
        store.backup(target)


def test_migration_backs_up_first_and_keeps_data(aqa_home, monkeypatch):
    import engine.store.db as db_module

    with Store() as s:
        s.add_subject("KEEP-1")
    added = []

    def v2(db):
        db["subjects"].add_column("site", str)
        added.append(True)

    monkeypatch.setattr(db_module, "MIGRATIONS", [*db_module.MIGRATIONS, v2])
    monkeypatch.setattr(db_module, "SCHEMA_VERSION", SCHEMA_VERSION + 1)
    with Store() as s:
        assert s.info()["schema_version"] == SCHEMA_VERSION + 1
        assert "site" in s.db["subjects"].columns_dict
        assert s.subject("KEEP-1")
    assert added == [True]
    (backup,) = aqa_home.glob(f"aqa.sqlite.v{SCHEMA_VERSION}-*.bak")
    old = sqlite3.connect(backup)
    assert old.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert old.execute("select code from subjects").fetchall() == [("KEEP-1",)]
    old.close()


def test_newer_schema_is_refused(aqa_home):
    aqa_home.mkdir(parents=True)
    path = aqa_home / "aqa.sqlite"
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 5}")
    conn.close()
    with pytest.raises(StoreError, match="newer AQA Studio"):
        Store(path)


def test_not_a_database_is_a_clear_error(aqa_home):
    aqa_home.mkdir(parents=True)
    path = aqa_home / "aqa.sqlite"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError, match="cannot be"):
        Store(path)


def test_real_migration_from_schema_1_keeps_data(aqa_home):
    from sqlite_utils import Database

    from engine.store.schema import MIGRATIONS

    aqa_home.mkdir(parents=True)
    path = aqa_home / "aqa.sqlite"
    old = Database(path)
    MIGRATIONS[0](old)
    old.execute("PRAGMA user_version = 1")
    old["subjects"].insert({"code": "OLD-1", "created_at": "2025-01-01T00:00:00"})
    old.close()
    with Store(path) as store:
        assert store.info()["schema_version"] == SCHEMA_VERSION
        assert store.subject("OLD-1")["created_at"] == "2025-01-01T00:00:00"
        assert store.models() == []
    assert len(list(aqa_home.glob("aqa.sqlite.v1-*.bak"))) == 1


def test_model_registry_versions_and_activation(store, tmp_path):
    first = store.register_model(
        "cmas", "head_elevation", "mcmoe", tmp_path / "a", {"preset": "app"}
    )
    second = store.register_model(
        "cmas", "head_elevation", "mcmoe", tmp_path / "b", {}, {"srcc": 0.8}, demo=True
    )
    assert (first["version"], second["version"]) == (1, 2)
    assert second["metrics"] == {"srcc": 0.8} and second["demo"] == 1
    assert store.active_model("cmas", "head_elevation") is None
    store.set_model_status(first["id"], "active", actor="Dr A")
    store.set_model_status(second["id"], "active", actor="Dr A")
    assert store.model(first["id"])["status"] == "retired"
    assert store.active_model("cmas", "head_elevation")["id"] == second["id"]
    audit = [(a["action"], a["row_id"]) for a in store.audit_log() if a["table_name"] == "models"]
    assert ("retire", first["id"]) in audit and ("active", second["id"]) in audit
    with pytest.raises(InputError, match="status is one of"):
        store.set_model_status(first["id"], "best")
    with pytest.raises(ProtocolError, match="no item"):
        store.register_model("cmas", "moonwalk", "mcmoe", tmp_path, {})
    with pytest.raises(NotFoundError, match="no model 99"):
        store.model(99)
