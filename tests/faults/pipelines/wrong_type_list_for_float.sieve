# fault: a list where a float is expected
pipeline p {
  stage i = model.init(arch = "nano")
  stage d = synth.arith(n = 10)
  stage t = sft(i, d, lr = [1e-3, 1e-4])
}
