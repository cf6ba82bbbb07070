"""Two consumers sharing a group, and a topic deleted and recreated under the consumer."""

from __future__ import annotations

import signal
import subprocess
import time

import redis
from test_stream_crash import CLI, CONSUME, assert_exact_once, check, run, scenario_env

from salespulse import kafka as sp_kafka
from salespulse.names import Names
from salespulse.reference import get_catalogue
from salespulse.settings import load_settings
from salespulse.stream import reconcile


def test_two_consumers_in_one_group_share_three_partitions_exactly(stack, tmp_path) -> None:
    env = scenario_env(stack, tmp_path)
    names = Names.from_settings(load_settings(env))
    produced = run(env, "produce", "--rate", "0", "--count", "200", "--seed", "4")  # creates the topic
    assert produced.returncode == 0, produced.stderr
    consumers = [
        subprocess.Popen(
            [*CLI, *CONSUME], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
        )
        for _ in range(2)
    ]
    client = redis.Redis.from_url(stack.redis_url, decode_responses=True)
    try:
        produced = run(env, "produce", "--rate", "4000", "--count", "12000", "--seed", "5")
        assert produced.returncode == 0, produced.stderr
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            total = int(client.hget(names.key("stats", "consumer"), "events_total") or 0)
            if total >= 12_200:
                break
            time.sleep(0.5)
    finally:
        logs = []
        for proc in consumers:
            proc.send_signal(signal.SIGTERM)
            logs.append(proc.communicate(timeout=60)[1])
    assert all(proc.returncode == 0 for proc in consumers), logs
    # Each member owned partitions at some point (the group really was shared).
    assert all("assigned" in log for log in logs)
    report = check(env, stack)
    assert report["events"] == 12_200
    assert_exact_once(report, 12_200)
    client.close()


def test_a_recreated_topic_is_counted_not_mistaken_for_replays(stack, tmp_path) -> None:
    env = scenario_env(stack, tmp_path)
    settings = load_settings(env)
    names = Names.from_settings(settings)
    assert run(env, "produce", "--rate", "0", "--count", "3000", "--seed", "6").returncode == 0
    assert run(env, *CONSUME, "--until-idle", "1.5").returncode == 0
    client = redis.Redis.from_url(stack.redis_url, decode_responses=True)
    first = reconcile.verify(settings, names.sales_topic, client)
    assert first["differences"] == [] and first["events"] == 3000
    old = reconcile.good_events(reconcile.read_topic(names.sales_topic, settings))

    sp_kafka.delete_topics([names.sales_topic], settings)
    deadline = time.monotonic() + 30
    while names.sales_topic in sp_kafka.admin(settings).list_topics(timeout=10).topics:
        assert time.monotonic() < deadline
        time.sleep(0.2)
    assert run(env, "produce", "--rate", "0", "--count", "1000", "--seed", "7").returncode == 0
    again = run(env, *CONSUME, "--until-idle", "1.5")
    assert again.returncode == 0 and "was recreated" in again.stderr, again.stderr[-2000:]

    # Redis now holds the old incarnation's 3000 events plus the new 1000.
    events = reconcile.good_events(reconcile.read_topic(names.sales_topic, settings))
    assert len(events) == 1000
    old_and_new = reconcile.expected_views(old + events, get_catalogue(settings).genre_of())
    actual = reconcile.redis_views(client, names, old_and_new["totals"])
    assert reconcile.differences(old_and_new, actual) == []
    ids = reconcile.lake_event_ids(names.raw_sales_dir("stream"))
    assert len(ids) == 4000 and max(ids.values()) == 1
    client.close()
