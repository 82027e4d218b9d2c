"""Batched linear support-vector machines: solvers, working sets and batching.

:mod:`~neurolearn.svm.linear` is the entry point (soft margin in
:mod:`~neurolearn.svm.soft_margin`, hard margin in
:mod:`~neurolearn.svm.hard_margin`, whose dual active-set method steps on
fixed slots in :mod:`~neurolearn.svm.active_slots`),
:mod:`~neurolearn.svm.working_set`
solves on the trials near the boundary, :mod:`~neurolearn.svm.batches`
schedules many problems of different sizes, and
:mod:`~neurolearn.svm.retiring` keeps the books of problems leaving a batch.
"""

from neurolearn.svm.batches import size_groups, solve_batches
from neurolearn.svm.hard_margin import fit_active_set, fit_from_support, fit_hard_margin
from neurolearn.svm.linear import fit_linear_svm
from neurolearn.svm.working_set import fit_linear_svm_working_set

__all__ = ["fit_linear_svm", "fit_linear_svm_working_set", "fit_hard_margin",
           "fit_from_support", "fit_active_set", "solve_batches", "size_groups"]
