"""Every parameter of the whole analysis, with its default, in one frozen configuration.

:class:`AnalysisConfig` has one section per analysis. It is built from keyword
arguments, a nested mapping, or a TOML file with one table per section::

    seed = 0

    [preprocessing]
    preset = "bernerslee2023"
    exclude_lick_trials = true

    [decoding]
    n_permutations = 1000

    [margins]
    n_units = 4

Unknown sections or keys, and values out of range, raise
:class:`~neurolearn.errors.ParameterError` naming them.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from neurolearn.errors import ParameterError
from neurolearn.params import Interval, Options, check_params
from neurolearn.preprocess import DEFAULT_PRESET, PRESETS, resolve_preset

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

__all__ = [
    "AnalysisConfig",
    "PreprocessingConfig",
    "BehaviourConfig",
    "DecodingConfig",
    "MarginConfig",
    "SeparationConfig",
    "FlipConfig",
    "TrendConfig",
    "AcrossDaysConfig",
    "load_config",
]

_POSITIVE_INT = Interval("int", 1, None)
_UNIT = Interval("real", 0, 1)
_POSITIVE = Interval("real", 0, None, closed="neither")


class _Section:
    """Checks a section's fields against its ``_constraints`` on construction."""

    _constraints: dict[str, list[Any]] = {}

    def __post_init__(self) -> None:
        check_params(dataclasses.asdict(self), self._constraints,  # type: ignore[arg-type]
                     where=f"[{self._name}]")

    _name = ""


@dataclass(frozen=True)
class PreprocessingConfig(_Section):
    """Rates from spike counts (used when the data hold ``binned`` counts only).

    Attributes
    ----------
    preset : str, default "bernerslee2023"
        A key of :data:`neurolearn.preprocess.PRESETS`: the original study's
        rules, or ``"baseline_subtracted"``.
    overrides : dict
        Any preset parameter (e.g. ``{"exclude_lick_trials": True}``).
    """

    preset: str = DEFAULT_PRESET
    overrides: dict[str, Any] = field(default_factory=dict)
    _name = "preprocessing"
    _constraints = {"preset": [Options(tuple(PRESETS))], "overrides": [dict]}

    def __post_init__(self) -> None:
        super().__post_init__()
        resolve_preset(self.preset, **self.overrides)

    def parameters(self) -> dict[str, Any]:
        """The preset's parameters with the overrides applied.

        Returns
        -------
        dict
            Parameter name → value (see :data:`neurolearn.preprocess.PRESETS`).
        """
        return resolve_preset(self.preset, **self.overrides)


@dataclass(frozen=True)
class BehaviourConfig(_Section):
    """Behaviour per session; days to criterion per mouse.

    Attributes
    ----------
    criterion : float, default 0.8
        Fraction correct a mouse must reach ...
    n_consecutive : int, default 2
        ... on this many days in a row.
    include_heldout : bool, default False
        Count held-out (often unrewarded) trials in the fraction correct.
    """

    criterion: float = 0.8
    n_consecutive: int = 2
    include_heldout: bool = False
    _name = "behaviour"
    _constraints = {"criterion": [Interval("real", 0, 1, closed="right")],
                    "n_consecutive": [_POSITIVE_INT], "include_heldout": [bool]}


@dataclass(frozen=True)
class DecodingConfig(_Section):
    """Cross-validated decoding (:func:`neurolearn.decoding.decode`).

    Attributes
    ----------
    method : {"lda", "ridge", "lstsq", "logistic"}, default "lda"
    n_folds : int, default 10
        Stratified folds of the trained trials.
    n_permutations : int, default 1000
        Label permutations of the null (p = (k + 1)/(n + 1)).
    shrinkage : float or "auto", default 0.0
        LDA covariance shrinkage in [0, 1], or "auto" for each class's
        Ledoit–Wolf coefficient (advised when units approach trials).
    alpha : float, default 1.0
        Ridge penalty.
    C : float, default 1.0
        Logistic inverse penalty.
    target : str, default "label"
        The trial coordinate decoded: ``"label"`` (target vs non-target),
        ``"stimulus"`` (odour identity, K classes) or any other.
    heldout : {"generalise", "train"}, default "generalise"
        Held-out trials score generalisation, or join the CV folds.
    protocol : {"default", "bernerslee2023"}, default "default"
        ``"bernerslee2023"`` also runs the original study's decoding of probe
        and repeat types into ``/bernerslee2023`` (with ``n_permutations``
        shuffles and ``n_folds`` folds); ``/decoding`` stays neurolearn's.
    """

    method: str = "lda"
    n_folds: int = 10
    n_permutations: int = 1000
    shrinkage: float | str = 0.0
    alpha: float = 1.0
    C: float = 1.0
    target: str = "label"
    heldout: str = "generalise"
    protocol: str = "default"
    _name = "decoding"
    _constraints = {"method": [Options(("lda", "ridge", "lstsq", "logistic"))],
                    "n_folds": [Interval("int", 2, None)],
                    "n_permutations": [Interval("int", 0, None)],
                    "shrinkage": [_UNIT, Options(("auto",))],
                    "alpha": [Interval("real", 0, None)], "C": [_POSITIVE],
                    "target": [str], "heldout": [Options(("generalise", "train"))],
                    "protocol": [Options(("default", "bernerslee2023"))]}


