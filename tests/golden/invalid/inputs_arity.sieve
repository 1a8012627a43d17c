# Input binding: too many inputs, a missing input, an input that is not a stage
# reference, a kind that takes no inputs given one.
pipeline inputs_arity {
  stage pool  = synth.igsm(n = 1_000)
  stage init  = model.init(arch = "nano")
  stage tuned = sft(init, pool, pool, pool)
  stage acc   = evaluate(tuned)
  stage bad   = split(3)
  stage gen   = synth.igsm(pool, n = 10)
}
