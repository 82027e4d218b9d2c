"""scikit-learn-compatible decoders (two or more classes) built on the batched kernels.

Each estimator standardises its features internally (fit on the training
data) and is equivalent to ``make_pipeline(StandardScaler(), <sklearn
estimator>)``. Use them inside scikit-learn tooling (pipelines, grid search);
use :func:`neurolearn.decoding.decode` to solve many problems at once.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from neurolearn.backend import resolve_namespace, to_numpy
from neurolearn.decoding.constraints import check_decoder_params
from neurolearn.decoding.engine import fit_batch

__all__ = ["LDADecoder", "RidgeDecoder", "LeastSquaresDecoder", "LogisticDecoder"]


class _LinearDecoder(ClassifierMixin, BaseEstimator):
    _method = ""

    def _params(self) -> dict[str, Any]:
        return {}

    def fit(self, X: Any, y: Any) -> _LinearDecoder:
        """Fit the decoder.

        Parameters
        ----------
        X : array-like (n_samples, n_features)
            Features (e.g. rates in spikes/s); z-scored inside with their own
            mean and population SD.
        y : array-like (n_samples,)
            Two or more classes, any labels. With two, ``classes_[1]`` (the
            larger in sorted order) is the positive one.

        Returns
        -------
        self

        Raises
        ------
        ValueError
            If y has fewer than two classes, or X has NaN or fewer than 2
            samples (scikit-learn's checks).
        """
        X, y = validate_data(self, X, y, dtype=np.float64, ensure_min_samples=2)
        check_classification_targets(y)
        self.classes_, index = np.unique(y, return_inverse=True)
        if self.classes_.size < 2:
            raise ValueError(f"{type(self).__name__} needs samples of at least 2 classes in "
                             f"y; got {self.classes_.size} class.")
        xp = resolve_namespace(self.device)
        K = self.classes_.size
        coef, intercept = fit_batch(xp, self._method, xp.asarray(X[None, :, :]),
                                    xp.ones((1, X.shape[0]), dtype=xp.float64),
                                    xp.asarray(index.astype(np.float64)[None, :]),
                                    self._params(), n_classes=K)
        # As scikit-learn: (1, n_features) and (1,) for two classes, (K, ...) else.
        self.coef_ = xp.reshape(coef[0, 0, 0], (1 if K == 2 else K, -1))
        self.intercept_ = xp.reshape(intercept[0, 0, 0], (-1,))
        return self

    def decision_function(self, X: Any) -> np.ndarray:
        """Decision values: > 0 predicts ``classes_[1]`` (two classes); else one per class.

        Parameters
        ----------
        X : array-like (n_samples, n_features)

        Returns
        -------
        ndarray (n_samples,) for two classes, (n_samples, n_classes) else
        """
        check_is_fitted(self)
        X = validate_data(self, X, dtype=np.float64, reset=False)
        xp = resolve_namespace(self.device)
        scores = xp.matmul(xp.asarray(X), xp.matrix_transpose(self.coef_)) + self.intercept_
        scores = to_numpy(scores)
        return scores[:, 0] if self.classes_.size == 2 else scores

    def predict(self, X: Any) -> np.ndarray:
        """Predicted class labels.

        Parameters
        ----------
        X : array-like (n_samples, n_features)

        Returns
        -------
        ndarray (n_samples,)
            Entries of ``classes_``.
        """
        check_is_fitted(self)
        scores = self.decision_function(X)
        if scores.ndim == 1:
            return self.classes_[(scores > 0).astype(int)]
        return self.classes_[np.argmax(scores, axis=1)]


class _ProbabilisticDecoder(_LinearDecoder):
    """A decoder whose decision values are log posterior odds (LDA, logistic)."""

    def predict_proba(self, X: Any) -> np.ndarray:
        """Posterior probability of each class.

        The logistic function of the decision value for two classes, its
        softmax over classes for more, as scikit-learn's LDA and
        (multinomial) logistic regression.

        Parameters
        ----------
        X : array-like (n_samples, n_features)

        Returns
        -------
        ndarray (n_samples, n_classes)
        """
        return np.exp(self.predict_log_proba(X))

    def predict_log_proba(self, X: Any) -> np.ndarray:
        """Log of :meth:`predict_proba`.

        Parameters
        ----------
        X : array-like (n_samples, n_features)

        Returns
        -------
        ndarray (n_samples, n_classes)
        """
        scores = self.decision_function(X)
        if scores.ndim == 1:  # two classes: log-odds of classes_[1], class 0 at 0
            scores = np.stack([np.zeros_like(scores), scores], axis=1)
        top = scores.max(axis=1, keepdims=True)
        return scores - top - np.log(np.exp(scores - top).sum(axis=1, keepdims=True))


class LDADecoder(_ProbabilisticDecoder):
    """LDA with pooled covariance (optional shrinkage) on z-scored features, K ≥ 2 classes.

    Equivalent to ``make_pipeline(StandardScaler(),
    LinearDiscriminantAnalysis(solver="lsqr", shrinkage=shrinkage))``.

    Parameters
    ----------
    shrinkage : float or "auto", default 0.0
        α in [0, 1]: S_w ← (1−α)S_w + α·tr(S_w)/p·I. ``"auto"`` shrinks each
        class covariance by its Ledoit–Wolf coefficient, as scikit-learn's
        ``shrinkage="auto"``; use it when units are many against trials per
        class (roughly p > n/10), where the unshrunk covariance is noisy or
        singular. It costs a p×p solve per fit instead of a shared
        eigenbasis.
    device : {"cpu", "cuda"}, default "cpu"

    Attributes
    ----------
    coef_ : array (1, n_features) for two classes, (n_classes, n_features) else
        Weights on the raw (unstandardised) features.
    intercept_ : array (1,) or (n_classes,)
    classes_ : ndarray (n_classes,)

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.datasets import make_classification
    >>> X, y = make_classification(n_samples=200, n_features=6, random_state=0)
    >>> model = LDADecoder(shrinkage=0.1).fit(X[:150], y[:150])
    >>> from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.preprocessing import StandardScaler
    >>> ref = make_pipeline(StandardScaler(), LinearDiscriminantAnalysis(
    ...     solver="lsqr", shrinkage=0.1)).fit(X[:150], y[:150])
    >>> bool((model.predict(X[150:]) == ref.predict(X[150:])).all())
    True
    """

    _method = "lda"

    def __init__(self, *, shrinkage: float | str = 0.0, device: str = "cpu"):
        self.shrinkage = shrinkage
        self.device = device

    def _params(self) -> dict[str, Any]:
        check_decoder_params(type(self).__name__, shrinkage=self.shrinkage)
        return {"shrinkage": self.shrinkage if self.shrinkage == "auto"
                else float(self.shrinkage)}


class RidgeDecoder(_LinearDecoder):
    """Ridge regression on ±1 targets (``RidgeClassifier(alpha)`` after ``StandardScaler``).

    With K ≥ 3 classes, one-vs-rest (one ±1 target per class), as scikit-learn.

    Parameters
    ----------
    alpha : float, default 1.0
        L2 penalty (≥ 0).
    device : {"cpu", "cuda"}, default "cpu"

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.datasets import make_classification
    >>> X, y = make_classification(n_samples=200, n_features=6, random_state=0)
    >>> model = RidgeDecoder(alpha=1.0).fit(X, y)
    >>> model.coef_.shape, bool(model.score(X, y) > 0.8)
    ((1, 6), True)
    """

    _method = "ridge"

    def __init__(self, *, alpha: float = 1.0, device: str = "cpu"):
        self.alpha = alpha
        self.device = device

    def _params(self) -> dict[str, Any]:
        check_decoder_params(type(self).__name__, alpha=self.alpha)
        return {"alpha": float(self.alpha)}


class LeastSquaresDecoder(_LinearDecoder):
    """Least-squares classifier (minimum-norm where singular) on z-scored features.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.datasets import make_classification
    >>> X, y = make_classification(n_samples=200, n_features=6, random_state=0)
    >>> bool(LeastSquaresDecoder().fit(X, y).score(X, y) > 0.8)
    True
    """

    _method = "lstsq"

    def __init__(self, *, device: str = "cpu"):
        self.device = device


class LogisticDecoder(_ProbabilisticDecoder):
    """L2 logistic regression (``LogisticRegression(C)`` after ``StandardScaler``).

    Multinomial with K ≥ 3 classes, as scikit-learn's lbfgs default.

    Fitted by Newton's method with backtracking to a step below 1e-10.

    Parameters
    ----------
    C : float, default 1.0
        Inverse penalty strength (> 0).
    device : {"cpu", "cuda"}, default "cpu"

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.datasets import make_classification
    >>> X, y = make_classification(n_samples=200, n_features=6, random_state=0)
    >>> model = LogisticDecoder(C=1.0).fit(X, y)
    >>> model.decision_function(X[:2]).shape, bool(model.score(X, y) > 0.8)
    ((2,), True)
    """

    _method = "logistic"

    def __init__(self, *, C: float = 1.0, device: str = "cpu"):
        self.C = C
        self.device = device

    def _params(self) -> dict[str, Any]:
        check_decoder_params(type(self).__name__, C=self.C)
        return {"C": float(self.C)}
