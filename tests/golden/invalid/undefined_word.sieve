# A bare word is a variable unless the parameter takes words (enum words, constructors,
# tokenizer names, report axes and metrics). `slice_by` is a column name, a string, so
# `coll` next to `let col` is a typo, not the text "coll"; sweep lists and `stop`'s items
# are strings too. Enum words stay bare: `metric = exact_match`.
pipeline undefined_word {
  let col = "ops"
  stage pool = synth.igsm(n = 1_000)
  stage init = model.init(arch = nano)
  stage acc  = evaluate(init, pool, slice_by = coll, metric = exact_match, stop = [END])
  sweep band in [easy, "hard"] {
    stage part = split(pool, seed = 1)
  }
  stage late = synth.igsm(n = pool)
}
