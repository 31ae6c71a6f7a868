# Fit R's flexmix from random starts on the data written by bench_starts.py; report JSON.
#
# A mixture of K linear regressions (FLXMRglm(), Gaussian) with a multinomial logit
# concomitant model (FLXPmultinom(): the softmax gate), fitted STARTS times, each from
# flexmix's own random start (no `cluster` given) after set.seed(seed), seed = 1..STARTS.
# Each fit's log-likelihood (logLik), components left, EM iterations and seconds are
# recorded; only the call to flexmix() is timed (not R's start-up, not reading the CSV).
# A fit that stops with an error is recorded with "error" and a null log-likelihood.
#
# Each fit is then "polished" (not timed): FLXMRglm's Gaussian M-step sets
# sigma^2 = n / (n - rank) times the weighted mean squared residual, not the
# maximum-likelihood value, so its fixed points sit a little below the likelihood's
# optima. The polish restarts flexmix from the fit's posterior (`cluster = posterior(fit)`)
# with the same model but the maximum-likelihood sigma^2 (weighted mean squared residual),
# and records the log-likelihood it converges to, "loglik_ml": the optimum of the basin
# the start found, on the scale of skmoe's log-likelihood.
#
# Usage:
#   Rscript flexmix_starts.R DATA.csv GATE_COLUMNS K STARTS ITER_MAX MINPRIOR TOLERANCE OUT.json
#
# DATA.csv has the experts' columns and y (the experts see every column but y);
# GATE_COLUMNS is a comma-separated list of the columns the gate sees. TOLERANCE is
# flexmix's: EM stops when |llh - llh_old| / (|llh| + 0.1) < TOLERANCE, llh being the
# total log-likelihood. jsonlite is not needed: the JSON is written with sprintf.

args <- commandArgs(trailingOnly = TRUE)
if (length(args) != 8) {
  stop(paste("usage: Rscript flexmix_starts.R DATA.csv GATE_COLUMNS K STARTS ITER_MAX",
             "MINPRIOR TOLERANCE OUT.json"))
}
suppressPackageStartupMessages(library(flexmix))

data <- read.csv(args[1])
gate_columns <- strsplit(args[2], ",", fixed = TRUE)[[1]]
k <- as.integer(args[3])
starts <- as.integer(args[4])
control <- list(iter.max = as.integer(args[5]), minprior = as.numeric(args[6]),
                tolerance = as.numeric(args[7]))

gate_formula <- as.formula(paste("~", paste(gate_columns, collapse = " + ")))

# FLXMRglm() with the maximum-likelihood noise variance (for the polish only).
FLXMRglm_ml <- function() {
  z <- FLXMRglm()
  z@fit <- function(x, y, w, component) {
    fit <- lm.wfit(x, y, w = w)
    z@defineComponent(para = list(coef = coef(fit), df = ncol(x) + 1,
                                  sigma = sqrt(sum(w * fit$residuals^2) / sum(w))))
  }
  z
}

json_number <- function(value, format = "%.17g") {
  if (is.null(value) || is.na(value)) "null" else sprintf(format, value)
}

json_string <- function(text) {
  text <- gsub("\\\\", "\\\\\\\\", text)
  text <- gsub('"', '\\\\"', text)
  text <- gsub("[[:cntrl:]]", " ", text)
  paste0('"', text, '"')
}

fit_flexmix <- function(model, cluster = NULL) {
  message_text <- ""
  fit <- NULL
  seconds <- system.time(
    fit <- tryCatch(
      if (is.null(cluster)) {
        flexmix(y ~ ., data = data, k = k, model = model,
                concomitant = FLXPmultinom(gate_formula), control = control)
      } else {
        flexmix(y ~ ., data = data, cluster = cluster, model = model,
                concomitant = FLXPmultinom(gate_formula), control = control)
      },
      error = function(e) {
        message_text <<- trimws(conditionMessage(e))
        NULL
      }
    )
  )[["elapsed"]]
  list(fit = fit, seconds = seconds, error = message_text)
}

fits <- character(starts)
for (seed in seq_len(starts)) {
  invisible(gc())
  set.seed(seed)
  run <- fit_flexmix(FLXMRglm())
  fit <- run$fit
  if (is.null(fit)) {
    fits[seed] <- sprintf(
      paste0('{"seed": %d, "loglik": null, "k": null, "iter": null, "converged": false, ',
             '"seconds": %.6f, "error": %s, "loglik_ml": null, "k_ml": null, ',
             '"iter_ml": null}'),
      seed, run$seconds, json_string(run$error))
    next
  }
  polish <- fit_flexmix(FLXMRglm_ml(), cluster = posterior(fit))
  polished <- polish$fit
  fits[seed] <- sprintf(
    paste0('{"seed": %d, "loglik": %.17g, "k": %d, "iter": %d, "converged": %s, ',
           '"seconds": %.6f, "error": null, "loglik_ml": %s, "k_ml": %s, "iter_ml": %s, ',
           '"polish_error": %s}'),
    seed, as.numeric(logLik(fit)), as.integer(fit@k), as.integer(fit@iter),
    if (fit@converged) "true" else "false", run$seconds,
    if (is.null(polished)) "null" else json_number(as.numeric(logLik(polished))),
    if (is.null(polished)) "null" else json_number(polished@k, "%d"),
    if (is.null(polished)) "null" else json_number(polished@iter, "%d"),
    if (is.null(polished)) json_string(polish$error) else "null")
}

json <- sprintf(
  paste0('{"n": %d, "k": %d, "fits": [%s], "r_version": %s, "flexmix_version": %s, ',
         '"nnet_version": %s, "blas": %s, "lapack": %s}'),
  nrow(data), k, paste(fits, collapse = ", "), json_string(R.version.string),
  json_string(as.character(packageVersion("flexmix"))),
  json_string(as.character(packageVersion("nnet"))),
  json_string(sessionInfo()$BLAS), json_string(sessionInfo()$LAPACK)
)
writeLines(json, args[8])
