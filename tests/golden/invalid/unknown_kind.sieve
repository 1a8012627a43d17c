# Unknown stage kinds: two typos (with a "did you mean") and a name close to nothing.
pipeline unknown_kind {
  stage pool  = synth.igms(n = 1_000)
  stage init  = model.int(arch = "nano")
  stage tuned = sft(init, pool)
  stage acc   = evalute(tuned, pool)
  stage chart = plot.heatmap(acc)
}