@dataclass(frozen=True)
class MarginConfig(_Section):
    """Held-out margin at a fixed population size, and the hard SVM margin.

    Attributes
    ----------
    n_units : int or None, default 4
        Units per random subset for the held-out margin (margins grow with
        population size; sessions with fewer units get NaN); None: all units.
    n_subsamples : int, default 10
        Unit subsets per session.
    n_folds : int, default 10
    C : float, default 1.0
        SVM penalty of the held-out margin (sets the direction only).
    svm_n_units : int or None, default None
        Units per subset for the hard margin; None: all units of the session.
    svm_n_subsamples : int, default 100
        Subsets per session when ``svm_n_units`` is set.
    """

    n_units: int | None = 4
    n_subsamples: int = 10
    n_folds: int = 10
    C: float = 1.0
    svm_n_units: int | None = None
    svm_n_subsamples: int = 100
    _name = "margins"
    _constraints = {"n_units": [_POSITIVE_INT, None], "n_subsamples": [_POSITIVE_INT],
                    "n_folds": [Interval("int", 2, None)], "C": [_POSITIVE],
                    "svm_n_units": [_POSITIVE_INT, None], "svm_n_subsamples": [_POSITIVE_INT]}


@dataclass(frozen=True)
class SeparationConfig(_Section):
    """Fisher J, d′ and target–non-target similarity.

    Attributes
    ----------
    fisher_shrinkage : float, default 0.0
        Shrinkage of the pooled covariance in Fisher's J.
    n_days : int, default 3
        Days averaged at each end for the first-vs-last-days change of the
        between-class similarity.
    """

    fisher_shrinkage: float = 0.0
    n_days: int = 3
    _name = "separation"
    _constraints = {"fisher_shrinkage": [_UNIT], "n_days": [_POSITIVE_INT]}


@dataclass(frozen=True)
class FlipConfig(_Section):
    """Stimuli decoded wrongly early and correctly late (:func:`neurolearn.summary.stimulus_flips`).

    Attributes
    ----------
    n_days : int, default 3
    threshold : float, default 0.5
    """

    n_days: int = 3
    threshold: float = 0.5
    _name = "flips"
    _constraints = {"n_days": [_POSITIVE_INT], "threshold": [_UNIT]}


@dataclass(frozen=True)
class TrendConfig(_Section):
    """Slope of each per-session measure against day (:func:`neurolearn.trends.day_trend`).

    Attributes
    ----------
    method : {"two_stage", "sessions"}, default "two_stage"
        Inference about mice (a slope per mouse, a t-test across mice) or
        about sessions pooled (bootstrap, permutation); see
        :func:`neurolearn.trends.day_trend`.
    phase : str or None, default "overtraining"
        Sessions of this phase; None: all.
    n_boot : int, default 2000
        Bootstrap resamples for the CI (``"sessions"``).
    n_permutations : int, default 2000
        Day-label permutations for the p-value (``"sessions"``).
    confidence : float, default 0.95
    """

    method: str = "two_stage"
    phase: str | None = "overtraining"
    n_boot: int = 2000
    n_permutations: int = 2000
    confidence: float = 0.95
    _name = "trends"
    _constraints = {"method": [Options(("two_stage", "sessions"))],
                    "phase": [str, None], "n_boot": [_POSITIVE_INT],
                    "n_permutations": [_POSITIVE_INT],
                    "confidence": [Interval("real", 0, 1, closed="neither")]}


