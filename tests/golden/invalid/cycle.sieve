# Dependency cycles: three stages feeding each other, and a stage consuming itself.
pipeline cycle {
  stage init  = model.init(arch = "nano")
  stage pool  = synth.igsm(n = 1_000)
  stage a     = sft(c, pool)
  stage b     = sft(a, pool)
  stage c     = sft(b, pool)
  stage grow  = concat(pool, grow)
}
