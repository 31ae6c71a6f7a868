# Fit the models of flexmix's own help pages and vignettes on flexmix's own data; report JSON.
#
# MODE "export": write each data set of CASES to DIR/NAME.csv with its design already
# coded (treatment contrasts, as model.matrix codes them): the response column(s), the
# experts' columns x_*, the concomitant columns g_*, a grouping column "group" where the
# model has one, "exposure" (seizure's Hours, the Poisson offset's exp) and "weight"
# (candy's frequencies), then stop.
# MODE "fit": fit case NAME with K components, best of NREP starts (stepFlexmix), control
# list(iter.max = ITER_MAX, minprior = MINPRIOR, tolerance = TOLERANCE), timed; then
# refit() where it works. Writes OUT.json (logLik, its df, BIC, priors, coefficients,
# concomitant coefficients, refit standard errors) and OUT.json.posterior.csv.
# MODE "select": stepFlexmix over k = 1..K with NREP starts each; logLik, df and BIC of
# every k, and getModel(fits, "BIC")'s k.
#
# Usage:
#   Rscript flexmix_examples.R export DIR
#   Rscript flexmix_examples.R fit NAME K NREP ITER_MAX MINPRIOR TOLERANCE SEED OUT.json
#   Rscript flexmix_examples.R select NAME K NREP ITER_MAX MINPRIOR TOLERANCE SEED OUT.json

args <- commandArgs(trailingOnly = TRUE)
suppressPackageStartupMessages(library(flexmix))

load_case <- function(name) {
  data(list = name, package = "flexmix", envir = environment())
  data <- get(name)
  switch(name,
    seizure = list(
      data = data, formula = Seizures ~ Treatment * log(Day),
      model = FLXMRglm(family = "poisson", offset = log(data$Hours)),
      response = data.frame(y = data$Seizures), exposure = data$Hours),
    bioChemists = list(
      # the vignette's art ~ ., spelled out
      data = data, formula = art ~ fem + mar + kid5 + phd + ment,
      model = FLXMRglm(family = "poisson"),
      response = data.frame(y = data$art)),
    dmft = list(
      data = data, formula = End ~ log(Begin + 0.5) + Gender + Ethnic + Treatment,
      model = FLXMRglm(family = "poisson"), response = data.frame(y = data$End)),
    fabricfault = list(
      data = data, formula = Faults ~ log(Length), model = FLXMRglm(family = "poisson"),
      response = data.frame(y = data$Faults)),
    salmonellaTA98 = list(
      data = data, formula = y ~ x + log(x + 10), model = FLXMRglm(family = "poisson"),
      response = data.frame(y = data$y)),
    candy = list(
      data = data, formula = Packages ~ 1, model = FLXMRglm(family = "poisson"),
      response = data.frame(y = data$Packages), weight = data$Freq),
    tribolium = list(
      data = data, formula = cbind(Remaining, Total - Remaining) ~ Species,
      model = FLXMRglm(family = "binomial"),
      response = data.frame(successes = data$Remaining, trials = data$Total)),
    trypanosome = list(
      data = data, formula = cbind(Dead, 1 - Dead) ~ log(Dose),
      model = FLXMRglm(family = "binomial"),
      response = data.frame(successes = data$Dead, trials = 1)),
    Mehta = list(
      data = data, formula = cbind(Response, Total - Response) ~ Drug | Site,
      model = FLXMRglm(family = "binomial"),
      response = data.frame(successes = data$Response, trials = data$Total),
      group = as.integer(data$Site)),
    BregFix = list(
      data = data, formula = cbind(yes, no) ~ x, model = FLXMRglm(family = "binomial"),
      concomitant = ~ w,
      response = data.frame(successes = data$yes, trials = data$yes + data$no)),
    NregFix = list(
      data = data, formula = y ~ x2 + x1, model = FLXMRglm(family = "gaussian"),
      concomitant = ~ w, response = data.frame(y = as.numeric(data$y))),
    stop(paste("unknown case", name)))
}

CASES <- c("seizure", "bioChemists", "dmft", "fabricfault", "salmonellaTA98", "candy",
           "tribolium", "trypanosome", "Mehta", "BregFix", "NregFix")

