"""The "right" rule, QA file errors, the harness' measures, and the ask / eval verbs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from foundups_training.evaluation import QAFileError, evaluate, fit_calibration, is_right, load_qa
from foundups_training.evaluation.harness import calibration_samples, ece, percentile
from foundups_training.models.calibration import Calibration
from foundups_training.routing import Router, RoutingRules

from .scripted import ListMemory, ScriptedModel, module_pattern


@pytest.mark.parametrize(
    ("answer", "expected", "kind", "right"),
    [
        (
            "modules/communication/livechat",
            ["modules/communication/livechat"],
            "module_location",
            True,
        ),
        (
            "It is modules\\communication\\livechat\\src",
            ["modules/communication/livechat"],
            "module_location",
            True,
        ),
        (
            "modules.communication.livechat.src.core",
            ["modules/communication/livechat"],
            "module_location",
            True,
        ),
        (
            "Modules/Communication/LiveChat/",
            ["modules/communication/livechat"],
            "module_location",
            True,
        ),
        (
            "modules/communication/chat_rules or modules/communication/livechat",
            ["modules/communication/livechat"],
            "module_location",
            False,
        ),
        (
            "modules/communication/livechat_v2",
            ["modules/communication/livechat"],
            "module_location",
            False,
        ),
        ("no idea", ["modules/communication/livechat"], "module_location", False),
        ("Retry with credential set 2", ["credential set 2"], "error_fix", True),
        ("see WSP.49", ["wsp 49", "wsp/49"], "wsp_compliance", True),
        ("", ["x"], "", False),
    ],
)
def test_is_right(answer: str, expected: list[str], kind: str, right: bool) -> None:
    assert is_right(answer, expected, kind) is right


def test_bad_lines_are_reported_with_numbers(tmp_path: Path) -> None:
    qa = tmp_path / "qa.jsonl"
    qa.write_text(
        '{"id": "a", "query": "q1", "expected": ["x"], "kind": "lookup"}\n'
        "\n"
        "not json\n"
        '{"id": "b", "query": "", "expected": ["x"]}\n'
        '{"id": "c", "query": "q", "expected": []}\n'
        '{"id": "a", "query": "q", "expected": ["x"]}\n'
        "[1, 2]\n"
    )
    with pytest.raises(QAFileError) as err:
        load_qa(qa)
    msg = str(err.value)
    assert "5 bad line(s)" in msg
    for n in (3, 4, 5, 6, 7):
        assert f"line {n}:" in msg
    assert "line 1:" not in msg
    with pytest.raises(QAFileError, match="No such file"):
        load_qa(tmp_path / "missing.jsonl")


def test_line_numbers_count_newlines_only_and_a_bom_is_read(tmp_path: Path) -> None:
    """U+2028, U+2029 and NEL are legal inside a JSON string: they end no JSONL line. A BOM
    (Windows Notepad's UTF-8) is not part of the first line."""
    qa = tmp_path / "qa.jsonl"
    qa.write_text(
        "\ufeff"
        + json.dumps({"id": "a", "query": "one\u2028two", "expected": ["x"]}, ensure_ascii=False)
        + "\n"
        + json.dumps(
            {"id": "b", "query": "three\x85four\u2029", "expected": ["y"]}, ensure_ascii=False
        )
        + "\r\nnot json\n",
        encoding="utf-8",
    )
    with pytest.raises(QAFileError) as err:
        load_qa(qa)
    assert "1 bad line(s)" in str(err.value) and "line 3: not JSON" in str(err.value)
    qa.write_text(qa.read_text(encoding="utf-8").replace("not json\n", ""), encoding="utf-8")
    assert [item.id for item in load_qa(qa)] == ["a", "b"]


def test_measures() -> None:
    assert percentile([5, 1, 3, 2, 4], 50) == 3
    assert percentile([1] * 19 + [100], 95) == 1
    assert ece([0.9, 0.9, 0.1, 0.1], [True, True, False, False]) == pytest.approx(0.1)


def _router() -> Router:
    memory = ListMemory(
        [
            (module_pattern("modules/communication/livechat", "live chat"), 0.6),
            (module_pattern("modules/infrastructure/database", "sqlite"), 0.5),
        ]
    )
    return Router(
        memory,
        ScriptedModel("gemma-test", probs=[0.6, 0.4]),
        ScriptedModel("qwen-test", probs=[0.1, 0.9], text="modules/infrastructure/database"),
        rules=RoutingRules(retrieval_temperature=10.0),
    )


def test_the_routed_tier_is_timed_with_both_models_loaded(tmp_path: Path) -> None:
    """Gemma and Qwen are each asked once before the timed questions, even when no routed
    answer escalates: a model's load is not an answer's latency. The per-item file keeps a
    question holding a lone surrogate (half an emoji)."""
    gemma = ScriptedModel("gemma-test", probs=[0.99, 0.01])
    qwen = ScriptedModel("qwen-test", probs=[0.5, 0.5])
    memory = ListMemory([(module_pattern("modules/infrastructure/database", "sqlite rows"), 0.9)])
    router = Router(memory, gemma, qwen)
    qa = tmp_path / "qa.jsonl"
    qa.write_text(
        json.dumps({"id": "a", "query": "Which module keeps the rows? \ud83d", "expected": ["x"]})
    )
    report = evaluate(router, load_qa(qa), ("routed",))
    (result,) = report.results
    assert not result.escalated and result.answered_by != "qwen"
    assert qwen.calls, "qwen was not loaded before timing the routed tier"
    lines = report.write_items(tmp_path / "items.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(lines) == 1 and json.loads(lines[0])["id"] == "a"


def test_harness_reports_every_tier_and_fits_calibration(tmp_path: Path) -> None:
    qa = tmp_path / "qa.jsonl"
    lines = [
        {
            "id": f"m{i}",
            "query": "Which module keeps the rows?",
            "kind": "module_location",
            "expected": ["modules/infrastructure/database"],
        }
        for i in range(8)
    ] + [
        {
            "id": f"r{i}",
            "query": "Why is the database used?",
            "kind": "reasoning",
            "expected": ["database"],
        }
        for i in range(4)
    ]
    qa.write_text("\n".join(json.dumps(x) for x in lines))
    items = load_qa(qa)
    report = evaluate(_router(), items)
    t = report.tiers
    assert set(t) == {"routed", "memory", "gemma", "qwen"}
    assert t["memory"].lookup_accuracy == 0.0  # memory's top neighbour is livechat
    assert t["qwen"].accuracy == 1.0
    assert t["routed"].escalation_rate == pytest.approx(8 / 12)  # the 8 lookups escalate
    assert t["routed"].answered_by == {"qwen": 12}
    assert t["routed"].by_kind == {"module_location": 1.0, "reasoning": 1.0}
    assert 0 <= t["gemma"].ece <= 1 and 0 <= t["gemma"].brier <= 1
    out = report.write_items(tmp_path / "items.jsonl")
    rows = [json.loads(x) for x in out.read_text().splitlines()]
    assert len(rows) == 48 and {"id", "tier", "right", "confidence", "latency_ms"} <= set(rows[0])
    assert {r["intent"] for r in rows if r["id"].startswith("r")} == {"reasoning"}
    # The pickers are fitted on the questions they score when routed: the 8 lookups, not
    # the reasoning questions forced onto them; those count for Qwen's open answer.
    samples = calibration_samples(report.results)
    assert {k: len(v) for k, v in samples.items()} == {
        "memory": 8,
        "gemma": 8,
        "qwen": 8,
        "qwen_open": 4,
    }
    cal = Calibration()
    summary = fit_calibration(report, cal)
    assert {"memory", "gemma"} <= set(summary)
    assert cal("gemma", 0.6) < 0.5  # Gemma was always wrong: calibrated down


def test_eval_cli_bad_file_is_one_clear_line(tmp_path: Path, capsys) -> None:
    from foundups_training.cli import main

    qa = tmp_path / "qa.jsonl"
    qa.write_text('{"query": "x", "expected": ["y"]}\n{oops\n')
    assert main(["eval", str(qa), "--data-dir", str(tmp_path / "d")]) == 2
    err = capsys.readouterr().err
    assert "line 2: not JSON" in err and "Traceback" not in err
    assert main(["eval", str(qa), "--tiers", "routed,gpt"]) == 2


def test_eval_cli_memory_tier_end_to_end(tmp_path: Path, capsys, monkeypatch) -> None:
    """Real memory (embedded Chroma + MiniLM), memory tier only: no model needed."""
    pytest.importorskip("chromadb")
    from foundups_training.cli import main
    from foundups_training.config import load_settings
    from foundups_training.memory import open_memory

    data = tmp_path / "d"
    settings = load_settings({"data_dir": data}, env={})
    with open_memory(settings) as memory:
        memory.upsert(
            [
                module_pattern(
                    "modules/communication/livechat",
                    "Reads YouTube live chat messages and replies to viewers",
                ),
                module_pattern(
                    "modules/infrastructure/database",
                    "SQLite persistence layer shared by every module",
                ),
            ]
        )
    qa = tmp_path / "qa.jsonl"
    qa.write_text(
        json.dumps(
            {
                "id": "1",
                "query": "Which module answers chat viewers?",
                "kind": "module_location",
                "expected": ["modules/communication/livechat"],
            }
        )
        + "\n"
        + json.dumps(
            {
                "id": "2",
                "query": "Where is the SQLite storage?",
                "kind": "module_location",
                "expected": ["modules/infrastructure/database"],
            }
        )
        + "\n"
    )
    out = tmp_path / "items.jsonl"
    code = main(
        ["eval", str(qa), "--data-dir", str(data), "--tiers", "memory", "--json", "--out", str(out)]
    )
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    assert report["tiers"]["memory"]["accuracy"] == 1.0
    assert len(out.read_text().splitlines()) == 2
    from foundups_training.metrics import MetricsStore

    with MetricsStore(settings.metrics_path) as store:  # the dashboard's evaluation history
        (run,) = store.eval_runs()
    assert run.dataset == "qa.jsonl"

    # ask, through the on_query hook and the training plugin
    from foundups_training import plugin as plugin_module
    from foundups_training.plugins import reset_plugin_manager

    monkeypatch.setattr(plugin_module.plugin, "_trainer", None)
    reset_plugin_manager()
    try:
        code = main(
            [
                "ask",
                "Which module answers chat viewers?",
                "--tier",
                "memory",
                "--json",
                "--data-dir",
                str(data),
            ]
        )
        answer = json.loads(capsys.readouterr().out)
    finally:
        plugin_module.plugin.close()
        monkeypatch.setattr(plugin_module.plugin, "_trainer", None)
        reset_plugin_manager()
    assert code == 0
    assert answer["answer"] == "modules/communication/livechat"
    assert {"answer", "model", "confidence", "escalated", "latency_ms", "patterns"} <= set(answer)
    assert answer["model"] == "memory" and len(answer["patterns"]) == 2
