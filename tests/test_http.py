"""The HTTP service on a real loopback socket: valid, malformed, oversized and concurrent requests."""

from __future__ import annotations

import asyncio
import json
import socket
import threading

import httpx
import numpy as np
import pytest
import uvicorn

from textclf import TextClassifier
from textclf.serving.http import MicroBatcher, ServiceConfig, create_app

CONFIG = ServiceConfig(max_body_bytes=20_000, max_texts=8, max_text_chars=2_000, max_batch=16, max_wait_ms=5)


@pytest.fixture(scope="module")
def clf(rt_small):
    return TextClassifier(model={"type": "tfidf"}).fit(rt_small.subset(range(0, 600, 2)))


@pytest.fixture(scope="module")
def texts(rt_small):
    return [t[:1_500] for t in rt_small.subset(range(1, 600, 5)).texts]  # 120 unseen texts


@pytest.fixture(scope="module")
def server(clf):
    """Uvicorn in a thread, on a socket bound to 127.0.0.1 with a free port chosen by the OS."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    app = create_app(clf, CONFIG, model_name="rt-tfidf")
    instance = uvicorn.Server(uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=5))
    thread = threading.Thread(target=instance.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    for _ in range(200):  # bounded wait for startup
        if instance.started:
            break
        threading.Event().wait(0.05)
    assert instance.started
    yield url
    instance.should_exit = True
    thread.join(timeout=10)
    sock.close()
    assert not thread.is_alive()


def expected(clf, texts):
    probs = clf.predict_proba(texts)
    return clf.predict(texts), [dict(zip(clf.label_map.labels, row)) for row in probs]


def check_answer(clf, texts, body):
    labels, probs = expected(clf, texts)
    assert [p["label"] for p in body["predictions"]] == labels
    for got, want in zip(body["predictions"], probs):
        assert got["probabilities"].keys() == want.keys()
        np.testing.assert_allclose(list(got["probabilities"].values()), list(want.values()), atol=1e-6)


def test_health_labels_and_openapi(server, clf):
    assert httpx.get(f"{server}/health").json()["status"] == "ok"
    labels = httpx.get(f"{server}/labels").json()
    assert labels["labels"] == list(clf.label_map.labels) and labels["task"] == "single_label"
    assert "/predict" in httpx.get(f"{server}/openapi.json").json()["paths"]


def test_one_text_and_many_texts(server, clf, texts):
    reply = httpx.post(f"{server}/predict", json={"text": texts[0]})
    assert reply.status_code == 200
    check_answer(clf, texts[:1], reply.json())
    reply = httpx.post(f"{server}/predict", json={"texts": texts[1:9]})
    assert reply.status_code == 200
    check_answer(clf, texts[1:9], reply.json())


@pytest.mark.parametrize("body", [
    b"{not json",
    b"{}",
    b'{"text": ""}',
    b'{"texts": []}',
    b'{"texts": ["fine", "   "]}',
    b'{"texts": "a string, not a list"}',
    b'{"texts": [1, 2]}',
    b'{"text": "a", "texts": ["b"]}',
    b'{"text": "a", "lang": "en"}',
])
def test_malformed_requests_get_422(server, body):
    reply = httpx.post(f"{server}/predict", content=body, headers={"content-type": "application/json"})
    assert reply.status_code == 422


def test_oversized_requests_get_413(server, texts):
    too_many = httpx.post(f"{server}/predict", json={"texts": texts[:9]})
    assert too_many.status_code == 413 and "limit is 8" in too_many.json()["detail"]
    too_long = httpx.post(f"{server}/predict", json={"text": "word " * 500})
    assert too_long.status_code == 413
    big = json.dumps({"text": "x" * 30_000}).encode()
    assert httpx.post(f"{server}/predict", content=big, headers={"content-type": "application/json"}).status_code == 413

    def chunks():  # no Content-Length: the limit is enforced while the body streams in
        yield b'{"text": "'
        for _ in range(30):
            yield b"y" * 1_000
        yield b'"}'

    streamed = httpx.post(f"{server}/predict", content=chunks(), headers={"content-type": "application/json"})
    assert streamed.status_code == 413
    assert httpx.get(f"{server}/health").status_code == 200  # still serving


def test_concurrent_requests_are_all_answered_correctly(server, clf, texts):
    requests = [texts[i:i + 1 + i % 3] for i in range(0, 120, 3)]  # 40 requests of 1-3 texts
    before = httpx.get(f"{server}/health").json()

    async def send_all():
        async with httpx.AsyncClient(base_url=server, timeout=60) as client:
            return await asyncio.gather(*(client.post("/predict", json={"texts": r}) for r in requests))

    replies = asyncio.run(send_all())
    assert [r.status_code for r in replies] == [200] * len(requests)
    for batch, reply in zip(requests, replies):
        check_answer(clf, batch, reply.json())
    after = httpx.get(f"{server}/health").json()
    assert after["requests"] - before["requests"] == len(requests)
    assert 1 <= after["batches"] - before["batches"] <= len(requests)


def test_micro_batcher_gathers_concurrent_requests_into_one_call():
    calls = []

    def predict(texts):
        calls.append(list(texts))
        return [t.upper() for t in texts]

    async def scenario():
        batcher = MicroBatcher(predict, max_batch=8, max_wait_s=30.0)  # a full batch never waits
        await batcher.start()
        results = await asyncio.gather(*(batcher.submit([f"t{i}", f"u{i}"]) for i in range(4)))
        await batcher.stop()
        return results

    results = asyncio.run(scenario())
    assert calls == [["t0", "u0", "t1", "u1", "t2", "u2", "t3", "u3"]]
    assert results == [[f"T{i}", f"U{i}"] for i in range(4)]


def test_micro_batcher_reports_model_errors_to_every_waiting_request_and_drains_on_stop():
    def predict(texts):
        if "boom" in texts:
            raise ValueError("model failed")
        return texts

    async def scenario():
        batcher = MicroBatcher(predict, max_batch=2, max_wait_s=30.0)
        await batcher.start()
        failed = await asyncio.gather(batcher.submit(["boom"]), batcher.submit(["ok"]), return_exceptions=True)
        pending = [asyncio.create_task(batcher.submit([f"q{i}"])) for i in range(3)]
        await asyncio.sleep(0)  # let them enqueue
        await batcher.stop()  # graceful: queued requests are still answered
        return failed, [t.result() for t in pending]

    failed, drained = asyncio.run(scenario())
    assert all(isinstance(r, ValueError) for r in failed)
    assert drained == [["q0"], ["q1"], ["q2"]]


def test_serve_flags_are_generated_from_service_config():
    """One place for each default and help text: the ServiceConfig field; the flag names users
    know are kept (the `_s` of seconds dropped), and parsing no flags gives ServiceConfig()."""
    from dataclasses import fields

    from textclf.cli.parser import build_parser

    parser = build_parser()
    serve = parser._subparsers._group_actions[0].choices["serve"]
    by_dest = {a.dest: a for a in serve._actions if a.dest not in ("help", "model")}
    assert set(by_dest) == {f.name for f in fields(ServiceConfig)}
    for f in fields(ServiceConfig):
        action = by_dest[f.name]
        assert action.default == f.default and action.help == f.metadata["help"]
    known = {"--host", "--port", "--backend", "--max-body-bytes", "--max-texts", "--max-text-chars", "--max-batch",
             "--max-wait-ms", "--batch-size", "--body-timeout", "--max-queue-texts", "--max-queue-chars",
             "--retry-after", "--header-timeout", "--idle-timeout", "--max-connections", "--shutdown-grace",
             "--api-key", "--device"}
    assert known <= {flag for a in by_dest.values() for flag in a.option_strings}
    args = parser.parse_args(["serve", "m"])
    assert ServiceConfig(**{f.name: getattr(args, f.name) for f in fields(ServiceConfig)}) == ServiceConfig()
    args = parser.parse_args(["serve", "m", "--body-timeout", "3", "--idle-timeout", "1.5", "--api-key", "k"])
    assert (args.body_timeout_s, args.idle_timeout_s, args.api_key) == (3.0, 1.5, "k")
    assert "s3cret" not in repr(ServiceConfig(api_key="s3cret"))  # the key stays out of reprs and logs


def test_service_config_refuses_nonsense():
    from textclf.errors import DataError

    for bad in ({"header_timeout_s": 0}, {"max_connections": -1}, {"device": "tpu"}, {"port": 70000}):
        with pytest.raises(DataError):
            ServiceConfig(**bad)


def test_micro_batcher_close_flushes_a_long_window_at_once():
    async def scenario():
        batcher = MicroBatcher(lambda texts: texts, max_batch=100, max_wait_s=30.0)
        await batcher.start()
        pending = [asyncio.create_task(batcher.submit([f"q{i}"])) for i in range(5)]
        await asyncio.sleep(0.05)  # queued, waiting in a 30 s window
        start = asyncio.get_running_loop().time()
        batcher.close()
        results = await asyncio.gather(*pending)
        waited = asyncio.get_running_loop().time() - start
        await batcher.stop()
        return results, waited, batcher.batches

    results, waited, batches = asyncio.run(scenario())
    assert results == [[f"q{i}"] for i in range(5)] and waited < 1.0 and batches == 1


def test_the_device_is_chosen_at_load_time(clf, tmp_path, texts):
    from textclf.serving.http import load_model

    assert ServiceConfig(device="cuda:1").device == "cuda:1"
    path = clf.save(tmp_path / "model")
    served = load_model(path, "torch", "cpu")
    assert served.predict(texts[:5]) == clf.predict(texts[:5])
