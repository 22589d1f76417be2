"""The run: one per pytest process. It prepares the model, evaluates cases and finishes the suites.

The plugin calls four methods, in this order:

- ``prepare(planned)`` before the first case: the model's identity, the plan of
  every output the process will need, and (in one process) their generation;
- ``evaluate(suite, case, nodeid)`` per case item: the output and its score
  (a judge-scored case in two steps: the outputs of the cases about to run, then
  their judge prompts in one batch; texts compared by meaning are embedded in
  batches the same way; ``meaning.py`` holds the judges and embedding models);
- ``finish(results, ...)`` on the controller at the end: a ``SuiteReport`` per
  suite, baselines saved and report files written;
- ``close()``.

Domain code: it takes plain values (Settings, paths, Cases) and never imports pytest.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from pytest_taskbench import defaults
from pytest_taskbench.baseline import Baseline, BaselinePlan, SuiteRecord, build_baseline, write_baselines
from pytest_taskbench.call_parsers import parse_calls
from pytest_taskbench.calls import calls_json
from pytest_taskbench.cases import Case
from pytest_taskbench.catalog import Catalog
from pytest_taskbench.conversations import ConversationDriver, conversation_result
from pytest_taskbench.generation import Backend, GenerationParams, Prompt, backend_for_settings, backend_identity
from pytest_taskbench.generation.cache import GenerationCache, open_cache
from pytest_taskbench.generation.engine import GenerationEngine, Job, ProgressCallback
from pytest_taskbench.history import HistoryRecord, append_records, git_state, history_file, read_history, select
from pytest_taskbench.meaning import Ahead, ScoringModels
from pytest_taskbench.reports.files import ReportRequest, write_report_files
from pytest_taskbench.reports.samples import suite_prompts
from pytest_taskbench.reports.trend import TREND_RUNS, record_from_report
from pytest_taskbench.results import CaseResult
from pytest_taskbench.resultsfile import Header, Outcome, SuiteFacts, write_results_file
from pytest_taskbench.sampling import judged_samples, sampled_result
from pytest_taskbench.scoring.judge import JudgeScorer
from pytest_taskbench.scoring.registry import ScorerError
from pytest_taskbench.scoring.score import safe_score
from pytest_taskbench.settings import Settings
from pytest_taskbench.suite import Suite
from pytest_taskbench.verdict.compare import ComparedSuite
from pytest_taskbench.verdict.finish import BaselineUse, SuiteReport, SuiteSetup, finish_suite


@dataclass(frozen=True)
class Finished:
    """What ``finish`` produced: a report per suite and a line per file it wrote."""

    reports: list[SuiteReport]
    messages: list[str]

    @property
    def passed(self) -> bool:
        return all(report.verdict.passed for report in self.reports)


class TaskbenchRun:
    def __init__(self, settings: Settings, rootdir: Path, cache_dir: Path | Callable[[], Path] | None = None) -> None:
        self.settings = settings
        self.rootdir = rootdir
        self.meaning = ScoringModels(settings, rootdir, self._open_cache, lambda: self.cache_dir)
        self.catalog = Catalog(rootdir, self._lm_eval_suite, lambda suite: {"tool_parser": settings.tool_parser, **self.meaning.for_scorers(suite)})
        self.baselines = BaselinePlan()
        self._cache_dir = Path(rootdir, settings.cache_dir) if settings.cache_dir else cache_dir
        self._engine = GenerationEngine(lambda: backend_for_settings(self.settings, self.rootdir), cache_factory=self._open_cache)
        self.conversations = ConversationDriver(self._engine, self._generation_params, settings.tool_parser)
        self.model_identity: str | None = None
        self._planned: list[tuple[Suite, Case, str]] = []
        self._position: dict[str, int] = {}
        self._upcoming: Callable[[], Iterable[str]] | None = None
        self._lookahead: int | None = None
        self.known_totals: dict[str, int] = {}  # each suite's case count, when a results file recorded it for a suite of the same content

    @property
    def cache_dir(self) -> Path | None:
        """The cache's directory; given as a function, it is made on first use (saved outputs alone cache nothing: only a judge's answers are)."""
        if callable(self._cache_dir):
            self._cache_dir = self._cache_dir()
        return self._cache_dir

    def _lm_eval_suite(self, task_file: Path) -> Suite:
        """An lm-evaluation-harness task YAML as a suite (any suite file not named taskbench.yaml)."""
        from pytest_taskbench.lmeval.suite import load_lm_eval_suite

        options = self.settings
        return load_lm_eval_suite(
            task_file, allow_functions=options.lm_eval_allow_functions, chat_template=options.lm_eval_chat_template, display=self.catalog.display_path
        )

    def _open_cache(self, backend: Backend) -> GenerationCache | None:
        return open_cache(backend, self.cache_dir, enabled=not self.settings.no_cache, read=not self.settings.refresh_cache)

    @property
    def seed(self) -> int:
        return defaults.SEED if self.settings.seed is None else self.settings.seed

    def pass_threshold(self, suite: Suite) -> float:
        return self.settings.pass_threshold if self.settings.pass_threshold is not None else suite.pass_threshold

    # before the first case ----------------------------------------------------
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

    def prepare(
        self,
        planned: Sequence[tuple[Suite, Case, str]],
        *,
        distributed: bool = False,
        upcoming: Callable[[], Iterable[str]] | None = None,
        progress: ProgressCallback | None = None,
    ) -> list[str]:
        """Know the model and plan every output this process needs; in one process, generate them now.

        Under xdist a worker runs only its share of the items it collected: ``upcoming`` names
        the items already sent to it (generated together on a miss), and the model is loaded
        now (unless every output it may need is cached) so that a broken one fails before any case. Returns notes for the summary.

        Raises:
            ModelLoadError: the model cannot be found or loaded.
        """
        self.model_identity = backend_identity(self._engine.backend)  # None: a custom backend without identity(), never cached
        lookahead = (self.settings.batch_size or 32) if distributed else None  # batch_size 0 is auto
        self._planned = list(planned)
        self._position = {key: index for index, (_, _, key) in enumerate(self._planned)}
        self._upcoming, self._lookahead = upcoming, lookahead
        self._engine.plan([self._job(suite, case, key) for suite, case, key in planned if case.conversation is None], lookahead=lookahead, upcoming=upcoming)
        self.conversations.plan(planned, lookahead=lookahead, upcoming=upcoming)
        if distributed:
            if self._engine.needs_model():  # a worker whose every output is cached never loads the model (nor imports torch)
                self._engine.load()
            return []
        self._engine.progress = progress
        self._engine.prefetch()
        self.conversations.prefetch()
        self._engine.check_batching(self.settings.check_batching)
        return self._engine.notes()

    def _generation_params(self, suite: Suite) -> GenerationParams:
        params = suite.generation
        if self.settings.no_chat_template:
            params = replace(params, use_chat_template=False)
        if self.settings.max_new_tokens is not None:
            params = replace(params, max_new_tokens=self.settings.max_new_tokens)
        if self.settings.temperature is not None:
            params = replace(params, temperature=self.settings.temperature)
        if not params.sampled:  # greedy: the sampling settings change nothing, so they stay out of the cache key
            return replace(params, top_p=None, top_k=None, seed=None)
        return params if params.seed is not None else replace(params, seed=defaults.GENERATION_SEED)

    def repeats(self, suite: Suite, case: Case) -> int:
        return self.settings.repeats or suite.repeats_for(case)

    def _job(self, suite: Suite, case: Case, key: str) -> Job:
        return Job(key, suite.prompt_for(case), self._generation_params(suite), case.id, self.repeats(suite, case))

    # each case ------------------------------------------------------------------
    def evaluate(self, suite: Suite, case: Case, nodeid: str) -> CaseResult:
        """Generate (or fetch) the output for a case, or its samples, and score it (a conversation: turn by turn, conversations.py)."""
        threshold = self.pass_threshold(suite)
        base = CaseResult(
            case_id=case.id,
            nodeid=nodeid,
            suite=self.catalog.display_path(suite.path),
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
        if case.conversation is not None:
            scored = case.conversation.scored_turns > 0
            return conversation_result(self.conversations.run(suite, case, nodeid), base, self.catalog.scorer_for(suite, case) if scored else None)
        generations = self._engine.samples(self._job(suite, case, nodeid))
        generation = generations[0]
        if len(generations) > 1:
            scorer = self.catalog.scorer_for(suite, case)
            if isinstance(scorer, JudgeScorer):
                texts = list(dict.fromkeys(g.text for g in generations if g.text is not None))
                result = judged_samples(base, generations, self.meaning.judge_texts(suite, case, nodeid, scorer, texts), suite.policy_for(case))
            else:
                result = sampled_result(base, generations, lambda text: safe_score(scorer, text, case), suite.policy_for(case))
            return replace(result, calls=self._calls(case, result.output))  # the representative sample's calls
        if generation.text is None:
            return replace(base, status="error", reason=f"model error: {generation.error}", details={"model_error": generation.error})
        scorer = self.catalog.scorer_for(suite, case)
        calls = self._calls(case, generation.text)
        if isinstance(scorer, JudgeScorer):
            judged = self.meaning.verdict(nodeid, lambda: self._ahead(nodeid, suite, case))
            if judged.score is None:
                details = {"judge": dict(judged.details), "judge_error": judged.error}
                return replace(base, status="judge_error", reason=judged.error, output=generation.text, details=details, calls=calls)
            score = judged.score
        else:
            if callable(getattr(scorer, "embedding_texts", None)):
                self.meaning.embed_ahead(nodeid, lambda: self._ahead(nodeid, suite, case))
            score = safe_score(scorer, generation.text, case)
        return replace(
            base,
            score=score.value,
            passed=score.value >= threshold,
            reason=score.reason,
            output=generation.text,
            details=dict(score.details),
            calls=calls,
        )

    def _calls(self, case: Case, text: str | None) -> list[dict[str, Any]] | None:
        """The tool calls read from an output; None for a case offered no tools or an output the model failed to give."""
        if not case.tools or text is None:
            return None
        return calls_json(parse_calls(text, self.settings.tool_parser).calls)

    # judges and embedding models ----------------------------------------------------
    def _ahead(self, nodeid: str, suite: Suite, case: Case) -> Ahead:
        """This case and the planned cases after it whose outputs are there (under xdist: those sent to this worker), with their scorers."""
        start = self._position.get(nodeid)
        if start is None:
            chosen = [(suite, case, nodeid)]
        elif self._upcoming is not None:
            wanted = {*self._upcoming(), nodeid}
            chosen = [item for item in self._planned if item[2] in wanted]
        else:
            chosen = self._planned[start : None if self._lookahead is None else start + self._lookahead]
        found = []
        for each_suite, each_case, key in chosen:
            generation = self._engine.generated(key)
            if generation is None or generation.text is None or self.repeats(each_suite, each_case) > 1:  # a sampled case judges its samples itself
                continue
            try:
                found.append((each_suite, each_case, key, generation.text, self.catalog.scorer_for(each_suite, each_case)))
            except ScorerError:
                continue
        return found

    def counters(self) -> dict[str, str | float | int]:
        """This process's generation counters (a worker sends them to the controller); judge and embedding ones when used."""
        engine = self._engine
        counters: dict[str, str | float | int] = {
            **engine.counters.as_dict(),
            "model_loads": engine.weight_loads,
            "out_of_memory_backoffs": engine.out_of_memory_backoffs,
            **engine.facts(),
        }
        helpers = merge_counters(self.meaning.counters())
        counters.update({key: value for key, value in helpers.items() if any(helpers.values())})
        return counters

    # at the end (the controller) ------------------------------------------------
    def finish(
        self,
        results: Sequence[CaseResult],
        *,
        invocation_dir: Path,
        worker_counters: Sequence[Mapping[str, Any]] = (),
        model_identity: str | None = None,
        shards: int | None = None,
    ) -> Finished:
        """A report per suite that had results; then baselines saved, the history appended and report files written.

        ``model_identity`` is the model that produced the results, when another process ran them (an xdist
        worker, or the shards ``taskbench merge`` reads); ``shards``, how many shards a merged run had.
        The plugin at the end of a run and ``taskbench merge`` both call this, so a merge prints and
        writes what one unsharded run does.
        """
        self.model_identity = model_identity or self.model_identity
        counters = merge_counters([self.counters(), *worker_counters])
        by_suite: dict[str, list[CaseResult]] = {}
        for result in results:
            by_suite.setdefault(result.suite, []).append(result)
        # suites in the order of their first case, so a merge of shards prints them as one run does (results keep their order)
        by_suite = dict(sorted(by_suite.items(), key=lambda item: min(r.nodeid for r in item[1])))
        plan = self.baselines
        use = BaselineUse(plan.baseline, plan.shared_only, plan.update_path is not None)
        shown_counters = counters if any(counters.values()) else {}
        reports = [
            finish_suite(suite_results, self._setup(path, suite_results), baseline=use, seed=self.seed, counters=shown_counters)
            for path, suite_results in by_suite.items()
        ]
        messages: list[str] = []
        if plan.save_path is not None or plan.update_path is not None:
            complete = [r.summary.suite_path for r in reports if not r.summary.is_subset]
            messages += write_baselines(plan, self._as_baseline(reports, results), complete, self.rootdir)
        trends = self._record_history(reports, shards, messages) if self.settings.history else None
        s = self.settings
        passed = all(report.verdict.passed for report in reports)
        request = ReportRequest(s.report, s.markdown, s.log_samples, s.comparison_file, s.model or "", s.summary_json, passed)
        messages += write_report_files(reports, request, invocation_dir, prompts=lambda: self._prompts(reports), trends=trends)
        return Finished(reports, messages)

    def _record_history(self, reports: Sequence[SuiteReport], shards: int | None, messages: list[str]) -> dict[str, list[HistoryRecord]]:
        """Append a record per suite to the history; returns each suite's last runs for the trend (this one included)."""
        directory = Path(self.rootdir, self.settings.history or "")
        shown = self.catalog.display_path(history_file(directory))
        commit, branch = git_state(self.rootdir)
        model = self.model_identity or self.settings.model or ""
        records = [
            record_from_report(
                report,
                model=model,
                model_spec=self.settings.model or "",
                suite_hash=self.catalog.content_hash(self.catalog.suite_of_result(report.summary.suite_path)),
                commit=commit,
                branch=branch,
                shards=shards,
            )
            for report in reports
        ]
        try:
            append_records(directory, records)
        except OSError as exc:
            messages.append(f"taskbench: cannot append to the history ({shown}): {exc}")
            return {}
        history = read_history(directory, shown)
        messages += [f"taskbench: {warning}" for warning in history.warnings]
        messages.append(f"taskbench: history: {len(records)} record{'s' if len(records) != 1 else ''} appended to {shown}")
        return {report.summary.suite_path: select(history.records, suite=report.summary.suite_path, last=TREND_RUNS) for report in reports}

    def results_header(
        self, suites: Mapping[str, SuiteFacts], *, selection: Mapping[str, Any], outcome: Outcome, worker_counters: Sequence[Mapping[str, Any]] = ()
    ) -> Header:
        """What a results file records besides the cases: the suites, the model, the settings, the shard, how the run ended."""
        s = self.settings
        return Header(
            model_identity=self.model_identity or "",
            model_spec=s.model or "",
            suites=dict(suites),
            score_settings=s.recorded("score"),
            finish_settings=s.recorded("finish"),
            selection=dict(selection),
            shard=s.shard_spec,
            outcome=outcome,
            counters=merge_counters([self.counters(), *worker_counters]),
        )

    def describe_suites(self, selected: Sequence[Suite], kept: Sequence[Suite]) -> dict[str, SuiteFacts]:
        """Each suite of the selected items (one entry per item): its name, content hash, selected cases and those this shard keeps."""
        facts: dict[str, SuiteFacts] = {}
        counts: dict[Path, list[int]] = {}
        suites: dict[Path, Suite] = {}
        for index, group in enumerate((selected, kept)):
            for suite in group:
                suites.setdefault(suite.path, suite)
                counts.setdefault(suite.path, [0, 0])[index] += 1
        for path, (chosen, in_shard) in counts.items():
            suite = suites[path]
            total = suite.count_cases(self.catalog.reader(suite))  # the case files are read already: collection read them
            facts[self.catalog.display_path(path)] = SuiteFacts(suite.name, self.catalog.content_hash(suite), chosen, in_shard, total)
        return facts

    def write_results(self, path_text: str, header: Header, results: Sequence[CaseResult], invocation_dir: Path) -> str:
        """Write the results file (--taskbench-results); returns the line for the terminal."""
        try:
            write_results_file(invocation_dir / path_text, header, results)
        except OSError as exc:
            return f"taskbench: cannot write the results file (--taskbench-results={path_text}): {exc}"
        shard = f" (shard {header.shard})" if header.shard is not None else ""
        return f"taskbench: results of {len(results)} cases{shard} written to {path_text}"

    def _setup(self, suite_path: str, results: Sequence[CaseResult]) -> SuiteSetup:
        suite = self.catalog.suite_of_result(suite_path)
        params = self._generation_params(suite)
        repeated = max((r.repeats for r in results), default=1)
        warnings = []
        if repeated > 1 and not params.sampled:
            warnings.append(
                f"repeats {repeated} with greedy decoding (temperature 0): every sample of a case is the same output, generated once; "
                "set generation.temperature (or --taskbench-temperature) to sample"
            )
        content_hash = self.catalog.content_hash(suite) if self.baselines.baseline is not None else ""
        return SuiteSetup(
            compared=ComparedSuite(suite_path, suite.name, content_hash, suite.weights, self.model_identity or self.settings.model or ""),
            difficulties=suite.difficulties,
            pass_threshold=self.pass_threshold(suite),
            band_for=suite.band_for,
            gates=suite.gates.overridden(self.settings.gates, list(suite.categories), self.settings.alpha),
            analysis=suite.analysis,
            total_in_suite=self.known_totals[suite_path] if suite_path in self.known_totals else suite.count_cases(self.catalog.reader(suite)),
            min_cases=suite.min_cases,
            notes=[suite.weights_note] if suite.weights_note else [],
            warnings=warnings,
            pass_at_k=suite.pass_at_k,
        )

    def _as_baseline(self, reports: Sequence[SuiteReport], results: Sequence[CaseResult]) -> Baseline:
        """This run as a baseline: every scored case, each suite's identity and headline figures."""
        suites = {}
        for report in reports:
            s = report.summary
            suite = self.catalog.suite_of_result(s.suite_path)
            suites[s.suite_path] = SuiteRecord(
                s.suite_name, self.catalog.content_hash(suite), s.pass_threshold, dict(suite.weights), s.aggregate, s.cases, s.is_subset
            )
        config = {"model_spec": self.settings.model, "seed": self.seed, "alpha": reports[0].summary.alpha if reports else None}
        return build_baseline(results, suites, model=self.model_identity or self.settings.model or "", config=config)

    def _prompts(self, reports: Sequence[SuiteReport]) -> dict[tuple[str, str], Prompt]:
        prompts: dict[tuple[str, str], Prompt] = {}
        for report in reports:
            suite = self.catalog.suite_of_result(report.summary.suite_path)
            prompts.update(suite_prompts(suite, self.catalog.reader(suite)))
        return prompts

    # ad-hoc prompts (the taskbench_model fixture) ----------------------------------
    @property
    def backend(self) -> Backend:
        """The model, loaded on first use (raises ModelLoadError)."""
        return self._engine.backend

    def generate_texts(self, prompts: Sequence[str | Prompt], params: GenerationParams | None = None) -> list[str]:
        """Generate for ad-hoc prompts; raises on a failed prompt."""
        as_prompts = [p if isinstance(p, Prompt) else Prompt(({"role": "user", "content": p},), p) for p in prompts]
        generations = self.backend.generate(as_prompts, params or GenerationParams())
        failed = [g.error for g in generations if g.text is None]
        if failed:
            raise RuntimeError(f"model failed on {len(failed)} prompt(s): {failed[0]}")
        return [g.text or "" for g in generations]

    def close(self) -> None:
        self._engine.close()
        self.meaning.close()


PEAK_COUNTERS = frozenset({"http_peak_in_flight", "http_concurrency_cap", "http_seconds"})  # workers run side by side: the largest, not the sum


def merge_counters(parts: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """Several processes' counters as one: counts add up, peaks and spans take the largest, texts (device, dtype) the distinct values."""
    merged: dict[str, Any] = {}
    for part in parts:
        for key, value in part.items():
            if isinstance(value, str):
                seen = merged.get(key, "")
                merged[key] = value if not seen or value in seen.split("/") else f"{seen}/{value}"
            elif key in PEAK_COUNTERS:
                merged[key] = max(merged.get(key, 0), value)
            else:
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