@dataclass(frozen=True)
class AcrossDaysConfig(_Section):
    """Tracked-cell analyses (:func:`neurolearn.across_days.across_days`), run when the
    study has a ``track`` coordinate.

    Attributes
    ----------
    run : bool, default True
        Run them where tracks exist (False: never).
    n_permutations : int, default 100
        Permutations per (train day, test day) pair of the decoder-transfer
        null: a study of D days has D² pairs per animal, so the default is
        lower than decoding's (p-values down to 1/101).
    method : str, default "lda"
    shrinkage : float, default 0.5
        Fixed LDA shrinkage: the cells two days share often outnumber a
        day's trials, and Ledoit–Wolf's estimate, re-made for every permuted
        label vector, costs about 130× more.
    min_cells : int, default 4
        Pairs of days with fewer common cells are left out (and listed).
    """

    run: bool = True
    n_permutations: int = 100
    method: str = "lda"
    shrinkage: float = 0.5
    min_cells: int = 4
    _name = "across_days"
    _constraints = {"run": [bool], "n_permutations": [Interval("int", 0, None)],
                    "method": [Options(("lda", "ridge", "lstsq", "logistic"))],
                    "shrinkage": [_UNIT], "min_cells": [Interval("int", 2, None)]}


_SECTIONS = {"preprocessing": PreprocessingConfig, "behaviour": BehaviourConfig,
             "decoding": DecodingConfig, "margins": MarginConfig,
             "separation": SeparationConfig, "flips": FlipConfig, "trends": TrendConfig,
             "across_days": AcrossDaysConfig}


_TOP_LEVEL = ("seed", "skip_insufficient")
_ALL_IS_NONE = {"margins": ("n_units", "svm_n_units"), "trends": ("phase",)}


