# Fit R's flexmix and report summary(refit(model)) as JSON: the estimates and standard
# errors of every expert and gate coefficient.
#
# MODE "export-npreg": write flexmix's NPreg data to DATA.csv and stop.
# MODE "refit": a mixture of Gaussian linear regressions (FLXMRglm()) of y on the
# columns x1..xd of DATA.csv, with a multinomial logit concomitant model
# (FLXPmultinom()) on the columns g1..gq, started from the cluster assignments in
# INIT.csv (column "cluster", 1..k), run to TOLERANCE; then refit(model) (flexmix's
# default: the observed information of the whole log-likelihood, by optim's Hessian)
# and its summary. Only refit() is timed.
#
# Usage:
#   Rscript flexmix_stderr.R export-npreg DATA.csv
#   Rscript flexmix_stderr.R refit DATA.csv INIT.csv TOLERANCE OUT.json

args <- commandArgs(trailingOnly = TRUE)
suppressPackageStartupMessages(library(flexmix))
mode <- args[1]
if (mode == "export-npreg") {
  data("NPreg", package = "flexmix")
  write.csv(NPreg, args[2], row.names = FALSE)
  quit(save = "no")
}
if (mode != "refit" || length(args) != 5) {
  stop("usage: Rscript flexmix_stderr.R refit DATA.csv INIT.csv TOLERANCE OUT.json")
}
data <- read.csv(args[2])
cluster <- as.integer(read.csv(args[3])$cluster)
tolerance <- as.numeric(args[4])
experts <- grep("^x", names(data), value = TRUE)
gates <- grep("^g", names(data), value = TRUE)
formula <- as.formula(paste("y ~", paste(experts, collapse = " + ")))
gate_formula <- as.formula(paste("~", paste(gates, collapse = " + ")))
model <- flexmix(formula, data = data, cluster = cluster, model = FLXMRglm(),
                 concomitant = FLXPmultinom(gate_formula),
                 control = list(tolerance = tolerance, iter.max = 5000, minprior = 0))
seconds <- system.time(fitted <- refit(model))[["elapsed"]]

rows <- character(0)
add <- function(component, table) {
  for (i in seq_len(nrow(table))) {
    rows <<- c(rows, sprintf(
      '{"component": "%s", "parameter": "%s", "estimate": %.17g, "std_error": %.17g}',
      component, rownames(table)[i], table[i, 1], table[i, 2]))
  }
}
# The tables summary(refit(model)) prints: one per component, then one per gate column.
experts_summary <- fitted@components[[1]]
for (name in names(experts_summary)) add(name, experts_summary[[name]]@.Data)
gate_summary <- fitted@concomitant
for (name in names(gate_summary)) add(paste0("gate.", name), gate_summary[[name]]@.Data)
log_lik <- logLik(model)
json <- sprintf(
  paste0('{"loglik": %.17g, "df": %d, "iter": %d, "converged": %s, "k": %d, ',
         '"refit_seconds": %.6f, "r_version": "%s", "flexmix_version": "%s", ',
         '"rows": [%s]}'),
  as.numeric(log_lik), as.integer(attr(log_lik, "df")), as.integer(model@iter),
  if (model@converged) "true" else "false", as.integer(model@k), seconds,
  R.version.string, as.character(packageVersion("flexmix")), paste(rows, collapse = ", "))
writeLines(json, args[5])
