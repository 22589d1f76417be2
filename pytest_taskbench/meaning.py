"""The models a run scores with besides the model under test: each suite's judges and embedding models.

``run.py`` asks for them while it scores. A judge-scored case sends the judge
prompts of the cases about to be scored (its own and those after it whose
outputs are there; under xdist, the ones sent to this worker) to their judges,
a batch per judge; a case that compares texts by meaning embeds the texts of
the cases about to be scored in batches the same way. Both go through a cache,
so a re-run on unchanged outputs asks neither. The run hands over the cases
about to be scored as ``Ahead`` rows: (suite, case, key, output, scorer).

Domain code: it takes plain values and never imports pytest.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from pytest_taskbench.cases import Case
from pytest_taskbench.generation import Backend, backend_options, model_kind
from pytest_taskbench.generation.cache import GenerationCache
from pytest_taskbench.generation.embeddings import EmbeddingModels
from pytest_taskbench.generation.engine import Job
from pytest_taskbench.generation.judges import JudgeModel, JudgePanel
from pytest_taskbench.scoring.judge import DEFAULT_JUDGE, Judged, JudgeScorer
from pytest_taskbench.scoring.score import Scorer
from pytest_taskbench.scoring.semantic import DEFAULT_MODEL
from pytest_taskbench.settings import Settings
from pytest_taskbench.suite import Suite

Ahead = list[tuple[Suite, Case, str, str, Scorer]]  # the cases about to be scored: (suite, case, key, output, scorer)


class ScoringModels:
    """A run's judges and embedding models, made per suite on first use (see the module docstring).

    Args:
        settings: the run's settings (``judge_model`` and ``embedding_model`` replace the suite's ``default``).
        rootdir: the project root (a ``package.module:function`` model imports from it).
        open_cache: a judge's backend -> its cache (the run's generation cache), or None.
        cache_dir: the cache's directory, asked for when an embedding model first opens its cache.
    """

    def __init__(
        self,
        settings: Settings,
        rootdir: Path,
        open_cache: Callable[[Backend], GenerationCache | None],
        cache_dir: Callable[[], Path | None],
    ) -> None:
        self.settings = settings
        self.rootdir = rootdir
        self._open_cache = open_cache
        self._cache_dir = cache_dir
        self._judges: dict[Path, JudgePanel] = {}
        self._embeddings: dict[Path, EmbeddingModels] = {}
        self._judged: dict[str, Judged] = {}
        self._embedded: set[str] = set()

    def for_scorers(self, suite: Suite) -> dict[str, Any]:
        """What a suite's scorer factories are given: its judges' names and its embedding models."""
        return {"judges": self.panel(suite).names(), "embeddings": self.embedding_models(suite)}

    def panel(self, suite: Suite) -> JudgePanel:
        if suite.path not in self._judges:
            models = dict(suite.judges)
            if self.settings.judge_model:
                models[DEFAULT_JUDGE] = replace(models.get(DEFAULT_JUDGE, JudgeModel(self.settings.judge_model)), spec=self.settings.judge_model)
            self._importable_from_root([model.spec for model in models.values()])
            self._judges[suite.path] = JudgePanel(
                models, backend_options(self.settings, self.rootdir), cache_factory=self._open_cache, roots=[suite.root, self.rootdir]
            )
        return self._judges[suite.path]

    def embedding_models(self, suite: Suite) -> EmbeddingModels:
        if suite.path not in self._embeddings:
            specs = dict(suite.embeddings)
            if self.settings.embedding_model:
                specs[DEFAULT_MODEL] = self.settings.embedding_model
            s = self.settings
            self._importable_from_root(list(specs.values()))
            self._embeddings[suite.path] = EmbeddingModels(specs, [suite.root, self.rootdir], self._open_embedding_cache, s.device, s.threads)
        return self._embeddings[suite.path]

    def _importable_from_root(self, specs: Sequence[str]) -> None:
        """A ``package.module:function`` judge or embedding model imports from the project root, as the model does (plugin.py)."""
        if any(model_kind(spec) == "callable" for spec in specs if ":" in spec) and str(self.rootdir) not in sys.path:
            sys.path.append(str(self.rootdir))

    def _open_embedding_cache(self, identity: str) -> GenerationCache | None:
        directory = None if self.settings.no_cache else self._cache_dir()
        return None if directory is None else GenerationCache(Path(directory), identity, read=not self.settings.refresh_cache)

    # judging ----------------------------------------------------------------------
    def verdict(self, key: str, ahead: Callable[[], Ahead]) -> Judged:
        """The judge's verdict on the case ``key``, judging it and the cases ``ahead`` first when it has none yet."""
        if key not in self._judged:
            self._judge_ahead(ahead())
        return self._judged.pop(key, None) or Judged(None, "the judge was not asked: no output")

    def _judge_ahead(self, ahead: Ahead) -> None:
        """Send the judge prompts of the cases about to be scored to their judges, a batch per judge."""
        work: dict[tuple[Path, str], list[tuple[str, Case, str, JudgeScorer, int]]] = {}
        jobs: dict[tuple[Path, str], list[Job]] = {}
        for suite, case, key, output, scorer in ahead:
            if not isinstance(scorer, JudgeScorer) or key in self._judged:
                continue
            group = (suite.path, scorer.judge)
            params = self.panel(suite).params(scorer.judge)
            prompts = scorer.prompts(output, case)
            work.setdefault(group, []).append((key, case, output, scorer, len(prompts)))
            jobs.setdefault(group, []).extend(Job((key, index), prompt, params, case.id) for index, prompt in enumerate(prompts))
        for (path, judge), items in work.items():
            answers = iter(self._judges[path].answer(judge, jobs[(path, judge)]))
            for key, case, output, scorer, count in items:
                mine = [next(answers) for _ in range(count)]
                self._judged[key] = scorer.verdict(output, case, [g.text for g in mine], [g.error or "" for g in mine])

    def judge_texts(self, suite: Suite, case: Case, key: str, scorer: JudgeScorer, texts: Sequence[str]) -> dict[str, Judged]:
        """The judge's verdict on each of one case's outputs (a sampled case's distinct samples), asked in one batch."""
        prompts = {text: scorer.prompts(text, case) for text in texts}
        params = self.panel(suite).params(scorer.judge)
        jobs = [Job((key, "sample", n, i), prompt, params, case.id) for n, text in enumerate(prompts) for i, prompt in enumerate(prompts[text])]
        answers = iter(self.panel(suite).answer(scorer.judge, jobs) if jobs else [])
        judged = {}
        for text, asked in prompts.items():
            mine = [next(answers) for _ in asked]
            judged[text] = scorer.verdict(text, case, [g.text for g in mine], [g.error or "" for g in mine])
        return judged

    # embedding --------------------------------------------------------------------
    def embed_ahead(self, key: str, ahead: Callable[[], Ahead]) -> None:
        """Embed, in batches, the texts the case ``key`` and the cases ``ahead`` compare by meaning (once per case)."""
        if key in self._embedded:
            return
        texts: dict[tuple[Path, str], list[str]] = {}
        for suite, case, each, output, scorer in ahead():
            wanted = getattr(scorer, "embedding_texts", None)
            if not callable(wanted) or each in self._embedded:
                continue
            self._embedded.add(each)
            try:
                for model, found in wanted(output, case).items():
                    texts.setdefault((suite.path, model), []).extend(found)
            except Exception:  # noqa: BLE001, S112 - scoring the case reports its own failure
                continue
        self._embedded.add(key)
        for (path, model), found in texts.items():
            self._embeddings[path].prefetch(model, found)

    def counters(self) -> list[Mapping[str, int]]:
        """Each judge panel's and embedding model set's counters (the run adds them up)."""
        return [*(panel.counters() for panel in self._judges.values()), *(models.counters.as_dict() for models in self._embeddings.values())]

    def close(self) -> None:
        for panel in self._judges.values():
            panel.close()
