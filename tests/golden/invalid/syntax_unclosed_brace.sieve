# Syntax: the sweep's `}` is missing, so the pipeline block is never closed.
pipeline unclosed {
  stage pool = synth.igsm(n = 1_000)
  stage init = model.init(arch = "nano")

  sweep lr in [1e-4, 3e-4] {
    stage tuned = sft(init, pool, lr = lr)

  stage acc = evaluate(tuned[lr=1e-4], pool)
}
