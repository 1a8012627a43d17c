# A stage name used as a value. With stages named `train` and `test`, the natural
# `part = test` is read as the stage, not the symbol "test" (YAML's `part: test` is
# the string); arithmetic on a stage and a selector reference as a value fail too.
pipeline stage_as_value {
  stage pool  = synth.igsm(n = 1_000)
  stage train = split(pool, part = train)
  stage test  = split(pool, part = test)
  stage more  = synth.igsm(n = pool * 2)
  stage init  = model.init(arch = "nano")
  sweep lr in [1e-4, 3e-4] {
    stage tuned = sft(init, train, lr = lr)
  }
  stage acc = evaluate(init, test, stop = [tuned[lr=1e-4]])
}
