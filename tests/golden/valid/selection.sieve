# Difficulty scores and selection strategies: model-based scores (a reference model as
# the optional second input), stored bands, explicit band edges, token budgets, and a
# sweep over selection strategies gathered into one dataset.
pipeline selection {
  let seed = 13
  stage pool = synth.igsm(n = 30_000, ops = 2..10, distractors = [0, 2])
  stage ref  = model.init(arch = "tiny")

  stage s_loss = score(pool, ref, by = loss)
  stage s_pass = score(pool, ref, by = pass_rate())
  stage s_ifd  = score(pool, ref, by = ifd)
  stage s_len  = score(pool, by = length(tokens), bands = 4)
  stage s_ops  = score(pool, by = column("ops"), bands = 5)

  stage banded = select(s_len, bands = 0, band = 3, budget = 1_000)
  stage edged  = select(s_ops, edges = [2.0, 4.0, 7.0, 10.0], band = 1, budget = 500, allow_short = true)
  stage by_tok = select(s_loss, token_budget = 200_000, band = all, strategy = easiest)

  sweep strategy in ["random", "easiest", "hardest", "stratified"] {
    stage pick = select(s_ifd, budget = 2_000, band = hard, strategy = strategy, nested = false)
  }
  stage picks = concat(pick, banded, edged, by_tok, label = true)
}
