"""The campaign capacity gate (pure planning) and subscriber helpers."""
import pytest

from ansible_collections.mailfleet.fleet.plugins.module_utils import mailwizz_ops as ops


def audience(buckets, unbucketed=0):
    return {"total": sum(buckets.values()) + unbucketed, "buckets": dict(buckets),
            "unbucketed": unbucketed}


def test_fits_today_single_part():
    assert ops.plan_campaign(audience({0: 50, 99: 50}), 200, 100) == [
        {"day": 0, "buckets": None, "count": 100}]


def test_refuses_without_split_with_numbers_in_message():
    with pytest.raises(ops.OperationError) as err:
        ops.plan_campaign(audience({i: 10 for i in range(100)}), 600, 100, name="spring")
    msg = str(err.value)
    assert "spring" in msg and "1000" in msg and "500" in msg and "split" in msg


def test_split_respects_each_day_and_covers_every_bucket():
    aud = audience({i: 10 for i in range(100)})
    plan = ops.plan_campaign(aud, 400, 100, split=True)
    assert [p["day"] for p in plan] == [0, 1, 2]
    assert [p["count"] for p in plan] == [300, 400, 300]
    assert plan[0]["buckets"] == (0, 29) and plan[1]["buckets"] == (30, 69)
    assert plan[2]["buckets"] == (70, 99)
    assert sum(p["count"] for p in plan) == 1000


def test_split_skips_a_day_with_no_capacity_left_and_uses_next_days():
    aud = audience({i: 10 for i in range(100)})
    plan = ops.plan_campaign(aud, 500, 500, split=True, next_days_capacity=[600, 600])
    assert plan[0]["day"] == 1 and plan[0]["count"] == 600 and plan[1]["count"] == 400


def test_split_refuses_beyond_max_days_and_unbucketed():
    with pytest.raises(ops.OperationError):
        ops.plan_campaign(audience({i: 10 for i in range(100)}), 100, 0, split=True,
                          max_days=3)
    with pytest.raises(ops.OperationError) as err:
        ops.plan_campaign(audience({0: 10}, unbucketed=5), 5, 0, split=True)
    assert "no bucket" in str(err.value)


def test_buckets_and_tags_encoding_are_stable():
    assert ops.bucket_of("Ann@Example.com") == ops.bucket_of("ann@example.com")
    assert 0 <= int(ops.bucket_of("x@example.test")) < 100
    assert ops.encode_tags(["vip", "spring", "vip", " "]) == ",spring,vip,"
    assert ops.decode_tags(",spring,vip,") == ["spring", "vip"]


def test_csv_reader_needs_email_and_splits_tags():
    rows = ops.read_csv_rows("EMAIL,FNAME,tags\na@example.test,Ann,vip|spring\n")
    assert rows == [{"EMAIL": "a@example.test", "FNAME": "Ann", "tags": ["vip", "spring"]}]
    with pytest.raises(ops.OperationError):
        ops.read_csv_rows("mail,FNAME\nx,y\n")
