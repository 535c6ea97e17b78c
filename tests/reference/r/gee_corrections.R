# Bias-corrected sandwich covariances of an exchangeable GEE fit from their published formulas
# (Mancl and DeRouen 2001, Kauermann and Carroll 2001, Fay and Graubard 2001 with b = 0.75),
# cluster by cluster with the full n_j x n_j matrices: V_j, H_jj = D_j B^-1 D_j' V_j^-1,
# (I - H_jj)^-1 and the principal inverse square root of I - H_jj by eigen-decomposition.
# Sourced by gee.R and binary_sensitivity.R (run from the repository root); the callers check
# the uncorrected sandwich against geepack's vbeta before using the corrected ones.
#
# X: model matrix; y: outcome; id: cluster of each row (rows of a cluster contiguous);
# offset; beta, alpha, phi: geeglm's estimates, working correlation and scale; family.
# Returns list(robust, mancl_derouen, kauermann_carroll, fay_graubard) of p x p matrices.
corrected_covariances <- function(X, y, id, offset, beta, alpha, phi, family) {
  eta <- drop(X %*% beta) + offset
  mu <- family$linkinv(eta)
  v <- family$variance(mu)
  dmu <- family$mu.eta(eta)
  p <- ncol(X)
  idx <- split(seq_along(y), factor(id, levels = unique(id)))
  parts <- lapply(idx, function(i) {
    n <- length(i)
    D <- dmu[i] * X[i, , drop = FALSE]
    R <- matrix(alpha, n, n)
    diag(R) <- 1
    A <- diag(sqrt(v[i]), nrow = n)
    V <- phi * A %*% R %*% A
    list(D = D, Vinv = solve(V), r = y[i] - mu[i])
  })
  B <- Reduce(`+`, lapply(parts, function(q) t(q$D) %*% q$Vinv %*% q$D))
  Binv <- solve(B)
  meat <- list(robust = 0, mancl_derouen = 0, kauermann_carroll = 0, fay_graubard = 0)
  for (q in parts) {
    n <- length(q$r)
    DV <- t(q$D) %*% q$Vinv
    IH <- diag(n) - q$D %*% Binv %*% DV
    e <- eigen(IH)
    IH_half_inv <- Re(e$vectors %*% diag(1 / sqrt(Re(e$values)), nrow = n) %*%
                        solve(e$vectors))
    Q <- DV %*% q$D %*% Binv
    Fd <- diag(1 / sqrt(1 - pmin(0.75, diag(Q))), nrow = p)
    u <- list(
      robust = DV %*% q$r,
      mancl_derouen = DV %*% solve(IH, q$r),
      kauermann_carroll = DV %*% IH_half_inv %*% q$r,
      fay_graubard = Fd %*% DV %*% q$r
    )
    for (k in names(u)) meat[[k]] <- meat[[k]] + u[[k]] %*% t(u[[k]])
  }
  lapply(meat, function(M) Binv %*% M %*% Binv)
}