design <- function(case) {
  rhs <- formula(case$formula)
  rhs[[2]] <- NULL
  if (length(rhs[[2]]) == 3 && identical(rhs[[2]][[1]], as.name("|"))) rhs[[2]] <- rhs[[2]][[2]]
  frame <- case$data
  if (!is.null(case$response$y) && "y" %in% names(frame)) frame$y <- case$response$y
  X <- model.matrix(rhs, data = frame)
  X <- X[, colnames(X) != "(Intercept)", drop = FALSE]
  out <- case$response
  if (ncol(X) > 0) {
    colnames(X) <- paste0("x_", make.names(colnames(X)))
    out <- cbind(out, X)
  }
  if (!is.null(case$concomitant)) {
    G <- model.matrix(case$concomitant, data = case$data)
    G <- G[, colnames(G) != "(Intercept)", drop = FALSE]
    colnames(G) <- paste0("g_", make.names(colnames(G)))
    out <- cbind(out, G)
  }
  if (!is.null(case$group)) out$group <- case$group
  if (!is.null(case$exposure)) out$exposure <- case$exposure
  if (!is.null(case$weight)) out$weight <- case$weight
  out
}

num <- function(x) paste(sprintf("%.17g", as.numeric(x)), collapse = ", ")
str_list <- function(x) paste(sprintf('"%s"', gsub('"', "'", x)), collapse = ", ")

fit_case <- function(case, k, nrep, control) {
  call_args <- list(case$formula, data = case$data, k = k, nrep = nrep,
                    model = case$model, control = control, verbose = FALSE)
  if (!is.null(case$concomitant)) call_args$concomitant <- FLXPmultinom(case$concomitant)
  if (!is.null(case$weight)) call_args$weights <- case$weight
  do.call(stepFlexmix, call_args)
}

mode <- args[1]
if (mode == "export") {
  for (name in CASES) {
    write.csv(design(load_case(name)), file.path(args[2], paste0(name, ".csv")),
              row.names = FALSE)
  }
  quit(save = "no")
}
if (length(args) != 9) stop("usage: see the head of flexmix_examples.R")
case <- load_case(args[2])
k <- as.integer(args[3])
nrep <- as.integer(args[4])
control <- list(iter.max = as.integer(args[5]), minprior = as.numeric(args[6]),
                tolerance = as.numeric(args[7]))
set.seed(as.integer(args[8]))
out <- args[9]
version <- sprintf('"flexmix_version": "%s", "r_version": "%s"',
                   as.character(packageVersion("flexmix")), R.version.string)

if (mode == "select") {
  seconds <- system.time(fits <- fit_case(case, seq_len(k), nrep, control))[["elapsed"]]
  rows <- character(0)
  for (fit in fits@models) {
    ll <- logLik(fit)
    rows <- c(rows, sprintf('{"k": %d, "loglik": %.17g, "df": %d, "bic": %.17g, "nobs": %d}',
                            fit@k, as.numeric(ll), as.integer(attr(ll, "df")), BIC(fit),
                            as.integer(attr(ll, "nobs"))))
  }
  best <- getModel(fits, "BIC")
  writeLines(sprintf('{"seconds": %.6f, "best_k": %d, "fits": [%s], %s}', seconds,
                     best@k, paste(rows, collapse = ", "), version), out)
  quit(save = "no")
}
if (mode != "fit") stop(paste("unknown mode", mode))

seconds <- system.time(fit <- fit_case(case, k, nrep, control))[["elapsed"]]
ll <- logLik(fit)
coefs <- parameters(fit)
concomitant <- if (is.null(case$concomitant)) "null" else
  sprintf("[%s]", num(fit@concomitant@coef))
refit_rows <- character(0)
refit_error <- "null"
refitted <- tryCatch(summary(refit(fit)), error = function(e) {
  refit_error <<- sprintf('"%s"', gsub('"', "'", conditionMessage(e)))
  NULL
})
if (!is.null(refitted)) {
  add <- function(component, table) {
    for (i in seq_len(nrow(table))) {
      refit_rows <<- c(refit_rows, sprintf(
        '{"component": "%s", "parameter": "%s", "estimate": %.17g, "std_error": %.17g}',
        component, rownames(table)[i], table[i, 1], table[i, 2]))
    }
  }
  components <- refitted@components[[1]]
  for (name in names(components)) add(name, components[[name]]@.Data)
  if (length(refitted@concomitant)) {
    for (name in names(refitted@concomitant)) {
      add(paste0("gate.", name), refitted@concomitant[[name]]@.Data)
    }
  }
}
write.csv(posterior(fit), paste0(out, ".posterior.csv"), row.names = FALSE)
writeLines(sprintf(paste0(
  '{"seconds": %.6f, "loglik": %.17g, "df": %d, "bic": %.17g, "nobs": %d, "k": %d, ',
  '"iter": %d, "prior": [%s], "parameter_names": [%s], "parameters": [%s], ',
  '"concomitant": %s, "refit": [%s], "refit_error": %s, %s}'),
  seconds, as.numeric(ll), as.integer(attr(ll, "df")), BIC(fit), as.integer(attr(ll, "nobs")),
  fit@k, fit@iter, num(prior(fit)), str_list(rownames(coefs)), num(coefs), concomitant,
  paste(refit_rows, collapse = ", "), refit_error, version), out)
