# Bare words are symbols (the string of their name) where the parameter takes words:
# enum words (`style = compact`), constructors and their arguments (`by = length`, a call
# without arguments; `cot_length(words)`), tokenizer names, `select`'s band (any value),
# report axes and metrics. Elsewhere text is quoted (`stratify_by = "ops"`, list items of
# `stop`). A name that is a variable is the variable, not a symbol.
pipeline symbols {
  let difficulty = "ops"              # a variable: `column(difficulty)` is column("ops")

  stage pool   = synth.igsm(n = 1000, style = compact)
  stage held   = split(pool, mode = holdout, part = test, holdout = [10, 12])
  stage train_part = split(pool, mode = holdout, part = train, holdout = 10..12)
  stage by_col = score(train_part, by = column(difficulty), tokenizer = words)
  stage by_len = score(train_part, by = length)
  stage by_cot = score(train_part, by = cot_length(words))
  stage hardest_rows = select(by_col, budget = 100, band = hard, strategy = hardest)
  stage strat  = select(by_len, budget = 100, band = all, strategy = stratified, stratify_by = "ops")
  stage mixed  = select(by_cot, budget = 50, band = 0, edges = [0.0, 10.5, 100.0])
  stage init   = model.init(arch = nano, family = qwen2)
  stage tuned  = sft(init, hardest_rows, schedule = constant, loss = dft)
  stage acc    = evaluate(tuned, held, metric = last_number, stop = ["END", "\n"])
}