@dataclass(frozen=True)
class AnalysisConfig:
    """The whole analysis's parameters: one section per analysis, and the seed.

    Parameters
    ----------
    preprocessing, behaviour, decoding, margins, separation, flips, trends, across_days
        The sections (see each class for its fields and defaults).
    seed : int, default 0
        Seeds every random step (folds, permutations, unit subsets,
        bootstrap).
    skip_insufficient : bool, default False
        Leave out sessions whose trained trials have one class or fewer
        trials per class than folds, listing each with its reason in the
        results, instead of stopping with an error that names the session.

    Examples
    --------
    >>> cfg = AnalysisConfig.from_mapping({"decoding": {"n_permutations": 200}})
    >>> cfg.decoding.n_permutations, cfg.decoding.n_folds
    (200, 10)
    >>> cfg.replace(seed=3).seed
    3
    """

    preprocessing: PreprocessingConfig = field(default_factory=PreprocessingConfig)
    behaviour: BehaviourConfig = field(default_factory=BehaviourConfig)
    decoding: DecodingConfig = field(default_factory=DecodingConfig)
    margins: MarginConfig = field(default_factory=MarginConfig)
    separation: SeparationConfig = field(default_factory=SeparationConfig)
    flips: FlipConfig = field(default_factory=FlipConfig)
    trends: TrendConfig = field(default_factory=TrendConfig)
    across_days: AcrossDaysConfig = field(default_factory=AcrossDaysConfig)
    seed: int = 0
    skip_insufficient: bool = False

    def __post_init__(self) -> None:
        check_params({"seed": self.seed, "skip_insufficient": self.skip_insufficient},
                     {"seed": [Interval("int", 0, None)], "skip_insufficient": [bool]})
        for name, cls in _SECTIONS.items():
            if not isinstance(getattr(self, name), cls):
                raise ParameterError(f"`{name}` must be a {cls.__name__}; got "
                                     f"{type(getattr(self, name)).__name__}.")

    @classmethod
    def from_mapping(cls, mapping: Mapping[str, Any]) -> AnalysisConfig:
        """Build from ``{"seed": ..., "<section>": {field: value}}``.

        Keys of ``[preprocessing]`` other than ``preset`` are preset overrides.

        Parameters
        ----------
        mapping : mapping
            Sections by name (``preprocessing``, ``decoding``, ...), each a
            mapping of field → value; top-level ``seed`` and the like.

        Returns
        -------
        AnalysisConfig

        Raises
        ------
        ParameterError
            For an unknown section or key, or a value out of range.
        """
        if not isinstance(mapping, Mapping):
            raise ParameterError(f"config must be a mapping; got {type(mapping).__name__}.")
        unknown = sorted(set(mapping) - set(_SECTIONS) - set(_TOP_LEVEL))
        if unknown:
            raise ParameterError(f"unknown config section(s) {unknown}; allowed: "
                                 f"{', '.join(_TOP_LEVEL + tuple(_SECTIONS))}.")
        sections: dict[str, Any] = {}
        for name, section_cls in _SECTIONS.items():
            values = dict(mapping.get(name, {}))
            if name == "preprocessing":
                overrides = dict(values.pop("overrides", {}))
                overrides.update({k: v for k, v in values.items() if k != "preset"})
                values = {"overrides": overrides,
                          **({"preset": values["preset"]} if "preset" in values else {})}
            # TOML has no null: "all" stands for None where None means "all".
            values = {k: None if v == "all" and k in _ALL_IS_NONE.get(name, ()) else v
                      for k, v in values.items()}
            allowed = {f.name for f in dataclasses.fields(section_cls)}
            bad = sorted(set(values) - allowed)
            if bad:
                raise ParameterError(f"[{name}]: unknown key(s) {bad}; allowed: "
                                     f"{', '.join(sorted(allowed))}.")
            sections[name] = section_cls(**values)
        return cls(**sections, **{k: mapping[k] for k in _TOP_LEVEL if k in mapping})

    @classmethod
    def from_toml(cls, path: str | Path) -> AnalysisConfig:
        """Read a TOML file with one table per section (see the module docstring).

        Parameters
        ----------
        path : path
            The ``.toml`` file.

        Returns
        -------
        AnalysisConfig

        Raises
        ------
        ParameterError
            If the file is missing or not valid TOML, naming the path.
        """
        path = Path(path)
        try:
            with open(path, "rb") as fh:
                mapping = tomllib.load(fh)
        except FileNotFoundError as exc:
            raise ParameterError(f"{path}: config file not found.") from exc
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ParameterError(f"{path}: cannot read as TOML: {exc}") from exc
        return cls.from_mapping(mapping)

    def to_dict(self) -> dict[str, Any]:
        """Nested plain dict (JSON- and TOML-serialisable).

        Returns
        -------
        dict
            Section name → {field: value}, and the top-level fields.
        """
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        """The configuration as one JSON string (stored in results' attrs).

        Returns
        -------
        str
            :meth:`to_dict` as JSON, keys sorted.
        """
        return json.dumps(self.to_dict(), sort_keys=True)

    def replace(self, **changes: Any) -> AnalysisConfig:
        """A copy with top-level fields, or ``section__field`` keys, changed.

        Parameters
        ----------
        **changes
            ``seed=1``, ``decoding__n_folds=5``, ...

        Returns
        -------
        AnalysisConfig
            A new, checked configuration; this one is unchanged.

        Examples
        --------
        >>> AnalysisConfig().replace(decoding__n_folds=5).decoding.n_folds
        5
        """
        top: dict[str, Any] = {}
        nested: dict[str, dict[str, Any]] = {}
        for key, value in changes.items():
            if "__" in key:
                section, name = key.split("__", 1)
                nested.setdefault(section, {})[name] = value
            else:
                top[key] = value
        for section, values in nested.items():
            if section not in _SECTIONS:
                raise ParameterError(f"unknown config section {section!r}; allowed: "
                                     f"{', '.join(_SECTIONS)}.")
            try:
                top[section] = dataclasses.replace(getattr(self, section), **values)
            except TypeError as exc:
                raise ParameterError(f"[{section}]: {exc}") from exc
        try:
            return dataclasses.replace(self, **top)
        except TypeError as exc:
            raise ParameterError(str(exc)) from exc


def load_config(config: AnalysisConfig | Mapping[str, Any] | str | Path | None
                ) -> AnalysisConfig:
    """An :class:`AnalysisConfig` from a config, a mapping, a TOML path, or None (defaults).

    Parameters
    ----------
    config : AnalysisConfig, mapping, str, Path or None
        A configuration, a nested mapping of section → field → value, the path
        of a TOML file with the same sections, or None for the defaults.

    Returns
    -------
    AnalysisConfig
    """
    if config is None:
        return AnalysisConfig()
    if isinstance(config, AnalysisConfig):
        return config
    if isinstance(config, (str, Path)):
        return AnalysisConfig.from_toml(config)
    if isinstance(config, Mapping):
        return AnalysisConfig.from_mapping(config)
    raise ParameterError(f"config must be an AnalysisConfig, a mapping or a TOML path; got "
                         f"{type(config).__name__}.")
