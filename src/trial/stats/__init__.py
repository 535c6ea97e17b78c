"""Statistical kernels: arrays in, documented frozen results out, no configuration.

Modules
-------
:mod:`trial.stats.glmm`
    Random-intercept generalised linear mixed models (binomial logit, Poisson log) by adaptive
    Gauss-Hermite quadrature or Laplace, maximum likelihood as ``lme4::glmer``, with
    between-within small-sample degrees of freedom.
:mod:`trial.stats.gee`
    Generalised estimating equations with an exchangeable working correlation (as
    ``geepack::geeglm``) and bias-corrected sandwich covariances (Mancl-DeRouen,
    Kauermann-Carroll, Fay-Graubard), t on clusters - p df.
:mod:`trial.stats.marginal`
    Marginal (standardised) risks, risk difference, risk ratio and odds ratio from a fitted
    GLMM or GEE, with delta-method intervals.
:mod:`trial.stats.cluster_level`
    Cluster-level analysis of a binary outcome: cluster proportions, and risk difference and
    ratio by the two-stage residual method (Hayes and Moulton).
"""
