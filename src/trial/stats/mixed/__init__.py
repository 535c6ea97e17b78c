"""Fast linear mixed models with random intercepts and small-sample degrees of freedom.

The model is

.. math::

    y = X\\beta + Z_c u + Z_n v + e,\\quad u \\sim N(0, \\sigma_c^2 I),\\;
    v \\sim N(0, \\sigma_n^2 I),\\; e \\sim N(0, \\sigma^2 I),

with a random intercept per cluster and, optionally, a second random intercept for subgroups
nested within clusters (``(1 | cluster) + (1 | cluster:nested)`` in lme4 notation).

Two entry points fit it: :func:`fit_random_intercept_model` takes a labelled design
(``pandas.DataFrame``) and cluster labels of any hashable type and returns a
:class:`MixedModelFit` whose pandas views are built on first access;
:func:`fit_random_intercept_arrays` takes a numpy design, the outcome and integer cluster codes
and returns the plain-array :class:`MixedModelArrayFit`, for callers that fit many models.

Fitting uses only per-cluster (and per-subgroup) sufficient statistics: ``X_j'X_j``,
``X_j'y_j``, ``y_j'y_j`` and the subgroup column sums of ``X`` and ``y``. Within a cluster,
``V = s2e I + s2n E E' + s2c 11'`` (``E`` the subgroup indicator matrix) has a closed-form
inverse by two Woodbury steps, and every matrix of the model's algebra (``V^-1``, the derivatives
of ``V`` and their products) is of the form ``a I + E (diag(d) + F H') E'`` with a small rank
``r``: products, inverses, determinants and traces act elementwise on per-subgroup vectors and on
``r x r`` matrices per cluster. These vectors depend only on a subgroup's size, so the subgroups
of one size in one cluster are pooled into a *cell*, and sums that do not involve the cluster
into one row per distinct size: 950 individuals in 27 clusters with 7 repeated measures reduce
to 27 clusters of at most 7 cells. No ``n x n`` matrix is ever formed.

The residual variance is profiled out. With one random intercept the statistics are those of
``W = [X y]``: ``W'W`` and the cluster sums ``s_j`` of the rows of ``W``. Then
``W'V*^-1W = W'W - sum_j w_j s_j s_j'`` (``V* = V / sigma^2``, ``w_j`` a function of the
variance ratio and the cluster size) is a ``(p + 1) x (p + 1)`` matrix whose Cholesky factor
gives the whole profiled criterion, and whose inverse gives its first and second derivatives in
closed form. A vectorised grid search in ``theta = sqrt(variance ratio)`` brackets the optimum
and Newton's method with these derivatives, safeguarded by bisection, finds it. The
Kenward-Roger and Satterthwaite quantities come from the same per-cluster sums. With a nested
term the best point of a vectorised grid starts a projected Newton search on the two variance
ratios (analytic gradient, difference Hessian). Every fit is verified (score
equations of the fixed effects and the (projected) gradient of the criterion) before it is
returned; a fit that cannot be verified raises :class:`MixedModelFitError`.

Denominator degrees of freedom
------------------------------
``"kenward-roger"``
    The variant implemented in R package pbkrtest (``vcovAdj`` / ``KRmodcomp`` / ``Lb_ddf``),
    which lmerTest also uses for ``ddf = "Kenward-Roger"``: the covariance parameters are the
    variance components themselves (cluster, nested, residual variance); the adjusted covariance
    ``Phi_A = Phi + 2 Phi U Phi`` omits the second-derivative term (zero for this linear
    covariance structure); the expected REML information is used. ``cov`` holds ``Phi_A``.
    Multi-df tests use pbkrtest's scaled F statistic and denominator df.
``"satterthwaite"``
    As lmerTest: the covariance parameters are ``(theta, sigma)`` with ``theta`` the ratios of
    random-effect to residual standard deviations; their covariance is twice the inverse of the
    observed Hessian of the (REML or ML) deviance; the gradient of ``L Phi L'`` is taken with
    respect to the same parameters. Here both are computed analytically rather than numerically.
    The inverse of the Hessian is taken after scaling its ``sigma`` row and column by ``sigma``
    (which makes it unit-free), dropping eigenvalues below 1e-8 of the largest; lmerTest's
    cut-off of 1e-8 is absolute, which makes its df depend on the outcome's unit (for an
    outcome in small units it drops the ``sigma`` direction and inflates the df). At the unit
    scale of the R reference data the two agree.
    Multi-df tests follow lmerTest's ``contestMD`` (eigen-decomposition of ``L Phi L'``).
``"between-within"``
    The between-within rule of Schluchter and Elashoff (1990) (SAS ``DDFM=BETWITHIN``), in the
    multilevel form ``df_g = N_g - (N_{g-1} + p_g)``: ``N_0`` is 1 when the column space of ``X``
    contains a constant and 0 otherwise, ``N_1`` the number of clusters, ``N_2`` the number of
    subgroups (nested model only) and the last level the number of observations; ``p_g`` is the
    number of parameters (rank increment) of the columns whose finest level of variation is
    ``g``. A column constant within every cluster is cluster-level and gets ``df_1`` (clusters
    minus the number of cluster-level parameters, intercept included); the intercept also gets
    ``df_1``; a column varying within clusters (within subgroups, for the nested model) gets the
    residual df of the last level. A general contrast gets the smallest df of the coefficients it
    involves.

Modules
-------
:mod:`~trial.stats.mixed.fit`
    The two entry points: input checks, then the single or nested fit.
:mod:`~trial.stats.mixed.sums`
    One random intercept fitted from per-cluster sums, each cluster entering any number of
    times (cluster bootstraps).
:mod:`~trial.stats.mixed.single`
    One random intercept: sufficient statistics of ``[X y]``, criterion, search, fused
    Kenward-Roger.
:mod:`~trial.stats.mixed.nested`, :mod:`~trial.stats.mixed.algebra`
    The nested model: its criterion, search and blocks; its sufficient statistics and the
    per-cluster matrix algebra.
:mod:`~trial.stats.mixed.ddf`
    Kenward-Roger, Satterthwaite and between-within df of coefficients, contrasts and F tests.
:mod:`~trial.stats.mixed.checks`
    Integer codes, rank, column levels, and the verification every fit passes.
:mod:`~trial.stats.mixed.results`, :mod:`~trial.stats.mixed.view`
    The errors and frozen results; the labelled (pandas) view shared with the other kernels.
"""

from trial.stats.mixed.checks import DF_METHODS
from trial.stats.mixed.fit import fit_random_intercept_arrays, fit_random_intercept_model
from trial.stats.mixed.results import (
    ContrastResult,
    FTestResult,
    MixedModelArrayFit,
    MixedModelConvergenceWarning,
    MixedModelError,
    MixedModelFitError,
    MixedModelInputError,
)
from trial.stats.mixed.sums import ClusterSums, cluster_sums, fit_random_intercept_sums
from trial.stats.mixed.view import MixedModelFit

__all__ = [
    "DF_METHODS",
    "ClusterSums",
    "ContrastResult",
    "FTestResult",
    "MixedModelConvergenceWarning",
    "MixedModelArrayFit",
    "MixedModelError",
    "MixedModelFit",
    "MixedModelFitError",
    "MixedModelInputError",
    "cluster_sums",
    "fit_random_intercept_arrays",
    "fit_random_intercept_model",
    "fit_random_intercept_sums",
]
