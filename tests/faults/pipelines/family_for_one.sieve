# fault: a whole family where one instance is expected
pipeline p {
  stage i = model.init(arch = "nano")
  sweep s in [1, 2] {
    stage d = synth.arith(n = 10, seed = s)
  }
  stage t = sft(i, d)
}
