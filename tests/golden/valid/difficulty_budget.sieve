# The difficulty-vs-budget recipe: score a pool of iGSM problems by their number of
# operations, then for every (budget, band) cell select a subset, fine-tune a base model
# on it and evaluate on a fixed test set.
pipeline difficulty_budget {
  let seed = 7
  stage pool   = synth.igsm(n = 100_000, ops = 2..12, seed = seed)
  stage test   = synth.igsm(n = 2_000, ops = 2..12, seed = seed + 1)
  stage init   = model.init(arch = "tiny", tokenizer = "chars")
  stage pre    = synth.igsm(n = 50_000, ops = 2..6, seed = seed + 2)
  stage base   = sft(init, pre, steps = 3000)
  stage scored = score(pool, by = column("ops"))

  sweep budget in [256, 1024, 4096], band in ["easy", "medium", "hard"] {
    stage subset = select(scored, budget = budget, band = band, bands = 3, nested = true)
    stage tuned  = sft(base, subset, epochs = 3, lr = 3e-4)
    stage acc    = evaluate(tuned, test, metric = exact_match, slice_by = "ops")
  }
}
