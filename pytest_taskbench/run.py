"""The run object: one per pytest process. It loads suites and the model once and evaluates cases.

Domain code: it takes plain values (Settings, paths, Cases) and never imports pytest.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Any

from pytest_taskbench.baseline import Baseline, BaselinePlan, SuiteRecord, build_baseline, write_baselines
from pytest_taskbench.cases import Case, CaseFileContents
from pytest_taskbench.generation import Backend, GenerationParams, Prompt, backend_for_settings
from pytest_taskbench.generation.cache import GenerationCache, open_cache
from pytest_taskbench.generation.engine import GenerationEngine, Job
from pytest_taskbench.reports.model import SuiteReport
from pytest_taskbench.results import CaseResult
from pytest_taskbench.scoring.base import Scorer, ScorerError, build_scorer, safe_score, split_spec
from pytest_taskbench.settings import Settings
from pytest_taskbench.suite import SUITE_FILE_NAME, GateConfig, Suite, find_suite_file, load_suite
from pytest_taskbench.verdict.analysis import analyze
from pytest_taskbench.verdict.compare import BaselineCheck, ComparedSuite, check_against_baseline
from pytest_taskbench.verdict.gates import Verdict, effective_gates, evaluate_gates, gated_on_figures
from pytest_taskbench.verdict.stats import DEFAULT_SEED, with_intervals
from pytest_taskbench.verdict.summary import summarize


class TaskbenchRun:
    def __init__(self, settings: Settings, rootdir: Path) -> None:
        self.settings = settings
        self.rootdir = rootdir
        self._suites: dict[Path, Suite] = {}
        self._suite_file_of_dir: dict[Path, Path | None] = {}
        self._scorers: dict[tuple[Path, str], Scorer] = {}
        self._case_files: dict[Path, CaseFileContents] = {}
        self._content_hashes: dict[Path, str] = {}
        self._reported_suite_errors: set[Path] = set()
        self.baselines = BaselinePlan()
        self.cache_dir: Path | None = Path(rootdir, settings.cache_dir) if settings.cache_dir else None  # the plugin fills in pytest's cache dir
        self.engine = GenerationEngine(self._load_backend, cache_factory=self._open_cache)

    # suites -----------------------------------------------------------------
    def suite_file_for(self, path: Path) -> Path | None:
        directory = path.parent
        if directory not in self._suite_file_of_dir:
            self._suite_file_of_dir[directory] = find_suite_file(path)
        return self._suite_file_of_dir[directory]

    def claim_suite_error(self, suite_file: Path) -> bool:
        """True the first time a broken suite file is met in this process, so its error is reported once."""
        key = suite_file.resolve()
        if key in self._reported_suite_errors:
            return False
        self._reported_suite_errors.add(key)
        return True

    def suite_at(self, suite_file: Path) -> Suite:
        """Load (once) and return the suite; raises SuiteError."""
        key = suite_file.resolve()
        if key not in self._suites:
            self._suites[key] = load_suite(suite_file) if suite_file.name == SUITE_FILE_NAME else self._lm_eval_suite(suite_file)
        return self._suites[key]

    def _lm_eval_suite(self, task_file: Path) -> Suite:
        """An lm-evaluation-harness task YAML as a suite (any suite file not named taskbench.yaml)."""
        from pytest_taskbench.lmeval.suite import load_lm_eval_suite

        options = self.settings
        return load_lm_eval_suite(
            task_file, allow_functions=options.lm_eval_allow_functions, chat_template=options.lm_eval_chat_template, display=self.display_path
        )

    def case_file(self, suite: Suite, path: Path) -> CaseFileContents:
        """A case file read once per process: collection, the suite's case count and the samples log share it."""
        key = path.resolve()
        if key not in self._case_files:
            self._case_files[key] = suite.load_cases(path, display_path=self.display_path(path))
        return self._case_files[key]

    def content_hash(self, suite: Suite) -> str:
        """The suite's content hash, read once per process and only when a baseline needs it."""
        if suite.path not in self._content_hashes:
            self._content_hashes[suite.path] = suite.content_hash()
        return self._content_hashes[suite.path]

    def display_path(self, path: Path) -> str:
        try:
            return path.resolve().relative_to(self.rootdir.resolve()).as_posix()
        except ValueError:
            return str(path)

    def pass_threshold(self, suite: Suite) -> float:
        return self.settings.pass_threshold if self.settings.pass_threshold is not None else suite.pass_threshold

    # scoring ----------------------------------------------------------------
    def scorer_for(self, suite: Suite, case: Case) -> Scorer:
        """The scorer a case uses, built once per suite and spec; raises ScorerError.

        A case file may only name a registered scorer: a ``package.module:function`` there would
        import and run code named by a file that holds case text (see the threat model).
        """
        if case.scorer is not None and ":" in split_spec(case.scorer)[0]:
            raise ScorerError(
                f"scorer {split_spec(case.scorer)[0]!r} names Python code, which a case file may not; "
                "name it as a category's scorer in the suite file, or register it with @scorer in conftest.py"
            )
        spec = suite.scorer_spec_for(case)
        key = (suite.path, json.dumps(spec, sort_keys=True, default=str))
        if key not in self._scorers:
            self._scorers[key] = build_scorer(spec, suite.scoring_context())
        return self._scorers[key]

    # generation -------------------------------------------------------------
    def _load_backend(self) -> Backend:
        return backend_for_settings(self.settings, self.rootdir)

    def _open_cache(self, backend: Backend) -> GenerationCache | None:
        return open_cache(backend, self.cache_dir, enabled=not self.settings.no_cache, read=not self.settings.refresh_cache)

    def generate_planned(self, check_batching: int = 0) -> list[str]:
        """Produce every planned output now (before items run) and run the batching check; returns notes."""
        self.engine.prefetch()
        self.engine.check_batching(check_batching)
        return self.engine.notes()

    @property
    def backend(self) -> Backend:
        """The model, loaded on first use (raises ModelLoadError)."""
        return self.engine.backend

    def generation_params(self, suite: Suite) -> GenerationParams:
        params = suite.generation
        if self.settings.no_chat_template:
            params = replace(params, use_chat_template=False)
        if self.settings.max_new_tokens is not None:
            params = replace(params, max_new_tokens=self.settings.max_new_tokens)
        return params

    def job_for(self, suite: Suite, case: Case, key: str) -> Job:
        return Job(key, suite.prompt_for(case), self.generation_params(suite), case.id)

    def plan(self, planned: Sequence[tuple[Suite, Case, str]], *, distributed: bool = False, upcoming: Callable[[], Iterable[str]] | None = None) -> None:
        """Plan generation in run order.

        Under xdist a worker runs only its share of the items it collected: ``upcoming`` names the
        items already sent to it (generated together on a miss); without it the worker generates
        one batch ahead in run order, some of which another worker may run.
        """
        lookahead = (self.settings.batch_size or 32) if distributed else None  # batch_size 0 is auto
        jobs = [self.job_for(suite, case, key) for suite, case, key in planned]
        self.engine.plan(jobs, lookahead=lookahead, upcoming=upcoming)

    def counters(self) -> dict[str, float | int]:
        return {**self.engine.counters.as_dict(), "model_loads": self.engine.weight_loads}

    def evaluate(self, suite: Suite, case: Case, nodeid: str) -> CaseResult:
        """Generate (or fetch) the output for a case and score it."""
        generation = self.engine.get(self.job_for(suite, case, nodeid))
        threshold = self.pass_threshold(suite)
        base = CaseResult(
            case_id=case.id,
            nodeid=nodeid,
            suite=self.display_path(suite.path),
            category=case.category,
            difficulty=case.difficulty,
            score=0.0,
            passed=False,
            input=case.request_text,
            expected=case.expected,
            tags=case.tags,
            critical=case.critical,
            path=case.path,
            line=case.line,
            threshold=threshold,
        )
        if generation.text is None:
            return replace(base, status="error", reason=f"model error: {generation.error}", details={"model_error": generation.error})
        score = safe_score(self.scorer_for(suite, case), generation.text, case)
        return replace(
            base,
            score=score.value,
            passed=score.value >= threshold,
            reason=score.reason,
            output=generation.text,
            details=dict(score.details),
        )

    def generate_texts(self, prompts: Sequence[str | Prompt], params: GenerationParams | None = None) -> list[str]:
        """Generate for ad-hoc prompts (the ``taskbench_model`` fixture); raises on a failed prompt."""
        as_prompts = [p if isinstance(p, Prompt) else Prompt(({"role": "user", "content": p},), p) for p in prompts]
        generations = self.backend.generate(as_prompts, params or GenerationParams())
        failed = [g.error for g in generations if g.text is None]
        if failed:
            raise RuntimeError(f"model failed on {len(failed)} prompt(s): {failed[0]}")
        return [g.text or "" for g in generations]

    def finish(self, results: Sequence[CaseResult], worker_counters: Sequence[Mapping[str, Any]] = (), model: str | None = None) -> list[SuiteReport]:
        """Summaries, gates and verdicts, one report per suite that had results."""
        counters = merge_counters([self.counters(), *worker_counters])
        by_suite: dict[str, list[CaseResult]] = {}
        for result in results:
            by_suite.setdefault(result.suite, []).append(result)
        reports = []
        for suite_path, suite_results in by_suite.items():
            suite = self.suite_at(self.rootdir / suite_path)
            summary = summarize(
                suite_results,
                suite_name=suite.name,
                suite_path=suite_path,
                weights=suite.weights,
                difficulties=suite.difficulties,
                pass_threshold=self.pass_threshold(suite),
                band_for=suite.band_for,
                total_in_suite=suite.count_cases(partial(self.case_file, suite)),
                notes=[suite.weights_note] if suite.weights_note else [],
            )
            gates = effective_gates(suite.gates, self.settings, list(suite.categories))
            summary = with_intervals(
                summary,
                suite_results,
                alpha=gates.alpha,
                seed=self.seed,
                min_cases=suite.min_cases,
                gated=gated_on_figures(gates) or self.baselines.baseline is not None,
            )
            verdict = evaluate_gates(summary, gates)
            check = self.check_against_baseline(suite, suite_path, suite_results, gates, model)
            summary, verdict = replace(summary, notes=summary.notes + check.notes), Verdict(verdict.gates + check.gates)
            analysis = analyze(suite_results, summary, suite.analysis)
            reports.append(
                SuiteReport(summary, verdict, tuple(suite_results), counters if any(counters.values()) else {}, analysis, comparison=check.comparison)
            )
        return reports

    # statistics and baselines -----------------------------------------------
    @property
    def seed(self) -> int:
        return DEFAULT_SEED if self.settings.seed is None else self.settings.seed

    def plan_baselines(self, invocation_dir: Path) -> None:
        """Resolve and read the baseline files named by the options (raises BaselineError)."""
        s = self.settings
        self.baselines = BaselinePlan.from_options(
            save=s.save_baseline,
            compare=s.compare,
            update=s.update_baseline,
            shared_only=s.compare_shared_only,
            rootdir=self.rootdir,
            invocation_dir=invocation_dir,
        )

    def check_against_baseline(self, suite: Suite, suite_path: str, results: Sequence[CaseResult], gates: GateConfig, model: str | None) -> BaselineCheck:
        content_hash = self.content_hash(suite) if self.baselines.baseline is not None else ""
        return check_against_baseline(
            self.baselines.baseline,
            results,
            ComparedSuite(suite_path, suite.name, content_hash, suite.weights, model or self.settings.model or ""),
            gates=gates,
            seed=self.seed,
            shared_only=self.baselines.shared_only,
            updating=self.baselines.update_path is not None,
        )

    def baseline_of(self, reports: Sequence[SuiteReport], results: Sequence[CaseResult], model: str | None) -> Baseline:
        """This run as a baseline: every scored case, each suite's identity and headline figures."""
        suites = {}
        for report in reports:
            s = report.summary
            suite = self.suite_at(self.rootdir / s.suite_path)
            suites[s.suite_path] = SuiteRecord(s.suite_name, self.content_hash(suite), s.pass_threshold, dict(suite.weights), s.aggregate, s.cases, s.is_subset)
        config = {"model_spec": self.settings.model, "seed": self.seed, "alpha": reports[0].summary.alpha if reports else None}
        return build_baseline(results, suites, model=model or self.settings.model or "", config=config)

    def write_baselines(self, reports: Sequence[SuiteReport], results: Sequence[CaseResult], model: str | None) -> list[str]:
        """Save / update baseline files and write the comparison file; one message per file written."""
        plan = self.baselines
        messages: list[str] = []
        if plan.save_path is not None or plan.update_path is not None:
            complete = [r.summary.suite_path for r in reports if not r.summary.is_subset]
            messages += write_baselines(plan, self.baseline_of(reports, results, model), complete, self.rootdir)
        if self.settings.comparison_file:
            path = Path(self.settings.comparison_file)
            path.parent.mkdir(parents=True, exist_ok=True)
            data = {r.summary.suite_name: r.comparison.to_dict() for r in reports if r.comparison is not None}
            path.write_text(json.dumps({"suites": data}, indent=2, sort_keys=True) + "\n", encoding="utf-8")
            messages.append(f"taskbench: wrote the comparison with the baseline to {path}")
        return messages

    def close(self) -> None:
        self.engine.close()


def merge_counters(parts: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for part in parts:
        for key, value in part.items():
            merged[key] = merged.get(key, 0) + value
    return merged


class ModelHandle:
    """The session's model for ordinary Python tests (the ``taskbench_model`` fixture)."""

    def __init__(self, run: TaskbenchRun) -> None:
        self._run = run

    @property
    def backend(self) -> Backend:
        return self._run.backend

    def generate(self, prompts: Sequence[str | Prompt], params: GenerationParams | None = None) -> list[str]:
        """Generate for each prompt (plain strings are sent as one user message); greedy by default."""
        return self._run.generate_texts(prompts, params)
