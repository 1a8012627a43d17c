# Undefined stage references: a typo (with a "did you mean"), a variable used as an
# input, and a selector on an undefined stage.
pipeline undefined_stage {
  let steps = 100
  stage pool  = synth.igsm(n = 1_000)
  stage init  = model.init(arch = "nano")
  stage tuned = sft(init, poool)
  stage again = sft(init, steps)
  stage acc   = evaluate(tund[lr=1e-4], pool)
}
