# Several independent problems in one file: every one is reported, in one run.
pipeline many_errors {
  let seed = 7
  stage pool   = synth.igsm(n = 10_000, ops = 2..12, seed = sede)
  stage test   = synth.igsm(n = 500, seed = seed + one)
  stage init   = model.init(arch = "tiny", tokenizer = chars, famliy = llama)
  stage scored = score(pool, by = column("ops"))
  sweep budget in [256, 1024], band in ["easy", "hard"] {
    stage subset = select(pool, budget = budget, band = band)
    stage tuned  = sft(init, subset, epochs = "3")
    stage acc    = evaluate(tuned, test, metric = exact)
  }
  stage best   = evaluate(tuned[budget=4096], test)
  stage final  = sft(tuned, test)
  stage pool   = load(path = "pool.jsonl")
  stage chart  = heatmap(acc)
}
